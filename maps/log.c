/*
 * log.c - syslog or stderr logging for the fwdmap programs (see log.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"

int log_verbose;

static const char *log_prog = "fwdmap";
static int log_syslog;

void
log_init(const char *prog, int to_syslog)
{
    const char *slash = strrchr(prog, '/');

    log_prog = slash ? slash + 1 : prog;
    log_syslog = to_syslog;
    if (to_syslog)
	openlog(log_prog, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

/* Format one line and send it to the configured sink. */
static void
log_emit(int pri, const char *level, int with_errno, const char *fmt,
	 va_list ap)
{
    char    buf[2048];
    int     saved = errno;
    size_t  n;

    vsnprintf(buf, sizeof(buf), fmt, ap);
    n = strlen(buf);
    if (with_errno && n < sizeof(buf))
	snprintf(buf + n, sizeof(buf) - n, ": %s", strerror(saved));
    if (log_syslog) {
	if (level)
	    syslog(pri, "%s: %s", level, buf);
	else
	    syslog(pri, "%s", buf);
    } else {
	if (level)
	    fprintf(stderr, "%s[%ld]: %s: %s\n", log_prog, (long) getpid(),
		    level, buf);
	else
	    fprintf(stderr, "%s[%ld]: %s\n", log_prog, (long) getpid(), buf);
	fflush(stderr);
    }
    errno = saved;
}

#define LOG_BODY(pri, level, with_errno) do { \
	va_list ap; \
	va_start(ap, fmt); \
	log_emit((pri), (level), (with_errno), fmt, ap); \
	va_end(ap); \
    } while (0)

void log_info(const char *fmt, ...)	{ LOG_BODY(LOG_INFO, NULL, 0); }
void log_warn(const char *fmt, ...)	{ LOG_BODY(LOG_WARNING, "warning", 0); }
void log_warn_errno(const char *fmt, ...) { LOG_BODY(LOG_WARNING, "warning", 1); }
void log_error(const char *fmt, ...)	{ LOG_BODY(LOG_ERR, "error", 0); }

void
log_debug(const char *fmt, ...)
{
    if (log_verbose > 0)
	LOG_BODY(LOG_DEBUG, "debug", 0);
}

void
log_fatal(const char *fmt, ...)
{
    LOG_BODY(LOG_CRIT, "fatal", 0);
    exit(1);
}

void
log_fatal_errno(const char *fmt, ...)
{
    LOG_BODY(LOG_CRIT, "fatal", 1);
    exit(1);
}

void
log_panic(const char *fmt, ...)
{
    LOG_BODY(LOG_CRIT, "panic", 0);
    abort();
}
