/*
 * mono.h - the monotonic clock of the whole tree.
 *
 * NAME
 *	mono - time that never goes back
 *
 * SYNOPSIS
 *	#include "mono.h"
 *
 *	uint64_t mono_ns(void);
 *	long long mono_ms(void);
 *
 * DESCRIPTION
 *	mono_ns() returns CLOCK_MONOTONIC in nanoseconds (latency
 *	histograms, the request path), mono_ms() in milliseconds (timeouts,
 *	intervals, durations in logs).  Neither follows the wall clock, so
 *	setting the time does not stretch or cut a timeout; neither is a
 *	date.  mono_ms() is signed, so that "deadline - mono_ms()" can go
 *	below zero.
 *
 *	Both are inline: the request path reads the clock once per batch
 *	and should not pay a call for it.
 */
#ifndef FWDMAP_MONO_H
#define FWDMAP_MONO_H

#include <stdint.h>
#include <time.h>

static inline uint64_t
mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ((uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec);
}

static inline long long
mono_ms(void)
{
    return ((long long) (mono_ns() / 1000000));
}

#endif
