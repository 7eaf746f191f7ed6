/*
 * fwdmap/main.c - fwdmap, the administrator's tool for compiled routing tables.
 *
 * SYNOPSIS
 *	fwdmap [-c FILE] [-d DIR] compile [-s SERIAL] [-b BASE_SERIAL] [INPUT]
 *	fwdmap [-c FILE] [-d DIR] [-D DELIMS] query MAP KEY...
 *	fwdmap [-c FILE] [-d DIR] [-D DELIMS] explain [-j | --dot] [-a]
 *		[-m MEMBER] [-s SENDER] ADDRESS...
 *	fwdmap [-c FILE] [-d DIR] dump
 *	fwdmap [-c FILE] [-d DIR] info
 *	fwdmap [-c FILE] postconf [-c FILE] [-M]
 *
 * DESCRIPTION
 *	compile reads records in text form (see below) from INPUT or stdin and
 *	publishes them atomically as DIR/fwdmap.cdb, or, with -b, as the delta
 *	DIR/fwdmap.delta.cdb over the base with serial BASE_SERIAL.  Input
 *	lines, fields separated by white space, '#' starts a comment:
 *
 *	    D domain tenant reject|route [default_route]
 *	    R address tenant
 *	    V address expansion,...
 *	    T address transport
 *	    P address {provenance JSON}	(rest of the line)
 *	    X address {rejection JSON}	(rest of the line)
 *	    G address anyone|tenant|members|listed primary tenant
 *	    S primary sender member|allowed	(sender: address or @domain)
 *	    -TAG key			(delta only: deleted since the base;
 *					 -S primary sender)
 *
 *	query answers like fwdmapd would (OK value, NOTFOUND, TEMP, PERM) for
 *	map domains, recipients, virtual or transport, and with an srs
 *	section srs_forward and srs_reverse (the secrets file must be
 *	readable: root or fwdmapd.user).  explain tells for an
 *	address what the published tables do with it and why.  dump prints
 *	every record in compile's input form; info prints the metadata.
 *	postconf prints the Postfix main.cf parameters for the configuration
 *	(with -M the master.cf services instead; see postconf.c).
 *
 *	The maps directory and the recipient delimiter come from the
 *	configuration file (-c, default /etc/fwdmap/fwdmap.json) unless -d and
 *	-D are given.
 *
 * EXIT STATUS
 *	0 success (query: every key found), 1 not found, 2 temporary error
 *	or usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include <jansson.h>

#include "addr.h"
#include "conf.h"
#include "explain.h"
#include "map.h"
#include "postconf.h"
#include "srs.h"
#include "srs_query.h"
#include "query.h"


static const char *opt_conf;
static const char *opt_dir;
static const char *opt_delims;
static int opt_propagate = 1;	/* propagate_extensions */
static struct conf *opt_cf;	/* the configuration, when read (for SRS) */
static struct srs *opt_srs;	/* its SRS secrets, when readable here */
static int srs_tried;

static _Noreturn void
usage(void)
{
    fprintf(stderr,
	    "usage: fwdmap [-c FILE] [-d DIR] [-D DELIMS] COMMAND ...\n"
	    "  compile [-s SERIAL] [-b BASE_SERIAL] [INPUT]  publish records\n"
	    "  query MAP KEY...        answer like fwdmapd (MAP: domains,\n"
	    "                          recipients, virtual, transport,\n"
	    "                          srs_forward, srs_reverse)\n"
	    "  explain [-j | --dot] [-a] [-m MEMBER] [-s SENDER] ADDRESS...\n"
	    "                          why an address is routed as it is: every\n"
	    "                          destination, a group's policy and members,\n"
	    "                          the path to MEMBER, whether SENDER may send\n"
	    "  dump                    print every record\n"
	    "  info                    print the generation's metadata\n"
	    "  postconf [-c FILE] [-M] Postfix main.cf lines (-M: master.cf\n"
	    "                          services) for the configuration\n");
    exit(2);
}

