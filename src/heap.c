/* Heap lifecycle: a thread gets a heap at its first slow-path call (adopting
 * an abandoned one if any), gives it up at exit, and after its own
 * destructor ran it allocates through a shared, locked heap. */
#include "heap.h"
#include "tcache.h"
#include "init.h"
#include "os.h"
#include "params.h"
#include "purge.h"
#include <string.h>

heap_t *_Atomic hak_heaps_all;
pthread_mutex_t hak_heaps_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_key_t hak_thread_key;
uint64_t hak_flush_request;
static heap_t *abandoned; /* under hak_heaps_lock */
static unsigned next_heap_id;

/* Threads that already ran their destructor share this heap, one at a time. */
static pthread_mutex_t dead_lock = PTHREAD_MUTEX_INITIALIZER;
static heap_t *dead_heap;

static heap_t *heap_new(void) { /* under hak_heaps_lock */
    heap_t *h = hak_meta_alloc(sizeof *h);
    if (!h) return NULL;
    h->id = next_heap_id++;
    h->all_next = atomic_load_explicit(&hak_heaps_all, memory_order_relaxed);
    atomic_store_explicit(&hak_heaps_all, h, memory_order_release);
    return h;
}

void hak_heap_apply_params(heap_t *h) {
    h->params_epoch = __atomic_load_n(&hak_params.epoch, __ATOMIC_ACQUIRE);
    uint64_t flush = __atomic_load_n(&hak_flush_request, __ATOMIC_RELAXED);
    if (h->tls && flush != h->flush_seen) {
        h->flush_seen = flush;
        hak_tcache_flush_all(h);
    }
    if (h->tls) {
        /* full checks need every free on the slow path: no caching then */
        bool checks = hak_checks_on();
        hak_tls_t *t = h->tls;
        for (unsigned cls = 0; cls < HAK_NCLASSES; cls++) {
            hak_bin_t *b = hak_bin(t, cls);
            h->cache.full_cap[cls] = checks ? 0 : hak_class_capacity(cls);
            hak_bin_set_cap(t, cls, h->cache.full_cap[cls]);
            b->nmagic = hak_block_nmagic(cls);
            b->nmask = hak_block_nmask(cls);
            uint32_t count = hak_bin_count(t, cls);
            if (count > t->cap[cls]) hak_flush(h, b, cls, count - t->cap[cls]);
        }
    }
    hak_warm_trim(h);
}

/* thread.cache.flush: the cache goes home, and the thread takes up the
 * current tunables now rather than at its next refill. */
void hak_thread_cache_flush(void) {
    if (hak_tls.state != HAK_THREAD_ACTIVE) return;
    hak_heap_apply_params(hak_tls.heap);
    hak_tcache_flush_all(hak_tls.heap);
}

static void thread_exit(void *arg);

static void stash_adopt(heap_t *h);
static void flush_detached(heap_t *h, unsigned cls, void *head, uint32_t n);

heap_t *hak_thread_init(void) {
    hak_global_init();
    pthread_mutex_lock(&hak_heaps_lock);
    heap_t *h = abandoned;
    if (h) abandoned = h->abandoned_next;
    else h = heap_new();
    if (h) {
        h->abandoned_next = NULL;
        h->state = HAK_HEAP_ACTIVE;
        h->tls = &hak_tls;
        memset(&h->cache, 0, sizeof h->cache);
        for (unsigned c = 0; c < HAK_NCLASSES; c++) {
            h->thread_base_refill[c] = h->stats[c].refill_blocks;
            h->thread_base_flush[c] = h->stats[c].flush_blocks;
        }
        stash_adopt(h); /* under the lock, for statistics taken meanwhile */
    }
    pthread_mutex_unlock(&hak_heaps_lock);
    if (!h) return NULL;
    hak_tls.heap = h;
    hak_tls.state = HAK_THREAD_ACTIVE;
    /* the sampler looks again, now that there are alloc bins to draw the
     * classes' sample points for (prof_sampler.c) */
    hak_tls.prof_mode = 0;
    hak_tls.prof_epoch = 0;
    hak_heap_apply_params(h);
    /* the key is small, so glibc stores the value without allocating; if it
     * did allocate, the thread is already usable */
    pthread_setspecific(hak_thread_key, h);
    return h;
}

