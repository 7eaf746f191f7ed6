/*
 * senderpol.c - who may send to a group (see senderpol.h).
 *
 * Exports senderpol_check() and senderpol_parse_group().  Lookups only:
 * G (the group's addresses and policy), S (senders it lets send), D (a
 * sender domain's tenant).  Every buffer is bounded by MAP_KEY_MAX.
 */
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "map.h"
#include "senderpol.h"

#define VERDICT(r, v, w) ((r)->verdict = (v), (r)->why = (w), (v))

/* Printable ASCII without space: what a table field may put in a reply. */
static int
field_ok(const char *s, size_t n)
{
    size_t  i;

    if (n == 0)
	return (0);
    for (i = 0; i < n; i++)
	if ((unsigned char) s[i] <= 0x20 || (unsigned char) s[i] >= 0x7f)
	    return (0);
    return (1);
}

int
senderpol_parse_group(const char *v, size_t vlen, struct senderpol_result *res)
{
    const char *t1, *t2, *end = v + vlen;
    size_t  plen, glen, tlen;

    if ((t1 = memchr(v, '\t', vlen)) == NULL
	|| (t2 = memchr(t1 + 1, '\t', (size_t) (end - t1 - 1))) == NULL)
	return (-1);
    plen = (size_t) (t1 - v);
    glen = (size_t) (t2 - t1 - 1);
    tlen = (size_t) (end - t2 - 1);
    if (plen >= sizeof(res->policy) || glen >= sizeof(res->group)
	|| tlen >= sizeof(res->tenant) || !field_ok(t1 + 1, glen)
	|| !field_ok(t2 + 1, tlen) || memchr(t2 + 1, '\t', tlen) != NULL)
	return (-1);
    memcpy(res->policy, v, plen);
    res->policy[plen] = 0;
    if (strcmp(res->policy, "anyone") && strcmp(res->policy, "tenant")
	&& strcmp(res->policy, "members") && strcmp(res->policy, "listed"))
	return (-1);
    memcpy(res->group, t1 + 1, glen);
    res->group[glen] = 0;
    memcpy(res->tenant, t2 + 1, tlen);
    res->tenant[tlen] = 0;
    res->is_group = 1;
    return (0);
}

/*
 * Is S "group\tsender" there?  1 with *member set (value "member") or not
 * ("allowed"), 0 not, -1 error or an unknown value.
 */
static int
listed(struct map_gen *g, const char *group, const char *sender, size_t slen,
       int *member)
{
    char    k[MAP_KEY_MAX];
    size_t  glen = strlen(group);
    const char *v;
    size_t  vl;
    int     r;

    if (glen + 1 + slen > sizeof(k))
	return (0);				/* cannot be stored */
    memcpy(k, group, glen);
    k[glen] = '\t';
    memcpy(k + glen + 1, sender, slen);
    if ((r = map_gen_get(g, MAP_T_SENDER, k, glen + 1 + slen, &v, &vl)) <= 0)
	return (r);
    if (vl == 6 && memcmp(v, "member", 6) == 0)
	*member = 1;
    else if (vl == 7 && memcmp(v, "allowed", 7) == 0)
	*member = 0;
    else
	return (-1);
    return (1);
}

/* The tenant owning domain dom: 1 and tenant in out, 0 none, -1 error. */
static int
domain_tenant(struct map_gen *g, const char *dom, size_t dlen,
	      const char **t, size_t *tlen)
{
    const char *v, *tab;
    size_t  vl;
    int     r;

    if ((r = map_gen_get(g, MAP_T_DOMAIN, dom, dlen, &v, &vl)) <= 0)
	return (r);
    if ((tab = memchr(v, '\t', vl)) == NULL)
	return (-1);
    *t = v;
    *tlen = (size_t) (tab - v);
    return (1);
}

static const char *
rule_text(const char *policy)
{
    if (strcmp(policy, "tenant") == 0)
	return ("accepts mail only from senders of its own organisation");
    if (strcmp(policy, "members") == 0)
	return ("accepts mail only from its members");
    return ("accepts mail only from the senders listed for it");
}

enum senderpol_verdict
senderpol_check(struct map_gen *g, const char *rcpt, size_t rlen,
		const char *sender, size_t slen, const char *delims,
		struct senderpol_result *res)
{
    char    k[MAP_KEY_MAX], s[MAP_KEY_MAX], stripped[MAP_KEY_MAX];
    const char *v, *dom, *tn;
    size_t  vl, kl, sl, domlen, tl;
    int     r, member, members, i;