/* Fill opt_dir and opt_delims from the configuration when not given. */
static void
load_settings(void)
{
    struct conf *c;
    char    err[1024];
    const char *path = opt_conf ? opt_conf : CONF_DEFAULT_PATH;

    if (opt_dir && opt_delims)
	return;
    if (!opt_conf && access(path, F_OK) < 0) {
	if (!opt_dir) {
	    fprintf(stderr, "fwdmap: no -d DIR and no %s\n", path);
	    exit(2);
	}
	opt_delims = "+";
	return;
    }
    if ((c = conf_load(path, err, sizeof(err))) == NULL) {
	fprintf(stderr, "fwdmap: %s\n", err);
	exit(2);
    }
    if (!opt_dir)
	opt_dir = strdup(c->maps_dir);
    if (!opt_delims)
	opt_delims = strdup(c->recipient_delimiter);
    opt_propagate = c->propagate_extensions;
    opt_cf = c;				/* kept: query and explain answer SRS */
}

/*
 * The SRS secrets, read once when the configuration has an srs section.
 * The file may belong to root or to fwdmapd.user, as for fwdmapd.
 */
static struct srs *
fm_srs(void)
{
    struct passwd *pw;
    char    err[1024];
    uid_t   owner = geteuid();

    if (srs_tried || opt_cf == NULL || opt_cf->srs.domain == NULL)
	return (opt_srs);
    srs_tried = 1;
    if (opt_cf->fwdmapd.user && (pw = getpwnam(opt_cf->fwdmapd.user)) != NULL)
	owner = pw->pw_uid;
    if ((opt_srs = srs_query_open(opt_cf, owner, err, sizeof(err))) == NULL)
	fprintf(stderr, "fwdmap: warning: %s: no SRS answers here\n", err);
    return (opt_srs);
}

/* What fwdmapd answers: SRS's part first (srs section), then the tables. */
static enum map_q
fm_query(struct map_gen *g, const char *map, const char *key,
	 const char **v, size_t *vl)
{
    struct srs *s = fm_srs();
    int     handled = 0;
    enum map_q q;

    if (s || (opt_cf && opt_cf->srs.domain == NULL)) {
	q = srs_query(s, opt_cf, map, strlen(map), key, strlen(key), time(NULL),
		      &handled, v, vl);
	if (handled)
	    return (q);
    } else if (opt_cf && srs_query_name(map, strlen(map))) {
	*v = "srs.secrets_file not readable here (run as root or fwdmapd.user)";
	*vl = strlen(*v);
	return (MAP_Q_TEMP);
    }
    return (map_query_ext(g, map, strlen(map), key, strlen(key), opt_delims,
			  opt_propagate, v, vl));
}

static struct map_gen *
open_gen(int must)
{
    struct map_gen *g;
    char    err[1024];

    load_settings();
    if (map_gen_open(opt_dir, &g, err, sizeof(err)) < 0) {
	if (must) {
	    fprintf(stderr, "fwdmap: %s\n", err);
	    exit(2);
	}
	fprintf(stderr, "fwdmap: warning: %s\n", err);
	return (NULL);
    }
    return (g);
}

/*
 * compile
 */
