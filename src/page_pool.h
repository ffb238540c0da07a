/* The page pool: the free pages of every SuperSlab, any heap's, for any
 * class and any block of up to HAK_SS_DATA_PAGES, taken at once after they
 * are freed.  Free runs coalesce with their free neighbours; a SuperSlab
 * left with no run in use goes back to the chunk heap (chunk.h), the shared
 * pool of free SuperSlabs, where huge blocks can take it too.  Pages go back to the OS gradually, over
 * purge.decay_ms (decay.h), oldest first; the pool's lock is never held
 * across a system call. */
#ifndef HAK_PAGE_POOL_H
#define HAK_PAGE_POOL_H

#include "superslab.h"

/* A run of npages pages (at most HAK_SS_DATA_PAGES) whose address is a
 * multiple of align pages (a power of two), taken from the pool, or from a
 * new SuperSlab.  Its descriptor comes back with state set, ss/page/npages/
 * end/zeroed/clean filled in and every other field zero; NULL (errno
 * ENOMEM) if the OS refuses. */
slab_t *hak_pages_alloc(size_t npages, size_t align, unsigned state);
/* Gives a run back (it must be in the given state, checked under the lock:
 * false if it was not, and nothing changed). */
bool hak_pages_free(slab_t *run, unsigned state);
/* Grows a run in place to npages if the pages after it are free. */
bool hak_pages_grow(slab_t *run, size_t npages);
/* Gives back the pages of a run beyond its first npages. */
void hak_pages_shrink(slab_t *run, size_t npages);

/* Returns dirty pages to the OS: as many as decay says should go by now
 * (all of them with decay_ms 0 or all true; all also gives the kept empty
 * SuperSlab back to the chunk heap).  Returns the bytes purged. */
size_t hak_page_pool_purge(uint64_t now_ms, uint64_t decay_ms, bool all);

typedef struct hak_page_pool_totals {
    uint64_t superslabs;        /* SuperSlabs in the pool */
    uint64_t superslabs_free;   /* of those, with no page in use (at most one: kept) */
    uint64_t free_bytes;        /* bytes in free runs */
    uint64_t dirty_bytes;       /* of those, possibly resident */
    uint64_t purged_bytes;      /* returned to the OS so far */
} hak_page_pool_totals_t;
void hak_page_pool_totals(hak_page_pool_totals_t *out);
/* Of the free pages, the bytes resident now (statistics: dirty_bytes counts
 * a page a slab held whether or not it was touched). */
size_t hak_page_pool_free_resident(void);

void hak_page_pool_fork_prepare(void);
void hak_page_pool_fork_parent(void);
void hak_page_pool_fork_child(void);

#endif
