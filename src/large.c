/* Large blocks.  Each lives in a mapping of its own whose header records
 * the block; the segment map marks the 2 MiB chunk where the block starts.
 *   alignment < 2 MiB: mapping 2 MiB aligned, header at its start, block at
 *                      max(4 KiB, alignment) into it (HAK_SEG_LARGE)
 *   alignment >= 2 MiB: block at the alignment, header in the page just
 *                      before it (HAK_SEG_LARGE_ALIGNED)
 * Freed mappings wait in a cache (large.cache_max bytes) for reuse, and are
 * unmapped once unused for purge.delay_ms.  realloc moves pages with mremap,
 * never copying them. */
#define _GNU_SOURCE
#include "large.h"
#include "os.h"
#include "params.h"
#include "purge.h"
#include "segmap.h"
#include "size_class.h"
#include "tcache.h"
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#define LARGE_MAGIC 0x4c415247454d4b48ull /* "HKMEGRAL" */
#define LARGE_HDR   ((size_t)4096)

typedef struct large_hdr {
    uint64_t magic;
    void *user;              /* the block */
    void *base;              /* the mapping */
    size_t map_size;
    size_t offset;           /* user - base */
    size_t size;             /* bytes asked for */
    _Atomic int live;
    uint64_t freed_ms;
    struct large_hdr *next, *prev; /* cache list, newest first */
} large_hdr_t;

static pthread_mutex_t large_lock = PTHREAD_MUTEX_INITIALIZER;
static large_hdr_t *cache_head, *cache_tail; /* under large_lock */
static size_t cache_bytes, cache_count;
static _Atomic uint64_t n_allocs, n_frees, active_bytes;

static large_hdr_t *hdr_of(void *p, unsigned kind) {
    if (kind == HAK_SEG_LARGE) return (large_hdr_t *)((uintptr_t)p & ~(uintptr_t)HAK_SS_MASK);
    return (large_hdr_t *)((char *)p - LARGE_HDR);
}

static large_hdr_t *checked_hdr(void *p, unsigned kind, const char *caller) {
    large_hdr_t *h = hdr_of(p, kind);
    if (h->magic != LARGE_MAGIC || h->user != p)
        hak_fatal("%s(): invalid pointer %p (inside a large block, not its start)", caller, p);
    return h;
}

static void cache_unlink(large_hdr_t *h) {
    if (h->prev) h->prev->next = h->next;
    else cache_head = h->next;
    if (h->next) h->next->prev = h->prev;
    else cache_tail = h->prev;
    cache_bytes -= h->map_size;
    cache_count--;
}

static void unmap_block(large_hdr_t *h) {
    hak_segmap_set(h->user, HAK_SEG_NONE);
    hak_os_unmap(h->base, h->map_size);
}

/* Moves the oldest cached mapping onto the list *evict (under large_lock). */
static void evict_oldest(large_hdr_t **evict) {
    large_hdr_t *old = cache_tail;
    cache_unlink(old);
    old->next = *evict;
    *evict = old;
}

/* Unmaps a list made by evict_oldest (outside the lock); returns its bytes. */
static size_t unmap_evicted(large_hdr_t *evict) {
    size_t bytes = 0;
    while (evict) {
        large_hdr_t *next = evict->next;
        bytes += evict->map_size;
        unmap_block(evict);
        evict = next;
    }
    return bytes;
}

/* Best fit among cached mappings, up to 4x the need: reusing resident pages
 * beats faulting fresh ones, and the waste is bounded. */
static large_hdr_t *cache_take(size_t need) {
    pthread_mutex_lock(&large_lock);
    large_hdr_t *best = NULL;
    for (large_hdr_t *h = cache_head; h; h = h->next) /* at most cache_max worth */
        if (h->map_size >= need && h->map_size / 4 <= need &&
            (!best || h->map_size < best->map_size))
            best = h;
    if (best) cache_unlink(best);
    pthread_mutex_unlock(&large_lock);
    return best;
}

/* Where the block starts in its mapping (a multiple of the OS page, so the
 * usable size is the size rounded up to a page), or 0 if size is too big. */
static size_t block_offset(size_t size, size_t align) {
    size_t offset = align >= HAK_SS_SIZE ? align : hak_max(align, LARGE_HDR);
    return size > PTRDIFF_MAX - offset - HAK_SS_SIZE ? 0 : offset;
}