static int
cmd_compile(int argc, char **argv)
{
    struct map_meta meta;
    struct map_writer *w;
    FILE   *in = stdin;
    char   *line = NULL, err[1024];
    size_t  cap = 0;
    ssize_t n;
    long    lineno = 0;
    int     ch, bad = 0;

    memset(&meta, 0, sizeof(meta));
    meta.format = MAP_FORMAT;
    meta.serial = (uint64_t) time(NULL);
    optind = 1;
    while ((ch = getopt(argc, argv, "s:b:")) != -1) {
	switch (ch) {
	case 's':
	    meta.serial = strtoull(optarg, NULL, 10);
	    break;
	case 'b':
	    meta.is_delta = 1;
	    meta.base_serial = strtoull(optarg, NULL, 10);
	    break;
	default:
	    usage();
	}
    }
    if (optind < argc && (in = fopen(argv[optind], "r")) == NULL) {
	fprintf(stderr, "fwdmap: open %s: %s\n", argv[optind], strerror(errno));
	return (2);
    }
    load_settings();
    snprintf(meta.source, sizeof(meta.source), "fwdmap compile %s",
	     optind < argc ? argv[optind] : "(stdin)");
    meta.created = time(NULL);
    w = map_writer_open(opt_dir, meta.is_delta ? MAP_DELTA_NAME : MAP_BASE_NAME,
			err, sizeof(err));
    if (w == NULL) {
	fprintf(stderr, "fwdmap: %s\n", err);
	return (2);
    }
    if (map_writer_background(w) < 0)	/* else written in line */
	fprintf(stderr, "fwdmap: note: no writer thread: %s\n", strerror(errno));
    while ((n = getline(&line, &cap, in)) >= 0) {
	char   *p = line, *tag, *key, *rest, val[2048], skey[MAP_KEY_MAX];
	int     del = 0;

	lineno++;
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
	    line[--n] = 0;
	p += strspn(p, " \t");
	if (*p == 0 || *p == '#')
	    continue;
	tag = strsep(&p, " \t");
	if (p)
	    p += strspn(p, " \t");
	key = p ? strsep(&p, " \t") : NULL;
	rest = p ? p + strspn(p, " \t") : NULL;
	if (tag[0] == '-' && tag[1]) {
	    del = 1;
	    tag++;
	}
	if (strlen(tag) != 1 || strchr(MAP_TAGS, tag[0]) == NULL
	    || key == NULL || *key == 0) {
	    fprintf(stderr, "fwdmap: line %ld: expected TAG KEY VALUE\n", lineno);
	    bad = 1;
	    continue;
	}
	if (tag[0] == MAP_T_SENDER) {
	    /* The key is "primary\tsender". */
	    char   *snd = rest ? strsep(&rest, " \t") : NULL;

	    if (rest)
		rest += strspn(rest, " \t");
	    if (snd == NULL || *snd == 0 || (!del && (rest == NULL
		|| (strcmp(rest, "member") && strcmp(rest, "allowed"))))) {
		fprintf(stderr, "fwdmap: line %ld: expected S primary sender"
			" member|allowed\n", lineno);
		bad = 1;
		continue;
	    }
	    if (snprintf(skey, sizeof(skey), "%s\t%s", key, snd)
		>= (int) sizeof(skey)) {
		fprintf(stderr, "fwdmap: line %ld: key too long\n", lineno);
		bad = 1;
		continue;
	    }
	    key = skey;
	}
	if (del) {
	    addr_fold(key, strlen(key));
	    if (!meta.is_delta) {
		fprintf(stderr, "fwdmap: line %ld: deletion outside a delta "
			"(use -b)\n", lineno);
		bad = 1;
	    } else if (map_writer_del(w, tag[0], key, strlen(key)) < 0)
		bad = 1;
	    continue;
	}
	if (rest == NULL)
	    rest = line + n;		/* empty value */
	if (tag[0] == MAP_T_DOMAIN) {
	    char   *tenant = strsep(&rest, " \t"), *pol = NULL, *route = NULL;

	    if (rest)
		pol = strsep(&rest, " \t");
	    if (rest)
		route = strsep(&rest, " \t");
	    if (!tenant || !*tenant || !pol
		|| (strcmp(pol, "reject") && strcmp(pol, "route"))) {
		fprintf(stderr, "fwdmap: line %ld: expected D domain tenant "
			"reject|route [default_route]\n", lineno);
		bad = 1;
		continue;
	    }
	    snprintf(val, sizeof(val), "%s\t%s\t%s", tenant, pol,
		     route ? route : "");
	    rest = val;
	} else if (tag[0] == MAP_T_GROUP) {
	    char   *pol = strsep(&rest, " \t"), *prim = NULL, *tenant = NULL;

	    if (rest)
		prim = strsep(&rest, " \t");
	    if (rest)
		tenant = strsep(&rest, " \t");
	    if (!pol || (strcmp(pol, "anyone") && strcmp(pol, "tenant")
			 && strcmp(pol, "members") && strcmp(pol, "listed"))
		|| !prim || !*prim || !tenant || !*tenant || rest) {
		fprintf(stderr, "fwdmap: line %ld: expected G address"
			" anyone|tenant|members|listed primary tenant\n",
			lineno);
		bad = 1;
		continue;
	    }
	    addr_fold(prim, strlen(prim));
	    snprintf(val, sizeof(val), "%s\t%s\t%s", pol, prim, tenant);
	    rest = val;
	}
	addr_fold(key, strlen(key));
	if (map_writer_put(w, tag[0], key, strlen(key), rest,
			   strlen(rest)) < 0) {
	    fprintf(stderr, "fwdmap: line %ld: %s\n", lineno, strerror(errno));
	    bad = 1;
	}
    }
    free(line);
    if (in != stdin)
	fclose(in);
    if (bad) {
	map_writer_abort(w);
	fprintf(stderr, "fwdmap: errors in input, nothing published\n");
	return (2);
    }
    if (map_writer_commit(w, &meta, err, sizeof(err)) < 0) {
	fprintf(stderr, "fwdmap: %s\n", err);
	return (2);
    }
    return (0);
}