    memset(res, 0, sizeof(*res));
    if (g == NULL) {
	snprintf(res->text, sizeof(res->text), "no routing table loaded");
	return (VERDICT(res, SENDERPOL_TEMP, "no tables"));
    }
    if (rlen == 0 || rlen >= sizeof(k))
	return (VERDICT(res, SENDERPOL_DUNNO, "not a group"));
    memcpy(k, rcpt, rlen);
    addr_fold(k, rlen);
    r = map_gen_get(g, MAP_T_GROUP, k, rlen, &v, &vl);
    if (r == 0 && addr_strip_ext(k, rlen, delims, stripped, sizeof(stripped),
				 &kl) == 1)
	r = map_gen_get(g, MAP_T_GROUP, stripped, kl, &v, &vl);
    if (r < 0) {
	snprintf(res->text, sizeof(res->text), "routing table lookup error");
	return (VERDICT(res, SENDERPOL_TEMP, "lookup error"));
    }
    if (r == 0)
	return (VERDICT(res, SENDERPOL_DUNNO, "not a group"));
    if (senderpol_parse_group(v, vl, res) < 0) {
	memset(res, 0, sizeof(*res));
	res->is_group = 1;
	snprintf(res->text, sizeof(res->text), "unreadable group record");
	return (VERDICT(res, SENDERPOL_TEMP, "unreadable group record"));
    }
    if (strcmp(res->policy, "anyone") == 0)
	return (VERDICT(res, SENDERPOL_DUNNO, "anyone may send"));

    if (slen == 0) {
	snprintf(res->text, sizeof(res->text), "group <%s> %s; it takes no"
		 " mail from the null sender (bounces, auto-replies)",
		 res->group, rule_text(res->policy));
	return (VERDICT(res, SENDERPOL_REJECT, "null sender"));
    }
    members = strcmp(res->policy, "members") == 0;
    if (slen < sizeof(s) && addr_domain(sender, slen, &dom, &domlen) == 0
	&& domlen > 0 && dom > sender + 1) {
	memcpy(s, sender, slen);
	addr_fold(s, slen);
	dom = s + (dom - sender);
	/* The sender itself, then without extension, then its domain. */
	for (i = 0; i < 3; i++) {
	    const char *key = s;
	    size_t  klen = slen;

	    if (i == 1) {
		if (addr_strip_ext(s, slen, delims, stripped, sizeof(stripped),
				   &sl) != 1)
		    continue;
		key = stripped;
		klen = sl;
	    } else if (i == 2) {
		key = dom - 1;		/* "@domain" */
		klen = domlen + 1;
	    }
	    member = 0;
	    if ((r = listed(g, res->group, key, klen, &member)) < 0) {
		snprintf(res->text, sizeof(res->text), "sender list of group"
			 " <%s> unreadable", res->group);
		return (VERDICT(res, SENDERPOL_TEMP, "lookup error"));
	    }
	    if (r > 0 && !member)
		return (VERDICT(res, SENDERPOL_DUNNO, i == 2 ?
				"sender's domain is allowed" :
				"sender is allowed"));
	    if (r > 0 && members)
		return (VERDICT(res, SENDERPOL_DUNNO, "sender is a member"));
	}
	if (strcmp(res->policy, "tenant") == 0) {
	    r = domain_tenant(g, dom, domlen, &tn, &tl);
	    if (r < 0) {
		snprintf(res->text, sizeof(res->text), "routing table lookup"
			 " error");
		return (VERDICT(res, SENDERPOL_TEMP, "lookup error"));
	    }
	    if (r > 0 && tl == strlen(res->tenant)
		&& memcmp(tn, res->tenant, tl) == 0)
		return (VERDICT(res, SENDERPOL_DUNNO,
				"sender's domain belongs to the group's tenant"));
	}
    }
    snprintf(res->text, sizeof(res->text), "group <%s> %s", res->group,
	     rule_text(res->policy));
    return (VERDICT(res, SENDERPOL_REJECT, members ? "sender is not a member"
		    : strcmp(res->policy, "tenant") == 0 ?
		    "sender is outside the group's organisation" :
		    "sender is not listed"));
}
