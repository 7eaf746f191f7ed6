/*
 * log.h - logging for the fwdmap daemons and tools.
 *
 * NAME
 *	log - syslog (mail facility) or stderr, in the style of Postfix
 *
 * DESCRIPTION
 *	log_init(prog, to_syslog) sets the program name and the sink: syslog
 *	with LOG_MAIL and LOG_PID, or stderr as "prog[pid]: level: message".
 *	Lines look like Postfix's: "warning: ...", "fatal: ...".
 *	The *_errno variants append ": strerror(errno)".  log_fatal* exit 1
 *	(a broken environment); log_panic aborts (a bug).  log_debug prints
 *	only when log_verbose > 0.  The shared library (maps/) itself never
 *	calls these; only programs do.  Never pass a secret to any of them.
 */
#ifndef FWDMAP_LOG_H
#define FWDMAP_LOG_H

#define LOG_FMT(a, b) __attribute__((format(printf, a, b)))

extern int log_verbose;

void	log_init(const char *prog, int to_syslog);
void	log_info(const char *fmt, ...) LOG_FMT(1, 2);
void	log_debug(const char *fmt, ...) LOG_FMT(1, 2);
void	log_warn(const char *fmt, ...) LOG_FMT(1, 2);
void	log_warn_errno(const char *fmt, ...) LOG_FMT(1, 2);
void	log_error(const char *fmt, ...) LOG_FMT(1, 2);
_Noreturn void log_fatal(const char *fmt, ...) LOG_FMT(1, 2);
_Noreturn void log_fatal_errno(const char *fmt, ...) LOG_FMT(1, 2);
_Noreturn void log_panic(const char *fmt, ...) LOG_FMT(1, 2);

#endif
