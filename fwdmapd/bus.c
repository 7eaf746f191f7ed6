/*
 * bus.c - the SIGBUS bracket for mapped tables (see bus.h).
 *
 * One jump buffer for the process: fwdmapd is single-threaded and
 * brackets do not nest.  bus_armed says whether a bracket is open; the
 * handler disarms it before jumping, so a second SIGBUS (in the code that
 * handles the first) takes the default action instead of looping.
 *
 * The bracket is on every request's path, so it saves no signal mask
 * (sigsetjmp(env, 0): no rt_sigprocmask system call per request).  The
 * only mask change to undo is the one the kernel makes itself when it
 * runs the handler (SIGBUS blocked until the handler returns, which it
 * never does): after a caught SIGBUS, SIGBUS is unblocked again, or the
 * next one would kill the daemon.
 */
#include <setjmp.h>
#include <signal.h>
#include <string.h>

#include "bus.h"

static sigjmp_buf bus_env;
static volatile sig_atomic_t bus_armed;

static void
on_sigbus(int sig)
{
    if (bus_armed) {
	bus_armed = 0;
	siglongjmp(bus_env, 1);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Run fn(arg) with SIGBUS caught: 0, or -1 when fn was cut short. */
int
bus_guard(void (*fn) (void *), void *arg)
{
    void    (*volatile vfn) (void *) = fn;
    void   *volatile varg = arg;

    if (sigsetjmp(bus_env, 0) != 0) {
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGBUS);
	(void) sigprocmask(SIG_UNBLOCK, &set, NULL);
	return (-1);
    }
    bus_armed = 1;
    vfn(varg);
    bus_armed = 0;
    return (0);
}

int
bus_install(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigbus;
    sigemptyset(&sa.sa_mask);
    return (sigaction(SIGBUS, &sa, NULL));
}
