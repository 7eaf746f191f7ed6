/*
 * priv.c - the privilege drop of both daemons (see priv.h).
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "priv.h"

int
priv_lookup(const char *user, const char *group, struct priv *p, char *err,
	    size_t errlen)
{
    struct passwd *pw;
    struct group *gr;

    memset(p, 0, sizeof(*p));
    if (user) {
	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
	    snprintf(err, errlen, "user \"%s\" not found%s%s", user,
		     errno ? ": " : "", errno ? strerror(errno) : "");
	    return (-1);
	}
	if (strlen(user) >= sizeof(p->user)) {
	    snprintf(err, errlen, "user name too long");
	    return (-1);
	}
	p->has_user = 1;
	strcpy(p->user, user);
	p->uid = pw->pw_uid;
	p->gid = pw->pw_gid;
    }
    if (group) {
	errno = 0;
	if ((gr = getgrnam(group)) == NULL) {
	    snprintf(err, errlen, "group \"%s\" not found%s%s", group,
		     errno ? ": " : "", errno ? strerror(errno) : "");
	    return (-1);
	}
	p->has_group = 1;
	p->sock_gid = gr->gr_gid;
    }
    return (0);
}

int
priv_drop(const struct priv *p, char *err, size_t errlen)
{
    uid_t   ru, eu, su;
    gid_t   rg, eg, sg;

    if (!p->has_user)
	return (0);
    if (geteuid() != 0) {
	if (geteuid() == p->uid && getuid() == p->uid)
	    return (0);
	snprintf(err, errlen, "must be started as root to run as user \"%s\"",
		 p->user);
	return (-1);
    }
    if (initgroups(p->user, p->gid) < 0) {
	snprintf(err, errlen, "initgroups %s: %s", p->user, strerror(errno));
	return (-1);
    }
    if (setresgid(p->gid, p->gid, p->gid) < 0) {
	snprintf(err, errlen, "setresgid %ld: %s", (long) p->gid,
		 strerror(errno));
	return (-1);
    }
    if (setresuid(p->uid, p->uid, p->uid) < 0) {
	snprintf(err, errlen, "setresuid %ld: %s", (long) p->uid,
		 strerror(errno));
	return (-1);
    }
    if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0
	|| ru != p->uid || eu != p->uid || su != p->uid
	|| rg != p->gid || eg != p->gid || sg != p->gid) {
	snprintf(err, errlen, "ids are not %ld:%ld after the switch",
		 (long) p->uid, (long) p->gid);
	return (-1);
    }
    if (p->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
	snprintf(err, errlen, "could regain root after dropping privileges");
	return (-1);
    }
    return (0);
}
