/*
 * main.c - fwdmapd, the socketmap daemon that serves the fwdmap tables
 *	    to Postfix (see fwdmapd(8)).
 *
 * SYNOPSIS
 *	fwdmapd [-c FILE] [-f] [-d] [-t | -S]
 *
 * DESCRIPTION
 *	Start-up order: read and check the configuration, bind the sockets
 *	as root (mode, owner, group), drop to the configured user in one
 *	checked step, prove that user can still read maps_dir, then serve
 *	(server.c) until SIGTERM.  -t checks the configuration and exits;
 *	-S prints the running daemon's statistics (JSON) and exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "conf.h"
#include "listen.h"
#include "log.h"
#include "map.h"
#include "metrics.h"
#include "metrics_http.h"
#include "priv.h"
#include "server.h"
#include "stats.h"
#include "srs.h"
#include "srs_query.h"

static void
usage(void)
{
    fprintf(stderr,
	    "usage: fwdmapd [-c FILE] [-f] [-d] [-t | -S]\n"
	    "  -c FILE  configuration file (default " CONF_DEFAULT_PATH ")\n"
	    "  -f       log to stderr instead of syslog (mail facility)\n"
	    "  -d       debug logging (implies -f); repeat for more\n"
	    "  -t       check the configuration and exit\n"
	    "  -S       print the running daemon's statistics as JSON\n");
    exit(2);
}

/* Check what conf_load() cannot know: endpoints, user and group. */
static int
check_conf(const struct conf *c, struct priv *p, char *err, size_t errlen)
{
    char    e[512];
    struct stat st;

    if (listen_check(c->fwdmapd.listen, e, sizeof(e)) < 0) {
	snprintf(err, errlen, "%s: fwdmapd.listen: %s", c->path, e);
	return (-1);
    }
    if (c->fwdmapd.policy_listen
	&& listen_check(c->fwdmapd.policy_listen, e, sizeof(e)) < 0) {
	snprintf(err, errlen, "%s: fwdmapd.policy_listen: %s", c->path, e);
	return (-1);
    }
    if (c->fwdmapd.metrics_listen
	&& listen_resolve(c->fwdmapd.metrics_listen, e, sizeof(e)) < 0) {
	snprintf(err, errlen, "%s: fwdmapd.metrics_listen: %s", c->path, e);
	return (-1);
    }
    if (priv_lookup(c->fwdmapd.user, c->fwdmapd.socket_group, p, e,
		    sizeof(e)) < 0) {
	snprintf(err, errlen, "%s: fwdmapd: %s", c->path, e);
	return (-1);
    }
    if (stat(c->maps_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
	snprintf(err, errlen, "%s: maps_dir %s: %s", c->path, c->maps_dir,
		 errno ? strerror(errno) : "not a directory");
	return (-1);
    }
    return (0);
}

/*
 * The SRS secrets, read while still privileged.  The file must belong to
 * root or to the user fwdmapd runs as; only the latter can be re-read on
 * SIGHUP, so a root-owned one gets a warning.
 */
static struct srs *
open_srs(const struct conf *c, const struct priv *p, char *err, size_t errlen)
{
    struct srs *s;
    struct stat st;
    uid_t   owner = p->has_user ? p->uid : geteuid();

    if ((s = srs_query_open(c, owner, err, errlen)) == NULL)
	return (NULL);
    if (stat(c->srs.secrets_file, &st) == 0 && st.st_uid != owner)
	log_warn("srs.secrets_file %s belongs to uid %ld, not to uid %ld that"
		 " fwdmapd runs as: it cannot be re-read on SIGHUP (chown it"
		 " to fwdmapd.user, mode 0600)", c->srs.secrets_file,
		 (long) st.st_uid, (long) owner);
    return (s);
}

/* -t: check and report. */
static int
do_test(struct conf *c)
{
    struct srs *srs;
    struct priv p;
    struct map_gen *g = NULL;
    char    err[1024];

    if (check_conf(c, &p, err, sizeof(err)) < 0) {
	fprintf(stderr, "fwdmapd: %s\n", err);
	return (1);
    }
    if ((srs = open_srs(c, &p, err, sizeof(err))) == NULL && err[0]) {
	fprintf(stderr, "fwdmapd: %s: %s\n", c->path, err);
	return (1);
    }
    printf("fwdmapd: configuration %s OK: listen %s, maps_dir %s\n",
	   c->path, c->fwdmapd.listen, c->maps_dir);
    if (c->fwdmapd.policy_listen)
	printf("fwdmapd: policy service on %s (check_policy_service %s in"
	       " smtpd_recipient_restrictions)\n", c->fwdmapd.policy_listen,
	       c->fwdmapd.policy_listen);
    else
	printf("fwdmapd: no policy service (fwdmapd.policy_listen not set):"
	       " group sender policies are not enforced\n");
    if (c->fwdmapd.metrics_listen)
	printf("fwdmapd: metrics at http://%s/metrics\n",
	       c->fwdmapd.metrics_listen + 5);
    if (srs)
	printf("fwdmapd: SRS domain %s, %zu secret(s) in %s\n", srs_domain(srs),
	       srs_nsecrets(srs), c->srs.secrets_file);
    srs_free(srs);
    if (map_gen_open(c->maps_dir, &g, err, sizeof(err)) < 0) {
	printf("fwdmapd: no valid generation loaded now (%s): lookups would"
	       " answer TEMP\n", err);
    } else {
	printf("fwdmapd: generation serial %llu%s\n",
	       (unsigned long long) map_gen_meta(g)->serial,
	       map_gen_delta_meta(g) ? " with delta" : "");
	map_gen_close(g);
    }
    return (0);
}

/* -S: ask the running daemon. */
static int
do_stats(const struct conf *c)
{
    struct sockaddr_un sun;
    int     fd;
    char    buf[8192];
    ssize_t n;

    if (c->fwdmapd.control == NULL) {
	fprintf(stderr, "fwdmapd: %s: no fwdmapd.control socket configured\n",
		c->path);
	return (1);
    }
    if (strlen(c->fwdmapd.control) >= sizeof(sun.sun_path)) {
	fprintf(stderr, "fwdmapd: control path too long\n");
	return (1);
    }
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    strcpy(sun.sun_path, c->fwdmapd.control);
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0
	|| connect(fd, (struct sockaddr *) &sun, sizeof(sun)) < 0) {
	fprintf(stderr, "fwdmapd: connect %s: %s (is fwdmapd running?)\n",
		c->fwdmapd.control, strerror(errno));
	return (1);
    }
    while ((n = read(fd, buf, sizeof(buf))) > 0)
	if (fwrite(buf, 1, (size_t) n, stdout) != (size_t) n)
	    break;
    close(fd);
    if (n < 0 || fflush(stdout) != 0) {
	fprintf(stderr, "fwdmapd: reading statistics: %s\n", strerror(errno));
	return (1);
    }
    return (0);
}