/*
 * query
 */
static int
cmd_query(int argc, char **argv)
{
    struct map_gen *g;
    int     i, ret = 0;

    if (argc < 3)
	usage();
    g = open_gen(0);
    for (i = 2; i < argc; i++) {
	const char *v;
	size_t  vl;
	enum map_q q = fm_query(g, argv[1], argv[i], &v, &vl);

	switch (q) {
	case MAP_Q_OK:
	    printf("OK %.*s\n", (int) vl, v);
	    break;
	case MAP_Q_NOTFOUND:
	    printf("NOTFOUND\n");
	    if (ret == 0)
		ret = 1;
	    break;
	case MAP_Q_TEMP:
	    printf("TEMP %.*s\n", (int) vl, v);
	    ret = 2;
	    break;
	case MAP_Q_PERM:
	    printf("PERM %.*s\n", (int) vl, v);
	    ret = 2;
	    break;
	}
    }
    map_gen_close(g);
    return (ret);
}

/*
 * dump and info
 */
static int
dump_one(int tag, const char *key, size_t klen, const char *val, size_t vlen,
	 void *ctx)
{
    size_t  i;

    (void) ctx;
    /* Tabs inside D and G values and S keys become compile's spaces. */
    printf("%c ", tag);
    for (i = 0; i < klen; i++)
	putchar(key[i] == '\t' ? ' ' : key[i]);
    putchar(' ');
    for (i = 0; i < vlen; i++)
	putchar((tag == MAP_T_DOMAIN || tag == MAP_T_GROUP) && val[i] == '\t'
		? ' ' : val[i]);
    putchar('\n');
    return (0);
}

static int
cmd_dump(void)
{
    struct map_gen *g = open_gen(1);
    int     r = map_gen_walk(g, dump_one, NULL);

    map_gen_close(g);
    if (r < 0) {
	fprintf(stderr, "fwdmap: corrupt table\n");
	return (2);
    }
    return (0);
}

json_t *
meta_json(const struct map_meta *m)
{
    json_t *o = json_object(), *c = json_object();
    size_t  i;

    for (i = 0; i < sizeof(MAP_TAGS) - 1; i++) {
	char    k[2] = {MAP_TAGS[i], 0};

	json_object_set_new(c, k, json_integer((json_int_t) m->counts[i]));
    }
    json_object_set_new(o, "kind", json_string(m->is_delta ? "delta" : "base"));
    json_object_set_new(o, "serial", json_integer((json_int_t) m->serial));
    if (m->is_delta)
	json_object_set_new(o, "base_serial",
			    json_integer((json_int_t) m->base_serial));
    json_object_set_new(o, "created", json_integer((json_int_t) m->created));
    json_object_set_new(o, "age_seconds",
			json_integer((json_int_t) (time(NULL) - m->created)));
    json_object_set_new(o, "source", json_string(m->source));
    json_object_set_new(o, "counts", c);
    return (o);
}

