/*
 * The monotonic clock in nanoseconds: timers, deadlines and uptimes off the
 * packet path (workers read theirs from the port, so that offline runs can
 * keep a virtual one).
 */
#ifndef MQTTLB_CORE_UTIL_CLOCK_H
#define MQTTLB_CORE_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock__mono_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
