/* Large blocks (above the largest class, or aligned beyond a page): runs of
 * pages from the page pool, one run each. */
#ifndef HAK_LARGE_H
#define HAK_LARGE_H

#include "superslab.h"

void *hak_large_alloc(size_t size, size_t align, bool zero);
/* r is the run holding p (hak_run_lookup). */
void hak_large_free(void *p, slab_t *r);
/* A new block for realloc, or NULL: the caller allocates, copies and frees. */
void *hak_large_realloc(void *p, slab_t *r, size_t size);
size_t hak_large_usable(void *p, slab_t *r, const char *caller);
/* p is the start of one of the large blocks freed last. */
bool hak_large_recently_freed(const void *p);

typedef struct hak_large_totals {
    uint64_t allocs, frees, active, active_bytes, cached, cached_bytes;
} hak_large_totals_t;
void hak_large_totals(hak_large_totals_t *out);

#endif
