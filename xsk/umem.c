/*
 * UMEM area mapping. Huge pages make the frames' TLB footprint small (64 Ki
 * frames of 4 KiB = 256 MiB is 128 huge pages, 65,536 small ones); when none
 * are reserved (vm.nr_hugepages = 0) the mapping falls back silently and
 * umem_area.huge says which one it got.
 */
#include "xsk/umem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_PAGE (2u << 20)

int umem_area__map(struct umem_area *a, uint32_t frames, uint32_t frame_size, bool huge)
{
        size_t size = (size_t)frames * frame_size;
        void *p = MAP_FAILED;

        memset(a, 0, sizeof(*a));
        if (!frames || !frame_size || (frame_size & (frame_size - 1)))
                return -EINVAL;
        if (huge && size % HUGE_PAGE == 0)
                p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
        a->huge = p != MAP_FAILED;
        if (p == MAP_FAILED)
                p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (p == MAP_FAILED)
                return -errno;
        a->base = p;
        a->size = size;
        a->frame_size = frame_size;
        a->frames = frames;
        return 0;
}

void umem_area__unmap(struct umem_area *a)
{
        if (a->base)
                munmap(a->base, a->size);
        memset(a, 0, sizeof(*a));
}
