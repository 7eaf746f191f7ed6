/*
 * main.c - ldapsync: compiles the LDAP meta-directory into fwdmap
 *	    routing tables (see ldapsync(8)).
 *
 * SYNOPSIS
 *	ldapsync [-c FILE] [--once [--dry-run]] [--force] [--check] [-v] [-s]
 *
 * DESCRIPTION
 *	--check		validate the configuration and exit.
 *	--once		one full sync (paged search), publish, exit.
 *	--dry-run	with --once: print what would change, publish nothing.
 *	--force		let the next publish pass the mass-removal guard.
 *	default		run continuously: RFC 4533 refreshAndPersist per
 *			tenant (fall back to periodic full syncs without
 *			syncprov), batching changes into small deltas.
 *
 * EXIT STATUS
 *	0 success, 1 error (nothing published), 2 usage, 3 refused by a
 *	safety guard (nothing published).
 *
 *	This file parses the options, checks the configuration, reads the
 *	bind secret, drops privileges and takes the maps_dir lock; the sync
 *	loops themselves are daemon.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "daemon.h"
#include "ldap_conn.h"
#include "listen.h"
#include "log.h"
#include "lsmetrics.h"
#include "priv.h"
#include "publish.h"

static void
usage(void)
{
    fprintf(stderr, "usage: ldapsync [-c FILE] [--once [--dry-run]] [--force] [--check] [-v] [-s]\n");
    exit(2);
}

/* ---- --check ---- */

static int
check_config(const struct conf *c)
{
    struct stat sb;
    int     ok = 1;
    char    e[512];

    if (c->ldap.bind_password_file && access(c->ldap.bind_password_file, R_OK) < 0) {
	log_error("%s: ldap.bind_password_file %s: %s", c->path,
		  c->ldap.bind_password_file, strerror(errno));
	ok = 0;
    }
    if (c->ldap.ca_file && access(c->ldap.ca_file, R_OK) < 0) {
	log_error("%s: ldap.ca_file %s: %s", c->path, c->ldap.ca_file, strerror(errno));
	ok = 0;
    }
    if (stat(c->maps_dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
	log_error("%s: maps_dir %s is not a directory", c->path, c->maps_dir);
	ok = 0;
    }
    if (stat(c->ldapsync.state_dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
	log_error("%s: ldapsync.state_dir %s is not a directory", c->path,
		  c->ldapsync.state_dir);
	ok = 0;
    }
    if (c->ldapsync.metrics_listen
	&& listen_resolve(c->ldapsync.metrics_listen, e, sizeof(e)) < 0) {
	log_error("%s: ldapsync.metrics_listen: %s", c->path, e);
	ok = 0;
    }
    if (c->ldapsync.user && getpwnam(c->ldapsync.user) == NULL) {
	log_error("%s: ldapsync.user %s: no such user", c->path, c->ldapsync.user);
	ok = 0;
    }
    return (ok);
}

/* ---- one publisher per maps_dir ---- */

#define LOCK_FILE	"ldapsync.lock"

/*
 * An exclusive flock on MAPS_DIR/ldapsync.lock, held (open descriptor,
 * never closed) for the life of the process; the file holds the pid.  Two
 * writers would interleave serials and remove each other's files.  The
 * lock goes with the process however it ends; the file stays.
 */
static int
take_lock(const struct conf *c)
{
    char    path[4096], buf[32];
    int     fd;
    ssize_t n;

    snprintf(path, sizeof(path), "%s/%s", c->maps_dir, LOCK_FILE);
    /* A file left by another user (--once as root) can be locked read-only. */
    if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0
	&& (errno != EACCES || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)) {
	log_error("open %s: %s", path, strerror(errno));
	return (-1);
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
	if (errno == EWOULDBLOCK) {
	    long    pid = 0;

	    if ((n = pread(fd, buf, sizeof(buf) - 1, 0)) > 0) {
		buf[n] = 0;
		pid = strtol(buf, NULL, 10);
	    }
	    if (pid > 0)
		log_error("another ldapsync is publishing to %s (pid %ld)", c->maps_dir, pid);
	    else
		log_error("another ldapsync is publishing to %s (pid unknown)", c->maps_dir);
	} else
	    log_error("lock %s: %s", path, strerror(errno));
	close(fd);
	return (-1);
    }
    n = snprintf(buf, sizeof(buf), "%ld\n", (long) getpid());
    if ((fcntl(fd, F_GETFL) & O_ACCMODE) != O_RDWR)
	log_warn("%s is not writable: locked, but the pid in it is not ours", path);
    else if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t) n, 0) != n)
	log_warn_errno("write %s", path);
    return (0);			/* fd stays open: the lock */
}

