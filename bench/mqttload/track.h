/*
 * What a subscriber thread has seen: one track per (subscriber client,
 * publisher id), each a bitmap of sequence numbers, in an open-addressing
 * table. A duplicate is a sequence number a subscriber saw twice from one
 * publisher; lost is --expect minus the distinct numbers seen. Bitmaps are
 * sized by --expect, or grow by doubling; memory is allocated per track, never
 * per message. Owned by one thread; no locking.
 */
#ifndef MQTTLB_BENCH_MQTTLOAD_TRACK_H
#define MQTTLB_BENCH_MQTTLOAD_TRACK_H

#include <stdbool.h>
#include <stdint.h>

/* Sequence numbers from here on are counted, not tracked (a bitmap would
 * take 512 MiB). */
#define TRACK_MAX_SEQ (1ull << 32)

struct track {
        uint64_t *bits;
        uint64_t nbits;
        uint64_t distinct;
        uint32_t sub, pubid;
        bool used;
};

struct track_table {
        struct track *slots;
        uint32_t cap, used;
        uint64_t expect; /* initial bitmap size; 0: grow from 1024 */
};

enum track_result {
        TRACK_NEW = 0,
        TRACK_DUP,
        TRACK_UNTRACKED, /* sequence number beyond TRACK_MAX_SEQ */
        TRACK_NOMEM,
};

int track_table__init(struct track_table *t, uint64_t expect);
void track_table__fini(struct track_table *t);
/*
 * Marks seq from pubid as seen by subscriber sub. *reached is set when this
 * made the track's distinct count reach expect (for completion).
 */
enum track_result track_table__mark(struct track_table *t, uint32_t sub, uint32_t pubid,
                                    uint64_t seq, bool *reached);

#endif
