/*
 * postconf.h - the Postfix settings a fwdmap forwarder needs (fwdmap postconf).
 *
 * NAME
 *	postconf - main.cf parameters and master.cf services for a configuration
 *
 * SYNOPSIS
 *	struct pc *pc_build(const struct conf *c);
 *	int	pc_print_main(const struct pc *p, FILE *out);
 *	int	pc_print_master(const struct pc *p, FILE *out);
 *	void	pc_free(struct pc *p);
 *
 * DESCRIPTION
 *	pc_build() runs every feature function of postconf.c over the
 *	configuration and collects main.cf parameters (name, value, the
 *	feature that set it) and master.cf entries.  A feature may set a
 *	parameter (the last setting wins, in the position of the first) or
 *	add an item to a comma-separated list parameter such as
 *	smtpd_recipient_restrictions (pc_list_add, optionally before a given
 *	item).  pc_print_main() prints "name = value" lines, grouped under a
 *	"# fwdmap: FEATURE" comment per feature; pc_print_master() prints
 *	master.cf entries in master.cf syntax.  Both return 0, or -1 when
 *	writing failed.
 *
 * DIAGNOSTICS
 *	pc_build() returns NULL when out of memory.  Nothing here exits.
 */
#ifndef FWDMAP_POSTCONF_H
#define FWDMAP_POSTCONF_H

#include <stdio.h>

#include "conf.h"

struct pc;

struct pc *pc_build(const struct conf *c);
int	pc_print_main(const struct pc *p, FILE *out);
int	pc_print_master(const struct pc *p, FILE *out);
void	pc_free(struct pc *p);

#endif
