/* The segment map: what hakmem keeps in each 2 MiB chunk of the address
 * space, read by slow paths before they touch any header, so a pointer that
 * is not ours is recognised without a fault and without a registry search.
 * It is the chunk part of the page map's leaves (pagemap.h). */
#ifndef HAK_SEGMAP_H
#define HAK_SEGMAP_H

#include "pagemap.h"

#define HAK_SS_SHIFT   HAK_MAP_CHUNK_SHIFT
#define HAK_SS_SIZE    ((size_t)1 << HAK_SS_SHIFT)
#define HAK_SS_MASK    (HAK_SS_SIZE - 1)

enum hak_seg_kind {
    HAK_SEG_NONE = 0,
    HAK_SEG_SUPERSLAB = 1,   /* header at the start of the 2 MiB chunk */
    HAK_SEG_LARGE = 2,       /* a large block starts in this chunk; header at chunk start */
    HAK_SEG_LARGE_ALIGNED = 3, /* large block aligned to >= 2 MiB: header just before it */
};

static inline unsigned hak_seg_kind_of(const void *p) { return (unsigned)hak_chunkmap_get(p); }

/* Records the kind of the chunk holding chunk_start; false if the map could
 * not take it (then the chunk must not be used). */
static inline bool hak_segmap_set(const void *chunk_start, unsigned kind) {
    if (kind != HAK_SEG_NONE && !hak_pagemap_cover(chunk_start, 1)) return false;
    hak_chunkmap_set(chunk_start, 1, kind);
    return true;
}

#endif
