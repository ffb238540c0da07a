/* The unified cache's slow side: the one refill path, and the flush. */
#include "heap.h"
#include "tcache.h"
#include "params.h"

const uintptr_t hak_cache_end[2] __attribute__((aligned(HAK_CACHE_LINK_ALIGN))) = {0, 0};

/* Every bin starts empty: its head is HAK_CACHE_END, not NULL. */
__thread hak_tls_t hak_tls __attribute__((tls_model("initial-exec"), visibility("hidden"))) = {
    .bin_by_page = {[0 ... HAK_NCLASSES] = {.head = HAK_CACHE_END}},
    .alloc_bin = {[0 ... HAK_NCLASSES] = {.head = HAK_CACHE_END}},
};

int32_t hak_tiny_bin_ref[HAK_TINY_MAX + 1];
size_t hak_tiny_end;

/* Points malloc's fast path at the free bins, or at the alloc bins while
 * the profiler samples (threads see the change at once; each applies it to
 * its bins at its next slow path, prof.c); the first call, at global
 * start-up, opens the fast path. */
void hak_tiny_table_point(bool alloc_bins) {
    intptr_t bias = HAK_TLS_BIAS + (alloc_bins ? HAK_ALLOC_BINS_AT : 0);
    /* int32: a static TLS block larger than 2 GiB cannot be loaded anyway */
    for (size_t size = 0; size <= HAK_TINY_MAX; size++)
        __atomic_store_n(&hak_tiny_bin_ref[size], (int32_t)(bias + (hak_tiny_class[size] + 1) * HAK_BIN_BYTES),
                         __ATOMIC_RELAXED);
    __atomic_store_n(&hak_tiny_end, (size_t)HAK_TINY_MAX + 1, __ATOMIC_RELEASE);
}

void hak_cache_link_corrupt(const void *p) {
    unsigned cls = hak_slab_of(p)->cls;
    hak_fatal("heap corruption detected near %p (thread-cache link of a freed class c%u block "
              "overwritten: written after free?)", p, cls);
}

/* A plain-linked chain of blocks, head .. tail, built by the refill. */
typedef struct chain {
    void *head, *tail;
} chain_t;

static inline void chain_add(chain_t *c, void *b) {
    if (c->tail) hak_cache_link(c->tail, b);
    else c->head = b;
    c->tail = b;
}

/* Takes up to k blocks from slab s's free list onto chain *c. */
static inline uint32_t take_list(slab_t *s, uint32_t k, chain_t *c) {
    void *b = s->free;
    if (!b) return 0;
    chain_t cc = *c;
    uint32_t n = 0;
    /* the slab's list and the cache's are encoded differently: rewrite as we go */
    hak_link_walk_t w = hak_link_walk(s);
    while (b && n < k) {
        void *next = hak_link_walk_next(&w, b);
        chain_add(&cc, b);
        b = next;
        n++;
    }
    s->free = b;
    *c = cc;
    return n;
}

/* Takes slab s's local list onto chain *c: whole if it fits in room blocks
 * (no link followed: its blocks may be cold, and each would be a cache miss
 * in turn), else its first k. */
static inline uint32_t take_local(slab_t *s, uint32_t k, uint32_t room, chain_t *c) {
    uint32_t n = s->nlocal;
    if (!n || !k) return 0;
    void *first = s->local, *last = s->local_tail;
    if (n > room) {
        hak_link_walk_t w = hak_link_walk(s);
        last = first;
        for (uint32_t i = 1; i < k; i++) last = hak_local_walk_next(&w, last);
        s->local = hak_local_walk_next(&w, last);
        n = k;
    } else {
        /* the tail's link, about to be rewritten, still says "none after"
         * (the one check a splice makes: each other link is checked when
         * the fast path pops it) */
        if (unlikely(*(uintptr_t *)last != hak_link_secret)) hak_link_corrupt(last, s->cls);
        s->local = s->local_tail = NULL;
    }
    s->nlocal = (uint16_t)(s->nlocal - n);
    if (c->tail) hak_cache_link(c->tail, first);
    else c->head = first;
    c->tail = last;
    return n;
}

