/*
 * priv.h - look up and drop privileges.
 *
 * NAME
 *	priv - run as an unprivileged user after binding (fwdmapd,
 *	ldapsync)
 *
 * SYNOPSIS
 *	#include "priv.h"
 *
 *	int	priv_lookup(const char *user, const char *group,
 *			    struct priv *p, char *err, size_t errlen);
 *	int	priv_drop(const struct priv *p, char *err, size_t errlen);
 *
 * DESCRIPTION
 *	priv_lookup() resolves the configured user (NULL: stay who we are)
 *	and socket group (NULL: leave the socket's group alone).
 *
 *	priv_drop() switches to p's user for good: supplementary groups
 *	from the group database (initgroups), then real, effective and saved
 *	group and user ids, each step checked; then it verifies that the ids
 *	are what was asked for and that root cannot be regained.  Without a
 *	user it does nothing.  A process that is not root can only "switch"
 *	to the user it already is.
 *
 *	Both daemons drop privileges with these two calls, once, right
 *	after opening what needs root (fwdmapd: its sockets; ldapsync: the
 *	bind password file).  Nothing here prints or exits.
 *
 * DIAGNOSTICS
 *	-1 with a message in err.
 */
#ifndef FWDMAP_PRIV_H
#define FWDMAP_PRIV_H

#include <stddef.h>
#include <sys/types.h>

struct priv {
    int     has_user;
    char    user[256];
    uid_t   uid;
    gid_t   gid;
    int     has_group;
    gid_t   sock_gid;
};

int	priv_lookup(const char *user, const char *group, struct priv *p,
		    char *err, size_t errlen);
int	priv_drop(const struct priv *p, char *err, size_t errlen);

#endif