/* A thread leaves its cached blocks with its heap (heap->stash) rather than
 * sending them home: short threads (servers, Larson) hand their heap on
 * within microseconds, and the next thread starts with a warm cache instead
 * of refilling what was just flushed.  The blocks stay counted as freed and
 * cached; a stash nobody adopts within purge.delay_ms goes home with the
 * purger's next pass (stash_flush), or at once with the purge action. */
static void thread_exit(void *arg) {
    heap_t *h = arg;
    if (!h || hak_tls.heap != h) return;
    bool stash = hak_load(&hak_params.background_thread) != 0; /* else nobody would flush it */
    if (!stash) hak_tcache_flush_all(h), hak_heap_flush_alloc_stash(h);
    pthread_mutex_lock(&hak_heaps_lock);
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++) {
        hak_bin_t *b = hak_bin(&hak_tls, cls), *a = hak_alloc_bin(&hak_tls, cls);
        hak_bump(&h->dead_in[cls], hak_cache_in(&hak_tls, cls));
        hak_bump(&h->dead_out[cls], hak_cache_out(&hak_tls, cls));
        h->stash_n[cls] = hak_bin_count(&hak_tls, cls);
        h->stash[cls] = b->head;
        b->head = HAK_CACHE_END;
        /* the alloc bins too, unflushed: walking their cold blocks home
         * made a sampled Larson 6 times slower */
        uint32_t na = hak_alloc_bin_count(&hak_tls, cls);
        if (na && h->stash_alloc_n[cls]) flush_detached(h, cls, a->head, na); /* not expected */
        else if (na) h->stash_alloc[cls] = a->head, hak_store(&h->stash_alloc_n[cls], na);
        a->head = HAK_CACHE_END;
        hak_store(&hak_tls.cap[cls], 0);
        hak_store(&b->in, 0);
        hak_store(&b->room, 0);
        hak_store(&hak_tls.alloc_cap[cls], 0);
        hak_store(&a->in, 0);
        hak_store(&a->room, 0);
    }
    h->tls = NULL;
    h->abandoned_ms = hak_now_ms();
    h->state = HAK_HEAP_ABANDONED;
    h->abandoned_next = abandoned;
    abandoned = h;
    pthread_mutex_unlock(&hak_heaps_lock);
    hak_purge_note(); /* its stash goes home after purge.delay_ms */
    hak_tls.heap = NULL;
    hak_tls.state = HAK_THREAD_DEAD;
    hak_tls.prof_mode = 0; /* its alloc bins are gone */
    hak_tls.prof_epoch = 0;
}

void hak_global_key_create(void) {
    pthread_key_create(&hak_thread_key, thread_exit);
}

/* Sends n blocks, linked as in a thread cache from head, home to their slabs
 * on behalf of h, from a cache no live thread has (a dead thread's free, an
 * unadopted stash): counted as a flush out of h's dead caches. */
static void flush_detached(heap_t *h, unsigned cls, void *head, uint32_t n) {
    hak_bin_t tmp = {.head = head, .in = n, .room = 0};
    hak_flush(h, &tmp, cls, n);
    hak_bump(&h->dead_out[cls], n);
}

static heap_t *dead_heap_get(void) { /* under dead_lock */
    if (!dead_heap) {
        pthread_mutex_lock(&hak_heaps_lock);
        dead_heap = heap_new();
        if (dead_heap) dead_heap->state = HAK_HEAP_ACTIVE;
        pthread_mutex_unlock(&hak_heaps_lock);
    }
    return dead_heap;
}

void *hak_dead_thread_alloc(unsigned cls) {
    pthread_mutex_lock(&dead_lock);
    heap_t *h = dead_heap_get();
    void *p = NULL;
    if (h) {
        hak_bin_t tmp = {.head = HAK_CACHE_END, .room = 1};
        if (hak_heap_params_stale(h)) hak_heap_apply_params(h);
        p = hak_refill(h, &tmp, cls, 1);
        if (p) hak_bump(&h->dead_out[cls], 1), hak_bump(&h->dead_in[cls], 1);
    }
    pthread_mutex_unlock(&dead_lock);
    return p;
}

void hak_dead_thread_free(void *p, unsigned cls) {
    pthread_mutex_lock(&dead_lock);
    heap_t *h = dead_heap_get();
    hak_cache_link(p, HAK_CACHE_END);
    hak_bump(&h->dead_in[cls], 1);
    flush_detached(h, cls, p, 1);
    pthread_mutex_unlock(&dead_lock);
}