/* The bit in s->clean of the page the block at b starts on (0 past the
 * mask's 16 pages): where it is set, linking the block would fault the page
 * in inside malloc. */
static inline uint32_t page_bit(const slab_t *s, const char *b) {
    uintptr_t page = (uintptr_t)(b - hak_run_start(s)) >> HAK_PAGE_SHIFT;
    return page < 16 ? 1u << page : 0;
}

/* Takes up to k blocks from slab s onto chain *out; *lazy tells that it
 * stopped carving at a page end.  Carving links fresh blocks by writing into
 * each, so it takes those starting on one 4 KiB page (at least 4): a refill
 * never faults in, or pulls into the cache, pages beyond the blocks it hands
 * out, and its cost stays a page's worth (mimalloc extends its free lists a
 * page at a time for the same reason).  Nor does it write into a page that
 * reads as zero (never touched, or purged): it stops before one, or, if
 * *lone allows and it has nothing else, takes that page's first block
 * alone, unlinked, for the malloc to hand out unwritten (*lone stays true).
 * The program's own first write faults the page in, as with jemalloc's
 * slabs, whose bookkeeping is outside the blocks, and the next refill finds
 * it resident.  The loops work on copies of the chain and of the slab's
 * fields: the stores into the blocks could alias them, and would make the
 * compiler reload them block by block. */
static uint32_t slab_take(heap_t *h, slab_t *s, uint32_t k, uint32_t room, chain_t *out, bool *lazy, bool *lone) {
    /* an empty slab the warm pool kept (or a new one) is in use again if
     * it gives a block (it may give none: see the clean pages below) */
    bool was_empty = s->used == 0;
    uint64_t carved_before = was_empty ? hak_slab_carved(s) : 0;
    chain_t c = *out;
    uint32_t n = take_local(s, k, room, &c);
    if (n < k) n += take_list(s, k - n, &c);
    uint32_t listed = n;
    char *bump = s->bump, *end = s->end;
    size_t size = hak_classes[s->cls].size;
    char *page_end = (char *)(((uintptr_t)bump | (HAK_PAGE_SIZE - 1)) + 1);
    char *limit = hak_max(page_end, bump + 4 * size);
    uint32_t clean = s->clean;
    /* blocks from an earlier slab of this refill, or from this one's lists */
    bool lone_ok = *lone, alone = false, have = c.head != NULL || n != 0;
    while (n < k && bump < end) {
        if (bump >= limit) {
            *lazy = true;
            break;
        }
        uint32_t bit = unlikely(clean) ? clean & page_bit(s, bump) : 0;
        if (bit) {
            if (have) { /* it waits for a refill with nothing else */
                *lazy = true;
                break;
            }
            clean &= ~bit;
            if (lone_ok) {
                chain_add(&c, bump); /* writes nothing: the chain was empty */
                bump += size;
                n = 1;
                alone = *lazy = true;
                break;
            }
        }
        chain_add(&c, bump);
        bump += size;
        n++;
        have = true;
    }
    s->clean = (uint16_t)clean;
    s->bump = bump;
    if (n > listed) hak_bump(&h->stats[s->cls].carved, n - listed);
    /* last, the pages a sparse slab gave back (slab_purge.c), one at a time,
     * each in a refill of its own: threading its blocks writes into it, so
     * its first block goes out alone where it may, as above */
    while (unlikely(n < k && s->purged && bump >= end && !alone)) {
        if (have && !(s->lone >> __builtin_ctz(s->purged) & 1)) {
            *lazy = true;
            break;
        }
        void *b = hak_slab_unpurge_page(s, lone_ok && !have);
        if (b) {
            chain_add(&c, b); /* writes nothing: the chain was empty */
            n = 1;
            alone = *lazy = true;
        } else {
            uint32_t got = take_list(s, k - n, &c);
            n += got;
            have = have || got != 0;
        }
    }
    *lone = alone;
    *out = c;
    if (was_empty && n) {
        hak_bump(&h->warm_empty[s->cls], (uint32_t)-1); /* stats.c reads it */
        hak_slab_unretain(h, s, carved_before);
    }
    s->used = (uint16_t)(s->used + n);
    if (unlikely(s->sparse)) hak_slab_sparse_recheck(s);
    if (!s->free && !s->nlocal && bump >= end && !s->purged) hak_warm_remove(h, s); /* nothing left: full */
    return n;
}

