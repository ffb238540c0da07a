/* Large blocks, above the largest class (or aligned beyond a page): up to
 * HAK_MEDIUM_MAX bytes a run of pages of the page pool, above that a huge
 * block, a run of chunks of the chunk heap.  Neither keeps a header in the
 * block itself: a page run's descriptor is metadata, and a huge block's
 * header is its run's first page, before the block. */
#ifndef HAK_LARGE_H
#define HAK_LARGE_H

#include "superslab.h"

#define HAK_MEDIUM_MAX ((size_t)1 << 20)

void *hak_large_alloc(size_t size, size_t align, bool zero);
/* p is not in a slab: frees it, or reports it on behalf of free(). */
void hak_large_free(void *p);
/* A new block for realloc, or NULL: the caller allocates, copies and frees. */
void *hak_large_realloc(void *p, size_t size);
/* The usable size of large block p, the size asked for rounded up to a
 * page; anything else is reported for caller. */
size_t hak_large_usable(void *p, const char *caller);
/* The usable size hak_large_alloc(size, align) gives; 0 if it cannot. */
size_t hak_large_usable_for(size_t size, size_t align);
/* xallocx: resizes p in place (it never moves) to size + extra bytes, or as
 * near as its run and the free pages after it allow, at least size if it
 * can.  Returns the usable size after. */
size_t hak_large_resize_in_place(void *p, size_t size, size_t extra);
/* A word the heap profiler keeps with a live large block: NULL when the
 * block is allocated; a realloc may keep or drop it (the profiler takes it
 * off first). */
void *hak_large_tag(void *p, const char *caller);
void hak_large_set_tag(void *p, void *tag);

/* Bytes of large blocks the calling thread has allocated and freed. */
void hak_large_thread_bytes(uint64_t *allocated, uint64_t *freed);

typedef struct hak_large_totals {
    uint64_t allocs, frees, active, active_bytes, cached, cached_bytes;
} hak_large_totals_t;
void hak_large_totals(hak_large_totals_t *out);

#endif