static int
cmd_info(void)
{
    struct map_gen *g = open_gen(1);
    json_t *o = json_object();
    const struct map_meta *d = map_gen_delta_meta(g);

    json_object_set_new(o, "maps_dir", json_string(opt_dir));
    json_object_set_new(o, "base", meta_json(map_gen_meta(g)));
    json_object_set_new(o, "delta", d ? meta_json(d) : json_null());
    json_dumpf(o, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
    putchar('\n');
    json_decref(o);
    map_gen_close(g);
    return (0);
}

/*
 * explain (fwdmap/explain.c)
 */

/*
 * What Postfix does with a destination fwdmap has no transport for: not
 * ours to say.  Postfix's default_transport decides, with relayhost when
 * default_transport names no next hop.  When postconf(1) can be run
 * (MAIL_CONFIG is honoured, as by Postfix), the answer names the two
 * settings' values; else it says that fwdmap cannot know them.  Computed
 * once per run.  (sender_dependent_* maps and other transport_maps
 * entries can still override both; the text says "default".)
 */
static const char *
postfix_default(void)
{
    static char desc[600];
    static int done;
    char    out[1024], dt[256] = "", rh[256] = "";
    size_t  n = 0;
    ssize_t r;
    int     fd[2], st = -1;
    pid_t   pid;

    if (done)
	return (desc);
    done = 1;
    snprintf(desc, sizeof(desc), "(not in fwdmap's tables: Postfix's "
	     "default_transport and relayhost decide; postconf not available)");
    if (pipe(fd) < 0)
	return (desc);
    if ((pid = fork()) < 0) {
	close(fd[0]);
	close(fd[1]);
	return (desc);
    }
    if (pid == 0) {
	int     dn = open("/dev/null", O_RDWR);

	if (dup2(fd[1], 1) < 0 || (dn >= 0 && dup2(dn, 2) < 0))
	    _exit(127);
	close(fd[0]);
	execlp("postconf", "postconf", "-h", "default_transport", "relayhost",
	       (char *) NULL);
	_exit(127);
    }
    close(fd[1]);
    while (n < sizeof(out) - 1
	   && ((r = read(fd[0], out + n, sizeof(out) - 1 - n)) > 0
	       || (r < 0 && errno == EINTR)))
	if (r > 0)
	    n += (size_t) r;
    out[n] = 0;
    close(fd[0]);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
	;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0
	|| sscanf(out, "%255[^\n]\n%255[^\n]", dt, rh) < 1)
	return (desc);
    if (strchr(dt, ':'))			/* transport:nexthop */
	snprintf(desc, sizeof(desc), "(not in fwdmap's tables: Postfix "
		 "default_transport %s)", dt);
    else if (*rh)
	snprintf(desc, sizeof(desc), "(not in fwdmap's tables: Postfix "
		 "default_transport %s via relayhost %s)", dt, rh);
    else
	snprintf(desc, sizeof(desc), "(not in fwdmap's tables: Postfix "
		 "default_transport %s, to the domain's MX hosts)", dt);
    return (desc);
}

/* explain's lookups: what fwdmapd answers, SRS included. */
static enum map_q
fm_explain_query(struct map_gen *g, const char *map, const char *key,
		 const char **v, size_t *vl)
{
    return (fm_query(g, map, key, v, vl));
}

/* An address in the SRS domain that looks like SRS: whom it stands for,
 * or why it is refused.  -1 when it is not SRS's business. */
static int
fm_srs_verdict(const char *addr, char *verdict, size_t len)
{
    char    orig[SRS_ADDR_MAX];
    size_t  ol;
    const char *why = "";

    if (!fm_srs() || !srs_in_domain(opt_srs, addr, strlen(addr))
	|| !srs_looks_srs(addr, strlen(addr)))
	return (-1);
    if (srs_reverse(opt_srs, addr, strlen(addr), time(NULL), orig,
		    sizeof(orig), &ol, &why) > 0) {
	snprintf(verdict, len, "accepted: SRS address of a forwarded copy;"
		 " mail to it (bounces) goes to %.400s", orig);
	return (0);
    }
    snprintf(verdict, len, "rejected at RCPT with 5xx: not a valid SRS"
	     " address (%s)", why);
    return (1);
}