/* Run as ldapsync.user when started as root (priv.c: every step checked);
 * started as another user, stay that user. */
static int
drop_privileges(const char *user)
{
    struct priv p;
    char    err[512];

    if (geteuid() != 0)
	return (0);
    if (priv_lookup(user, NULL, &p, err, sizeof(err)) < 0
	|| priv_drop(&p, err, sizeof(err)) < 0) {
	log_error("ldapsync.user %s: %s", user, err);
	return (-1);
    }
    return (0);
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
	{"config", required_argument, NULL, 'c'},
	{"once", no_argument, NULL, 'o'},
	{"dry-run", no_argument, NULL, 'n'},
	{"force", no_argument, NULL, 'f'},
	{"check", no_argument, NULL, 'C'},
	{"verbose", no_argument, NULL, 'v'},
	{"syslog", no_argument, NULL, 's'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0}
    };
    const char *path = CONF_DEFAULT_PATH;
    int     once = 0, dry = 0, force = 0, check = 0, use_syslog = 0, ch, ret;
    struct conf *c;
    char    err[1024];

    while ((ch = getopt_long(argc, argv, "c:vsh", opts, NULL)) != -1) {
	switch (ch) {
	case 'c':
	    path = optarg;
	    break;
	case 'o':
	    once = 1;
	    break;
	case 'n':
	    dry = 1;
	    break;
	case 'f':
	    force = 1;
	    break;
	case 'C':
	    check = 1;
	    break;
	case 'v':
	    log_verbose++;
	    break;
	case 's':
	    use_syslog = 1;
	    break;
	default:
	    usage();
	}
    }
    if (optind != argc)
	usage();
    if (dry)
	once = 1;		/* --dry-run is always a single full sync */
    log_init("ldapsync", use_syslog);
    if ((c = conf_load(path, err, sizeof(err))) == NULL) {
	log_error("%s", err);
	return (1);
    }
    if (check) {
	ret = check_config(c) ? 0 : 1;
	if (ret == 0)
	    printf("%s: configuration OK\n", path);
	conf_free(c);
	return (ret);
    }
    /* As root with ldapsync.user: read the (root-only) secret first. */
    if (c->ldapsync.user && geteuid() == 0
	&& lc_keep_secret(c, err, sizeof(err)) < 0) {
	log_error("%s", err);
	conf_free(c);
	return (1);
    }
    /* The metrics socket, like the secret, before the privileges go. */
    if (!once && lsm_bind(c, err, sizeof(err)) < 0) {
	log_error("%s", err);
	conf_free(c);
	return (1);
    }
    if (c->ldapsync.user && drop_privileges(c->ldapsync.user) < 0) {
	conf_free(c);
	return (1);
    }
    daemon_catch_signals();
    if (!dry) {
	if (take_lock(c) < 0) {
	    conf_free(c);
	    return (1);
	}
	pub_remove_stale(c, 1);	/* what an ldapsync killed while writing left */
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);	/* no reload: configuration changes need a restart */
    if (once)
	ret = daemon_full_once(c, dry, force, 1);
    else if (lsm_start(err, sizeof(err)) < 0) {
	log_error("%s", err);
	ret = 1;
    } else {
	if (c->ldapsync.metrics_listen)
	    log_info("metrics at http://%s/metrics", c->ldapsync.metrics_listen + 5);
	ret = daemon_run(c, force);
	lsm_stop();
    }
    conf_free(c);
    return (ret);
}