/* Remote frees come home at a refill (remote.c).  The notified slabs of
 * the refill's class give theirs, each slab's stack at once, straight into
 * the thread's bin while it has room: spliced, not walked, and still
 * counted as out of their slab (as if freed here), counted as refilled (a
 * free is a block in that no refill brought).  What does not fit goes onto
 * its slab (for an alloc bin, into the free bin first).  Slabs of other classes wait for their class's refill, or for
 * a purge interval to go by.  Returns the blocks spliced into bin. */
static uint32_t collect_remote(heap_t *h, hak_bin_t *bin, unsigned cls) {
    hak_tls_t *t = h->tls == &hak_tls ? &hak_tls : NULL;
    uint64_t pass = atomic_load_explicit(&hak_purge_passes, memory_order_relaxed);
    /* no cache (the dead threads' heap), or the oldest waiting frees have
     * seen a whole purge interval go by */
    if (!t || (h->remote_wait_mask && pass >= h->remote_wait_pass + 2)) {
        hak_remote_collect(h);
        return 0;
    }
    if (!h->remote_wait_mask) h->remote_wait_pass = pass;
    hak_remote_sort(h);
    if (!(h->remote_wait_mask >> cls & 1)) return 0;
    /* The free bin may overshoot its capacity (mallocs take it down); an
     * alloc bin (profiling) takes no more than its capacity, which stops
     * short of the next sample point; a caller's own bin takes nothing
     * spliced: all to the slabs. */
    bool own = bin == hak_bin(t, cls), alloc = bin == hak_alloc_bin(t, cls);
    uint32_t got = 0, count = own ? hak_bin_count(t, cls) : alloc ? hak_alloc_bin_count(t, cls) : 0;
    uint32_t cap = own ? t->cap[cls] : alloc ? t->alloc_cap[cls] : 0, most = own ? 2 * cap : cap;
    /* what an alloc bin has no room for goes into the free bin, as the
     * thread's own frees do, for the next fill (a producer's blocks, freed
     * by its consumers, went through the slabs) */
    hak_bin_t *spill = alloc ? hak_bin(t, cls) : NULL;
    uint32_t spill_count = spill ? hak_bin_count(t, cls) : 0, spill_most = spill ? 2 * t->cap[cls] : 0;
    uint32_t spilled = 0;
    slab_t *s = h->remote_wait[cls];
    while (s && (count < cap || cap == 0 || spill_count < spill_most)) {
        slab_t *next = s->notify_next; /* before the take: a push may reuse it after */
        void *first, *last;
        uint32_t n = hak_remote_take(s, &first, &last);
        hak_bin_t *to = count + n <= most ? bin : spill_count + n <= spill_most ? spill : NULL;
        if (to) {
            hak_cache_link(last, to->head);
            to->head = first;
            hak_bin_gave(to, n);
            if (to == bin) count += n, got += n;
            else spill_count += n, spilled += n;
        } else {
            hak_remote_to_slab(h, s, first, last, n);
        }
        s = next;
    }
    h->remote_wait[cls] = s;
    if (!s) h->remote_wait_mask &= ~((uint64_t)1 << cls);
    hak_bump(&h->stats[cls].refill_blocks, got + spilled);
    return got;
}

void *hak_refill(heap_t *h, hak_bin_t *bin, unsigned cls, uint32_t want) {
    return hak_refill_room(h, bin, cls, want, want);
}

static void *refill(heap_t *h, hak_bin_t *bin, unsigned cls, uint32_t want, uint32_t room, bool lone_ok);

void *hak_refill_room(heap_t *h, hak_bin_t *bin, unsigned cls, uint32_t want, uint32_t room) {
    return refill(h, bin, cls, want, room, false);
}

void *hak_refill_malloc(heap_t *h, hak_bin_t *bin, unsigned cls, uint32_t want, uint32_t room) {
    return refill(h, bin, cls, want, room, true);
}