/* Abandoned heaps have no thread to drain their remote frees; the purger
 * does it for them, holding the lock that adoption takes. */
/* One stashed list of class cls (*list, *n blocks) goes home: counted as a
 * flush, the blocks leave the (dead) cache. */
static void stash_list_flush(heap_t *h, unsigned cls, void **list, uint32_t *n) {
    if (!*n) return;
    flush_detached(h, cls, *list, *n);
    *list = HAK_CACHE_END;
    hak_store(n, 0);
}

/* One stashed list into the calling thread's bin b (empty): counted as a
 * refill, so neither the heap's totals nor the thread's own counts change. */
static void stash_list_adopt(heap_t *h, unsigned cls, hak_bin_t *b, void **list, uint32_t *n) {
    b->head = *list;
    hak_bin_gave(b, *n);
    hak_bump(&h->dead_in[cls], (uint64_t)0 - *n);
    h->thread_base_refill[cls] -= *n;
    *list = HAK_CACHE_END;
    hak_store(n, 0);
}

/* An abandoned heap's stash goes home (under hak_heaps_lock: the heap is
 * nobody's). */
static void stash_flush(heap_t *h) {
    hak_heap_flush_alloc_stash(h);
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++) stash_list_flush(h, cls, &h->stash[cls], &h->stash_n[cls]);
}

/* The new thread of heap h takes its stash into its cache (its free bins:
 * their counts start at 0). */
static void stash_adopt(heap_t *h) {
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++)
        if (h->stash_n[cls]) stash_list_adopt(h, cls, hak_bin(&hak_tls, cls), &h->stash[cls], &h->stash_n[cls]);
}

void hak_heap_flush_alloc_stash(heap_t *h) {
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++)
        stash_list_flush(h, cls, &h->stash_alloc[cls], &h->stash_alloc_n[cls]);
}

void hak_heap_take_alloc_stash(heap_t *h) {
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++)
        /* (a thread's first look finds its alloc bins empty; were one not,
         * the stash would wait for the thread's exit, which sends it home) */
        if (h->stash_alloc_n[cls] && !hak_alloc_bin_count(&hak_tls, cls))
            stash_list_adopt(h, cls, hak_alloc_bin(&hak_tls, cls), &h->stash_alloc[cls], &h->stash_alloc_n[cls]);
}

void hak_heap_collect_abandoned(uint64_t now, uint64_t delay_ms) {
    pthread_mutex_lock(&hak_heaps_lock);
    for (heap_t *h = abandoned; h; h = h->abandoned_next) {
        if (now >= h->abandoned_ms + delay_ms) stash_flush(h);
        if (hak_remote_any(h)) hak_remote_collect(h);
        hak_warm_trim(h);
        if (h->sparse_pending) hak_heap_purge_sparse(h, now, delay_ms);
        if (h->retained_pending) hak_warm_release_idle(h, now, delay_ms);
    }
    pthread_mutex_unlock(&hak_heaps_lock);
    pthread_mutex_lock(&dead_lock);
    if (dead_heap && hak_remote_any(dead_heap))
        hak_remote_collect(dead_heap);
    pthread_mutex_unlock(&dead_lock);
}

/* fork: the child keeps only the forking thread.  Heaps of the other threads
 * may have been mid-update, so the child never adopts them (ghosts): their
 * blocks stay valid, frees to them just go onto remote lists. */
void hak_heaps_fork_prepare(void) {
    pthread_mutex_lock(&dead_lock);
    pthread_mutex_lock(&hak_heaps_lock);
}

void hak_heaps_fork_parent(void) {
    pthread_mutex_unlock(&hak_heaps_lock);
    pthread_mutex_unlock(&dead_lock);
}

void hak_heaps_fork_child(void) {
    pthread_mutex_init(&hak_heaps_lock, NULL);
    pthread_mutex_init(&dead_lock, NULL);
    for (heap_t *h = atomic_load_explicit(&hak_heaps_all, memory_order_relaxed); h; h = h->all_next) {
        if (h->state == HAK_HEAP_ACTIVE && h != hak_tls.heap && h != dead_heap) {
            h->state = HAK_HEAP_GHOST;
            h->tls = NULL;
        }
    }
}