/* Enough descriptors for max_connections plus some spare. */
static void
raise_nofile(int max_connections)
{
    struct rlimit rl;
    rlim_t  want = (rlim_t) max_connections + 64;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
	return;
    if (rl.rlim_max < want && geteuid() == 0)
	rl.rlim_max = want;
    rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < want)
	log_warn("open file limit %llu is below max_connections + 64 = %llu:"
		 " connections beyond it are refused",
		 (unsigned long long) rl.rlim_cur, (unsigned long long) want);
}

/* After the switch: can this user still read the tables? */
static void
check_maps_dir(const struct conf *c)
{
    char    path[4096];
    int     fd;

    if ((fd = open(c->maps_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
	log_fatal_errno("cannot open maps_dir %s as uid %ld", c->maps_dir,
			(long) getuid());
    close(fd);
    snprintf(path, sizeof(path), "%s/%s", c->maps_dir, MAP_BASE_NAME);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
	if (errno != ENOENT)
	    log_fatal_errno("cannot read %s as uid %ld", path, (long) getuid());
    } else {
	close(fd);
    }
}

int
main(int argc, char **argv)
{
    const char *path = CONF_DEFAULT_PATH;
    int     ch, foreground = 0, test = 0, stats = 0, debug = 0;
    struct conf *c;
    struct priv p;
    char    err[1024];
    int     fds[16], n, np = 0, i, sigfd, rc;
    int     mfds[MHTTP_MAX_SOCKETS], nm = 0;
    sigset_t set;
    struct server *s;
    struct metrics_snap snap;
    struct mhttp *http = NULL;
    struct srs *srs;

    while ((ch = getopt(argc, argv, "c:dfhtS")) != -1) {
	switch (ch) {
	case 'c':
	    path = optarg;
	    break;
	case 'd':
	    debug++;
	    foreground = 1;
	    break;
	case 'f':
	    foreground = 1;
	    break;
	case 't':
	    test = 1;
	    break;
	case 'S':
	    stats = 1;
	    break;
	default:
	    usage();
	}
    }
    if (optind != argc || (test && stats))
	usage();
    log_init(argv[0], !(foreground || test || stats));
    log_verbose = debug;

    if ((c = conf_load(path, err, sizeof(err))) == NULL) {
	if (test || stats) {
	    fprintf(stderr, "fwdmapd: %s\n", err);
	    return (1);
	}
	log_fatal("%s", err);
    }
    if (test) {
	rc = do_test(c);
	conf_free(c);
	return (rc);
    }
    if (stats) {
	rc = do_stats(c);
	conf_free(c);
	return (rc);
    }
    if (check_conf(c, &p, err, sizeof(err)) < 0)
	log_fatal("%s", err);
    if (p.has_user && p.uid == 0)
	log_warn("fwdmapd.user \"%s\" is root: not dropping privileges",
		 p.user);

    /* Signals arrive through a signalfd, in the event loop. */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
	log_fatal_errno("sigprocmask");
    if ((sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
	log_fatal_errno("signalfd");
    raise_nofile(c->fwdmapd.max_connections);

    /* Privileged part: bind, set mode and ownership. */
    n = listen_open(c->fwdmapd.listen, c->fwdmapd.socket_mode,
		    p.has_user ? p.uid : (uid_t) -1,
		    p.has_group ? p.sock_gid : (gid_t) -1,
		    fds, 8, err, sizeof(err));
    if (n < 0)
	log_fatal("fwdmapd.listen: %s", err);
    /* The policy socket: for the same Postfix, so the same mode and group. */
    if (c->fwdmapd.policy_listen) {
	np = listen_open(c->fwdmapd.policy_listen, c->fwdmapd.socket_mode,
			 p.has_user ? p.uid : (uid_t) -1,
			 p.has_group ? p.sock_gid : (gid_t) -1,
			 fds + n, 7, err, sizeof(err));
	if (np < 0)
	    log_fatal("fwdmapd.policy_listen: %s", err);
    }
    if (c->fwdmapd.control) {
	char    spec[4096];

	snprintf(spec, sizeof(spec), "unix:%s", c->fwdmapd.control);
	if (listen_open(spec, 0600, p.has_user ? p.uid : (uid_t) -1,
			(gid_t) -1, fds + n + np, 1, err, sizeof(err)) < 0)
	    log_fatal("fwdmapd.control: %s", err);
    }
    if (c->fwdmapd.metrics_listen
	&& (nm = listen_open(c->fwdmapd.metrics_listen, 0, (uid_t) -1,
			     (gid_t) -1, mfds, MHTTP_MAX_SOCKETS, err,
			     sizeof(err))) < 0)
	log_fatal("fwdmapd.metrics_listen: %s", err);
    if ((srs = open_srs(c, &p, err, sizeof(err))) == NULL && err[0])
	log_fatal("%s: %s", c->path, err);
    if (priv_drop(&p, err, sizeof(err)) < 0)
	log_fatal("%s", err);
    check_maps_dir(c);

    if ((s = server_create(c, sigfd, err, sizeof(err))) == NULL)
	log_fatal("%s", err);
    server_set_srs(s, srs);
    if (srs)
	log_info("SRS domain %s, %zu secret(s) read from %s (the first signs)",
		 srs_domain(srs), srs_nsecrets(srs), c->srs.secrets_file);
    for (i = 0; i < n; i++)
	if (server_add_listener(s, fds[i], SERVER_L_SOCKETMAP) < 0)
	    log_fatal_errno("listener");
    for (i = n; i < n + np; i++)
	if (server_add_listener(s, fds[i], SERVER_L_POLICY) < 0)
	    log_fatal_errno("policy listener");
    if (c->fwdmapd.control
	&& server_add_listener(s, fds[n + np], SERVER_L_CONTROL) < 0)
	log_fatal_errno("control listener");
    if (nm > 0) {
	/* HTTP threads start only now, after the privileges are gone. */
	if (metrics_snap_init(&snap, stats_snap_size()) < 0)
	    log_fatal("fwdmapd.metrics_listen: out of memory");
	server_set_metrics(s, &snap);
	if ((http = mhttp_start(mfds, nm, stats_render, &snap, err,
				sizeof(err))) == NULL)
	    log_fatal("fwdmapd.metrics_listen: %s", err);
	log_info("metrics at http://%s/metrics", c->fwdmapd.metrics_listen + 5);
    }
    log_info("listening on %s%s%s%s%s as uid %ld, maps_dir %s",
	     c->fwdmapd.listen,
	     c->fwdmapd.policy_listen ? ", policy " : "",
	     c->fwdmapd.policy_listen ? c->fwdmapd.policy_listen : "",
	     c->fwdmapd.control ? ", control " : "",
	     c->fwdmapd.control ? c->fwdmapd.control : "", (long) getuid(),
	     c->maps_dir);
    rc = server_run(s);
    if (http) {
	mhttp_stop(http);
	metrics_snap_free(&snap);
    }
    server_free(s);
    return (rc < 0 ? 1 : 0);
}