size_t hak_large_usable_for(size_t size, size_t align) {
    return block_offset(size, align) ? hak_align_up(size, HAK_OS_PAGE) : 0;
}

void *hak_large_alloc(size_t size, size_t align, bool zero) {
    if (align < LARGE_HDR) align = LARGE_HDR;
    bool huge_align = align >= HAK_SS_SIZE;
    size_t offset = block_offset(size, align);
    if (!offset) { errno = ENOMEM; return NULL; }
    size_t need = hak_align_up(offset + size, HAK_OS_PAGE);
    large_hdr_t *h = NULL;
    if (offset == LARGE_HDR && (h = cache_take(need)) != NULL) {
        if (zero) memset(h->user, 0, hak_align_up(size, HAK_OS_PAGE)); /* all of it usable */
    } else {
        char *base = hak_os_map(need, huge_align ? align : HAK_SS_SIZE, false);
        if (!base) { errno = ENOMEM; return NULL; }
        char *user = base + offset;
        h = huge_align ? (large_hdr_t *)(user - LARGE_HDR) : (large_hdr_t *)base;
        h->magic = LARGE_MAGIC;
        h->user = user;
        h->base = base;
        h->map_size = need;
        h->offset = offset;
        hak_segmap_set(user, huge_align ? HAK_SEG_LARGE_ALIGNED : HAK_SEG_LARGE);
    }
    h->size = size;
    h->next = h->prev = NULL;
    atomic_store_explicit(&h->live, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&n_allocs, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&active_bytes, h->map_size, memory_order_relaxed);
    hak_tls.large_allocated += h->map_size - h->offset;
    return h->user;
}

void hak_large_free(void *p, unsigned kind) {
    large_hdr_t *h = checked_hdr(p, kind, "free");
    if (atomic_exchange_explicit(&h->live, 0, memory_order_acq_rel) != 1)
        hak_fatal("free(): double free of large block %p (%zu bytes)", p, h->size);
    atomic_fetch_add_explicit(&n_frees, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&active_bytes, h->map_size, memory_order_relaxed);
    hak_tls.large_freed += h->map_size - h->offset;
    size_t max = hak_load(&hak_params.large_cache_max);
    if (h->offset != LARGE_HDR || h->map_size > max) {
        unmap_block(h);
        return;
    }
    large_hdr_t *evict = NULL;
    pthread_mutex_lock(&large_lock);
    h->freed_ms = hak_now_ms();
    h->prev = NULL;
    h->next = cache_head;
    if (cache_head) cache_head->prev = h;
    else cache_tail = h;
    cache_head = h;
    cache_bytes += h->map_size;
    cache_count++;
    while (cache_bytes > max) evict_oldest(&evict);
    pthread_mutex_unlock(&large_lock);
    unmap_evicted(evict);
    hak_purge_note();
}

static large_hdr_t *live_hdr(void *p, unsigned kind, const char *caller) {
    large_hdr_t *h = checked_hdr(p, kind, caller);
    if (atomic_load_explicit(&h->live, memory_order_relaxed) != 1)
        hak_fatal("%s(): pointer %p is a large block already freed", caller, p);
    return h;
}

/* The size asked for, rounded up to a page: not the whole mapping, which
 * may be a larger cached one, so that it equals hak_large_usable_for. */
size_t hak_large_usable(void *p, unsigned kind, const char *caller) {
    return hak_align_up(live_hdr(p, kind, caller)->size, HAK_OS_PAGE);
}

/* Grows or shrinks the mapping of h to need bytes without copying; the block
 * may move if may_move.  Returns the new header, or NULL. */
