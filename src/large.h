/* Large blocks (above the largest class, or aligned beyond a page): one
 * mapping each, with recently freed mappings cached for reuse. */
#ifndef HAK_LARGE_H
#define HAK_LARGE_H

#include "util.h"

void *hak_large_alloc(size_t size, size_t align, bool zero);
void hak_large_free(void *p, unsigned kind);
void *hak_large_realloc(void *p, unsigned kind, size_t size);
/* The usable size: the size asked for, rounded up to a page. */
size_t hak_large_usable(void *p, unsigned kind, const char *caller);
/* The usable size hak_large_alloc(size, align) gives; 0 if it cannot. */
size_t hak_large_usable_for(size_t size, size_t align);
/* xallocx: resizes p in place (it never moves) to size + extra bytes, or as
 * near as its mapping and the address space after it allow, at least size
 * if it can.  Returns the usable size after. */
size_t hak_large_resize_in_place(void *p, unsigned kind, size_t size, size_t extra);
/* Unmaps cached mappings freed at least delay_ms ago. Returns bytes. */
size_t hak_large_cache_purge(uint64_t now_ms, uint64_t delay_ms);

typedef struct hak_large_totals {
    uint64_t allocs, frees, active, active_bytes, cached, cached_bytes;
} hak_large_totals_t;
void hak_large_totals(hak_large_totals_t *out);

void hak_large_fork_prepare(void);
void hak_large_fork_parent(void);
void hak_large_fork_child(void);

#endif
