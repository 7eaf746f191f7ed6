/*
 * senderpol.h - who may send to a group: the decision behind fwdmapd's
 *		 policy service, shared with fwdmap explain.
 *
 * NAME
 *	senderpol - judge one (recipient, envelope sender) pair against the
 *		    group tables G and S of a generation
 *
 * SYNOPSIS
 *	#include "senderpol.h"
 *
 *	int	senderpol_check(struct map_gen *g, const char *rcpt,
 *				size_t rlen, const char *sender, size_t slen,
 *				const char *delims,
 *				struct senderpol_result *res);
 *
 * DESCRIPTION
 *	senderpol_check() decides whether mail from sender (the envelope
 *	sender as given in MAIL FROM, without angle brackets; slen 0 is the
 *	null sender <>) may go to rcpt, a recipient address as given in RCPT
 *	TO.  Only groups restrict senders; the decision is taken for the
 *	address named at RCPT (a group nested in another receives whatever
 *	its parent accepted, as any member does).
 *
 *	The recipient is case-folded and looked up in G, exactly and then
 *	without its recipient delimiter extension (delims).  Not a group:
 *	SENDERPOL_DUNNO.  A group's value is "policy\tprimary\ttenant":
 *
 *	anyone	 every sender may send (SENDERPOL_DUNNO).
 *	tenant	 the sender's domain is a domain (D record) of the group's
 *		 tenant, or the sender is listed as allowed.
 *	members	 the sender is listed as a member or as allowed.
 *	listed	 the sender is listed as allowed.
 *
 *	"Listed" means an S record "primary\tsender" for the sender case-
 *	folded (exactly, then without its extension), or for "@domain" of
 *	its domain; its value says why: "allowed" counts under every policy,
 *	"member" only under "members".
 *
 *	The null sender (bounces, delivery reports, auto-replies) is refused
 *	by every restricted group: no member sends from it, nothing a group
 *	sends out comes back to the group's address, and accepting it would
 *	let anyone past the policy with MAIL FROM:<>.  A sender without '@'
 *	or longer than any address can be is listed nowhere.
 *
 *	res is filled in every case: verdict, is_group, group (the primary
 *	address), policy, tenant, why (a static phrase: which rule let the
 *	sender through, or why it was refused) and text (the human-readable
 *	reason for a reply: for REJECT it names the group and its rule; for
 *	TEMP what is wrong).  Nothing in text comes from the sender; what
 *	comes from the tables is checked to be printable.
 *
 * DIAGNOSTICS
 *	Returns res->verdict.  SENDERPOL_TEMP when g is NULL, a lookup fails
 *	or a record cannot be read (never a silent DUNNO when unsure).
 *	Nothing is printed.
 */
#ifndef FWDMAP_SENDERPOL_H
#define FWDMAP_SENDERPOL_H

#include <stddef.h>

#include "addr.h"
#include "map.h"

enum senderpol_verdict {
    SENDERPOL_DUNNO = 0,		/* not a restricted group, or allowed */
    SENDERPOL_REJECT = 1,		/* the group's policy refuses the sender */
    SENDERPOL_TEMP = 2			/* cannot tell now */
};

#define SENDERPOL_TENANT_MAX	128

struct senderpol_result {
    enum senderpol_verdict verdict;
    int     is_group;
    char    group[ADDR_MAX + 1];		/* primary address, "" if none */
    char    policy[16];			/* "anyone", "tenant", ... */
    char    tenant[SENDERPOL_TENANT_MAX];
    const char *why;			/* static phrase */
    char    text[512];
};

enum senderpol_verdict senderpol_check(struct map_gen *g, const char *rcpt,
				       size_t rlen, const char *sender,
				       size_t slen, const char *delims,
				       struct senderpol_result *res);

/* Parse a G value "policy\tprimary\ttenant" into res (policy, group,
 * tenant, is_group); 0, or -1 when it is not well-formed. */
int	senderpol_parse_group(const char *v, size_t vlen,
			      struct senderpol_result *res);

#endif