static large_hdr_t *remap(large_hdr_t *h, size_t need, bool may_move) {
    uint64_t limit = hak_load(&hak_params.mapped_limit);
    if (need > h->map_size && limit &&
        atomic_load_explicit(&hak_os_mapped, memory_order_relaxed) + need - h->map_size > limit)
        return NULL;
    void *old_user = h->user; /* h itself moves with the pages */
    size_t old_size = h->map_size;
    void *r = mremap(h->base, h->map_size, need, 0); /* in place */
    if (r == MAP_FAILED && !may_move) return NULL;
    if (r == MAP_FAILED) {
        void *target = hak_os_reserve(need, HAK_SS_SIZE);
        if (!target) return NULL;
        /* forget the old chunk while its range is still ours: once the pages
         * move, another thread may map a block of its own there */
        hak_segmap_set(old_user, HAK_SEG_NONE);
        r = mremap(h->base, h->map_size, need, MREMAP_MAYMOVE | MREMAP_FIXED, target);
        if (r == MAP_FAILED) {
            hak_segmap_set(old_user, HAK_SEG_LARGE);
            munmap(target, need);
            return NULL;
        }
        h = r;
        h->base = r;
        h->user = (char *)r + h->offset;
        hak_segmap_set(h->user, HAK_SEG_LARGE);
    }
    if (need > old_size) atomic_fetch_add_explicit(&hak_os_mapped, need - old_size, memory_order_relaxed);
    else atomic_fetch_sub_explicit(&hak_os_mapped, old_size - need, memory_order_relaxed);
    atomic_fetch_add_explicit(&active_bytes, need - old_size, memory_order_relaxed);
    h->map_size = need;
    return h;
}

void *hak_large_realloc(void *p, unsigned kind, size_t size) {
    large_hdr_t *h = live_hdr(p, kind, "realloc");
    size_t usable = h->map_size - h->offset;
    if (size <= usable && size >= usable / 2) { h->size = size; return p; }
    if (h->offset == LARGE_HDR && size > HAK_SMALL_MAX && size <= PTRDIFF_MAX - HAK_SS_SIZE) {
        size_t need = hak_align_up(LARGE_HDR + size, HAK_OS_PAGE);
        if (size > usable) {
            /* a resident cached mapping: copying into it is cheaper than
             * faulting in the new tail of a moved one */
            large_hdr_t *c = cache_take(need);
            if (c) {
                memcpy(c->user, p, h->size < size ? h->size : size);
                c->size = size;
                atomic_store_explicit(&c->live, 1, memory_order_relaxed);
                atomic_fetch_add_explicit(&n_allocs, 1, memory_order_relaxed);
                atomic_fetch_add_explicit(&active_bytes, c->map_size, memory_order_relaxed);
                hak_tls.large_allocated += c->map_size - c->offset;
                hak_large_free(p, kind);
                return c->user;
            }
        }
        large_hdr_t *n = remap(h, need, true);
        if (n) { n->size = size; return n->user; }
        if (size <= usable) { h->size = size; return p; }
    }
    return NULL; /* the caller allocates, copies and frees */
}

size_t hak_large_resize_in_place(void *p, unsigned kind, size_t size, size_t extra) {
    large_hdr_t *h = live_hdr(p, kind, "xallocx");
    size_t room = h->map_size - h->offset, max = PTRDIFF_MAX - h->offset - HAK_SS_SIZE;
    if (size <= max) {
        size_t want = extra > max - size ? max : size + extra;
        size_t need = hak_align_up(h->offset + want, HAK_OS_PAGE);
        if (want <= room) { /* fits: what the mapping holds beyond goes back */
            if (need < h->map_size) remap(h, need, false);
            h->size = want;
        } else if (remap(h, need, false)) {
            h->size = want;
        } else if (size <= room) {
            h->size = room;
        } else if (remap(h, hak_align_up(h->offset + size, HAK_OS_PAGE), false)) {
            h->size = size;
        }
    }
    return hak_align_up(h->size, HAK_OS_PAGE);
}

size_t hak_large_cache_purge(uint64_t now_ms, uint64_t delay_ms) {
    large_hdr_t *evict = NULL;
    pthread_mutex_lock(&large_lock);
    while (cache_tail && now_ms - cache_tail->freed_ms >= delay_ms) evict_oldest(&evict);
    pthread_mutex_unlock(&large_lock);
    return unmap_evicted(evict);
}

void hak_large_totals(hak_large_totals_t *out) {
    pthread_mutex_lock(&large_lock);
    out->cached = cache_count;
    out->cached_bytes = cache_bytes;
    pthread_mutex_unlock(&large_lock);
    out->allocs = atomic_load_explicit(&n_allocs, memory_order_relaxed);
    out->frees = atomic_load_explicit(&n_frees, memory_order_relaxed);
    out->active = out->allocs - out->frees;
    out->active_bytes = atomic_load_explicit(&active_bytes, memory_order_relaxed);
}

void hak_large_fork_prepare(void) { pthread_mutex_lock(&large_lock); }
void hak_large_fork_parent(void) { pthread_mutex_unlock(&large_lock); }
void hak_large_fork_child(void) { pthread_mutex_init(&large_lock, NULL); }