static int
cmd_explain(int argc, char **argv)
{
    static const struct option longopts[] = {
	{"dot", no_argument, NULL, 'G'},
	{"json", no_argument, NULL, 'j'},
	{"member", required_argument, NULL, 'm'},
	{"sender", required_argument, NULL, 's'},
	{"all", no_argument, NULL, 'a'},
	{NULL, 0, NULL, 0}
    };
    struct explain_opts o;
    struct map_gen *g;
    int     i, ch, ret = 0, r;

    memset(&o, 0, sizeof(o));
    optind = 1;
    while ((ch = getopt_long(argc, argv, "ajm:s:", longopts, NULL)) != -1) {
	switch (ch) {
	case 'a':
	    o.all = 1;
	    break;
	case 'j':
	    o.json = 1;
	    break;
	case 'm':
	    o.member = optarg;
	    break;
	case 's':
	    o.sender = optarg;
	    break;
	case 'G':
	    o.dot = 1;
	    break;
	default:
	    usage();
	}
    }
    if (optind >= argc || (o.dot && o.json))
	usage();
    g = open_gen(1);
    o.delims = opt_delims;
    o.propagate = opt_propagate;
    o.query = fm_explain_query;
    o.special_verdict = fm_srs_verdict;
    o.outside = postfix_default;
    for (i = optind; i < argc; i++)
	if ((r = explain_one(g, argv[i], &o)) > ret)
	    ret = r;
    map_gen_close(g);
    return (ret);
}

/*
 * postconf
 */
static int
cmd_postconf(int argc, char **argv)
{
    struct conf *c;
    struct pc *p;
    char    err[1024];
    const char *path;
    int     ch, master = 0, r;

    optind = 1;
    while ((ch = getopt(argc, argv, "c:M")) != -1) {
	switch (ch) {
	case 'c':
	    opt_conf = optarg;
	    break;
	case 'M':
	    master = 1;
	    break;
	default:
	    usage();
	}
    }
    if (optind != argc)
	usage();
    path = opt_conf ? opt_conf : CONF_DEFAULT_PATH;
    if ((c = conf_load(path, err, sizeof(err))) == NULL) {
	fprintf(stderr, "fwdmap: %s\n", err);
	return (2);
    }
    if ((p = pc_build(c)) == NULL) {
	fprintf(stderr, "fwdmap: postconf: out of memory\n");
	conf_free(c);
	return (2);
    }
    r = master ? pc_print_master(p, stdout) : pc_print_main(p, stdout);
    pc_free(p);
    conf_free(c);
    if (r < 0) {
	fprintf(stderr, "fwdmap: postconf: write error: %s\n", strerror(errno));
	return (2);
    }
    return (0);
}

int
main(int argc, char **argv)
{
    int     ch;
    const char *cmd;

    while ((ch = getopt(argc, argv, "+c:d:D:h")) != -1) {
	switch (ch) {
	case 'c':
	    opt_conf = optarg;
	    break;
	case 'd':
	    opt_dir = optarg;
	    break;
	case 'D':
	    opt_delims = optarg;
	    break;
	default:
	    usage();
	}
    }
    argc -= optind;
    argv += optind;
    if (argc < 1)
	usage();
    if (opt_delims && strpbrk(opt_delims, "@,: \t\"<>()[]\\;")) {
	fprintf(stderr, "fwdmap: -D: a recipient delimiter must not be address"
		" punctuation\n");
	return (2);
    }
    cmd = argv[0];
    if (strcmp(cmd, "compile") == 0)
	return (cmd_compile(argc, argv));
    if (strcmp(cmd, "query") == 0)
	return (cmd_query(argc, argv));
    if (strcmp(cmd, "explain") == 0)
	return (cmd_explain(argc, argv));
    if (strcmp(cmd, "postconf") == 0)
	return (cmd_postconf(argc, argv));
    if (strcmp(cmd, "dump") == 0 && argc == 1)
	return (cmd_dump());
    if (strcmp(cmd, "info") == 0 && argc == 1)
	return (cmd_info());
    usage();
}
