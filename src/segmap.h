/* The segment map: one byte per 2 MiB of the 47-bit user address space,
 * saying what hakmem keeps there.  free() reads it before it touches any
 * header, so a pointer that is not ours is recognised without a fault and
 * without a registry search.  It lives in .bss: 64 MiB of address space of
 * which only the pages covering our mappings are ever written. */
#ifndef HAK_SEGMAP_H
#define HAK_SEGMAP_H

#include "util.h"

#define HAK_SS_SHIFT   21
#define HAK_SS_SIZE    ((size_t)1 << HAK_SS_SHIFT)
#define HAK_SS_MASK    (HAK_SS_SIZE - 1)
#define HAK_SEGMAP_N   ((size_t)1 << (47 - HAK_SS_SHIFT))

enum hak_seg_kind {
    HAK_SEG_NONE = 0,
    HAK_SEG_SUPERSLAB = 1,   /* header at the start of the 2 MiB chunk */
    HAK_SEG_LARGE = 2,       /* a large block starts in this chunk; header at chunk start */
    HAK_SEG_LARGE_ALIGNED = 3, /* large block aligned to >= 2 MiB: header just before it */
};

extern uint8_t hak_segmap[HAK_SEGMAP_N];

static inline unsigned hak_seg_kind_of(const void *p) {
    uintptr_t chunk = (uintptr_t)p >> HAK_SS_SHIFT;
    if (unlikely(chunk >= HAK_SEGMAP_N)) return HAK_SEG_NONE;
    return __atomic_load_n(&hak_segmap[chunk], __ATOMIC_RELAXED);
}

static inline void hak_segmap_set(const void *chunk_start, unsigned kind) {
    __atomic_store_n(&hak_segmap[(uintptr_t)chunk_start >> HAK_SS_SHIFT], (uint8_t)kind,
                     __ATOMIC_RELEASE);
}

#endif
