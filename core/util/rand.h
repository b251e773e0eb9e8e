/*
 * A random 64-bit seed from the kernel (getrandom): for hash tables whose
 * layout a peer must not be able to guess. Never on the packet path.
 */
#ifndef MQTTLB_CORE_UTIL_RAND_H
#define MQTTLB_CORE_UTIL_RAND_H

#include <errno.h>
#include <stdint.h>
#include <sys/random.h>

/* 0, or -errno (-EIO on a short read: no entropy yet, early boot). */
static inline int rand__seed(uint64_t *seed)
{
        ssize_t n = getrandom(seed, sizeof(*seed), 0);

        if (n < 0)
                return -errno;
        return n == sizeof(*seed) ? 0 : -EIO;
}

#endif