static void *refill(heap_t *h, hak_bin_t *bin, unsigned cls, uint32_t want, uint32_t room, bool lone_ok) {
    uint32_t spliced = hak_remote_any(h) ? collect_remote(h, bin, cls) : 0;
    hak_heap_poll(h);
    if (spliced) {
        hak_bump(&h->stats[cls].refills, 1);
        return bin->head;
    }
    if (want == 0) want = 1;
    if (room < want) room = want;
    chain_t c = {NULL, NULL};
    uint32_t got = 0;
    bool lazy = false, lone = false;
    while (got < want && !lazy) {
        slab_t *s = hak_warm_refill_slab(h, cls);
        if (!s) break; /* out of memory: hand out what we have */
        lone = lone_ok && got == 0;
        got += slab_take(h, s, want - got, room - got, &c, &lazy, &lone);
    }
    if (!got) return NULL;
    hak_class_stats_t *st = &h->stats[cls];
    hak_bump(&st->refills, 1);
    hak_bump(&st->refill_blocks, got);
    if (lone) { /* in and out at once, never in the bin */
        hak_bin_gave(bin, 1);
        hak_bin_took(bin, 1);
        return c.head;
    }
    hak_cache_link(c.tail, bin->head);
    bin->head = c.head;
    hak_bin_gave(bin, got);
    return c.head;
}

/* Hands a run of blocks (first .. last, all of slab s, linked as in the
 * cache) back to the slab: onto its local list if s is h's, else onto its
 * remote stack. */
static void give_back(heap_t *h, slab_t *s, void *first, void *last, uint32_t n) {
    if (s->owner == h) {
        hak_slab_put_cached(h, s, first, last, n);
    } else {
        hak_bump(&h->stats[s->cls].remote_frees, n);
        hak_remote_push(s, first, last, n);
    }
}

/* The blocks after last in a cache list, while they are of slab s (up to
 * *left of them; one range test and a load each): returns the new last;
 * *next gets the block after it. */
static inline void *run_extend(slab_t *s, void *last, void **next, uint32_t *left, uintptr_t secret) {
    uintptr_t start = (uintptr_t)hak_run_start(s), span = (uintptr_t)s->end - start;
    void *b = *next;
    uint32_t k = *left;
    while (k && (uintptr_t)b - start < span) {
        last = b;
        b = (void *)(*(uintptr_t *)b ^ secret);
        k--;
    }
    *next = b;
    *left = k;
    return last;
}

void hak_flush(heap_t *h, hak_bin_t *bin, unsigned cls, uint32_t n) {
    if (n == 0) return;
    uintptr_t secret = hak_link_secret;
    void *b = bin->head;
    uint32_t left = n;
    /* consecutive blocks of one slab travel together, linked as they are:
     * nothing is written into the blocks */
    while (left) {
        slab_t *s = hak_slab_of(b);
        void *first = b, *next = (void *)(*(uintptr_t *)b ^ secret);
        uint32_t before = --left;
        void *last = run_extend(s, b, &next, &left, secret);
        give_back(h, s, first, last, before - left + 1);
        b = next;
    }
    bin->head = b;
    hak_bin_took(bin, n);
    hak_class_stats_t *st = &h->stats[cls];
    hak_bump(&st->flushes, 1);
    hak_bump(&st->flush_blocks, n);
}

/* The alloc bins' blocks (profiling, tcache.h) go home too; the sampler
 * counted them as allocated in advance, and gets their bytes back. */
void hak_tcache_flush_alloc_bins(heap_t *h) {
    hak_tls_t *t = &hak_tls;
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++) {
        uint32_t n = hak_alloc_bin_count(t, cls);
        if (!n) continue;
        h->cache.prof_left[cls] += (int64_t)n * hak_classes[cls].size;
        hak_flush(h, hak_alloc_bin(t, cls), cls, n);
    }
}

void hak_tcache_flush_all(heap_t *h) {
    hak_tls_t *t = &hak_tls;
    hak_remote_collect(h); /* remote frees waiting for a refill go home too */
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++) hak_flush(h, hak_bin(t, cls), cls, hak_bin_count(t, cls));
    hak_tcache_flush_alloc_bins(h);
}
