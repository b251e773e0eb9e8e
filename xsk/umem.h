/*
 * The UMEM area: one region of frames shared by every AF_XDP socket (and by
 * the pcap port offline), so that a frame received on any socket can leave
 * through any other without a copy. Backed by huge pages when the system has
 * them reserved, by ordinary pages otherwise.
 */
#ifndef MQTTLB_XSK_UMEM_H
#define MQTTLB_XSK_UMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UMEM_FRAME_SIZE 4096u /* one segment of any MSS the legs negotiate fits */

struct umem_area {
        uint8_t *base;
        size_t size;
        uint32_t frame_size;
        uint32_t frames;
        bool huge; /* backed by huge pages */
};

/* frames of frame_size bytes; huge: try MAP_HUGETLB first. Returns 0 or -errno. */
int umem_area__map(struct umem_area *a, uint32_t frames, uint32_t frame_size, bool huge);
void umem_area__unmap(struct umem_area *a);

static inline uint8_t *umem_area__data(const struct umem_area *a, uint64_t addr)
{
        return a->base + addr;
}

#endif
