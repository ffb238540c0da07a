/* The page pool (page_pool.h).  Free runs sit in lists by length: one list
 * per length up to 127 pages, then one per power of two; a request takes
 * the smallest run that fits (and, for a slab, holds an aligned range), the
 * most recently freed first, since its pages are the likeliest to be
 * resident.  What is left of the run goes back as a run of its own.  A
 * SuperSlab left with no page in use goes back to the chunk heap, where its
 * chunk may join free neighbours for a huge block; one is kept, against
 * churn.
 *
 * Everything here is under one lock, never held across a system call:
 * purging takes the runs to purge out of the lists, drops the lock for
 * madvise and puts them back; a new SuperSlab is made unlocked. */
#include "page_pool.h"
#include "decay.h"
#include "os.h"
#include "params.h"
#include "purge.h"
#include <errno.h>
#include <string.h>

#define EXACT 128 /* lists of runs of 1 .. EXACT-1 pages */
#define NBIG  26  /* runs of EXACT pages and more, by floor(log2(pages)) */
#define SCAN  8   /* candidates tried per list before a longer list */

typedef struct free_index {
    slab_t *exact[EXACT];
    slab_t *big[NBIG];
    uint64_t exact_bits[EXACT / 64];
    uint32_t big_bits;
} free_index_t;

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static free_index_t pool;                 /* free runs */
static superslab_t *all_ss;               /* every SuperSlab mapped */
static slab_t *spare_desc;                /* descriptors not in use */
static hak_decay_t decay;
static uint64_t n_ss, n_empty, free_pages, dirty_total;
static superslab_t *kept;                 /* the one empty SuperSlab kept */
static _Atomic uint64_t purged_bytes;

/* ---- descriptors ---------------------------------------------------------- */
static slab_t *desc_new(void) {
    if (!spare_desc) {
        enum { BATCH = 64 };
        slab_t *d = hak_meta_alloc(BATCH * sizeof(slab_t));
        if (!d) return NULL;
        for (int i = 0; i < BATCH; i++) {
            d[i].next = spare_desc;
            spare_desc = &d[i];
        }
    }
    slab_t *d = spare_desc;
    spare_desc = d->next;
    memset(d, 0, sizeof *d);
    return d;
}

static void desc_put(slab_t *d) {
    d->ss = NULL; /* a stale page entry pointing here no longer matches */
    hak_store(&d->state, HAK_RUN_FREE);
    d->next = spare_desc;
    spare_desc = d;
}

/* ---- dirty bits --------------------------------------------------------------- */
/* Words are written under the pool's lock, but a purge reads its runs' bits
 * without it while neighbours' bits change: relaxed atomics, no RMW needed. */
static bool bit(const uint64_t *m, uint32_t i) { return hak_load(&m[i / 64]) >> (i % 64) & 1; }

/* Sets (on) or clears the bits [lo, hi); returns how many were set before. */
static uint32_t bits_assign(uint64_t *m, uint32_t lo, uint32_t hi, bool on) {
    uint32_t n = 0;
    while (lo < hi) {
        uint32_t w = lo / 64, b = lo % 64, k = hi - lo < 64 - b ? hi - lo : 64 - b;
        uint64_t mask = (k == 64 ? ~(uint64_t)0 : (((uint64_t)1 << k) - 1)) << b;
        uint64_t v = hak_load(&m[w]);
        n += (uint32_t)__builtin_popcountll(v & mask);
        hak_store(&m[w], on ? v | mask : v & ~mask);
        lo += k;
    }
    return n;
}

static bool any_bit(const uint64_t *m, uint32_t lo, uint32_t hi) {
    for (; lo < hi && lo % 64; lo++)
        if (bit(m, lo)) return true;
    for (; lo + 64 <= hi; lo += 64)
        if (hak_load(&m[lo / 64])) return true;
    for (; lo < hi; lo++)
        if (bit(m, lo)) return true;
    return false;
}

static void dirty_add(superslab_t *ss, int64_t n) {
    if (ss->dirty_pages == 0 && n > 0) {
        ss->dirty_since_ms = hak_now_ms();
        hak_purge_note(); /* decay returns them over purge.decay_ms */
    }
    ss->dirty_pages = (uint32_t)((int64_t)ss->dirty_pages + n);
    dirty_total = (uint64_t)((int64_t)dirty_total + n);
}

static uint32_t usable_pages(const superslab_t *ss) { return ss->npages - ss->data_first; }

/* Pages of ss became free or used: keeps the count of empty SuperSlabs. */
static void free_pages_add(superslab_t *ss, int64_t n) {
    bool was_empty = ss->free_pages == usable_pages(ss);
    ss->free_pages = (uint32_t)((int64_t)ss->free_pages + n);
    free_pages = (uint64_t)((int64_t)free_pages + n);
    bool empty = ss->free_pages == usable_pages(ss);
    n_empty += (uint64_t)((int)empty - (int)was_empty);
}

/* ---- the lists ---------------------------------------------------------------- */
static free_index_t *index_of(const superslab_t *ss) { (void)ss; return &pool; }

static unsigned big_bucket(uint32_t n) { return (unsigned)(31 - __builtin_clz(n)); }

static slab_t **list_of(free_index_t *ix, uint32_t n) {
    return n < EXACT ? &ix->exact[n] : &ix->big[big_bucket(n)];
}

static void list_push(free_index_t *ix, slab_t *r) {
    slab_t **l = list_of(ix, r->npages);
    r->prev = NULL;
    r->next = *l;
    if (*l) (*l)->prev = r;
    *l = r;
    if (r->npages < EXACT) ix->exact_bits[r->npages / 64] |= (uint64_t)1 << (r->npages % 64);
    else ix->big_bits |= 1u << big_bucket(r->npages);
}

static void list_remove(free_index_t *ix, slab_t *r) {
    slab_t **l = list_of(ix, r->npages);
    if (r->prev) r->prev->next = r->next;
    else *l = r->next;
    if (r->next) r->next->prev = r->prev;
    r->next = r->prev = NULL;
    if (!*l) {
        if (r->npages < EXACT) ix->exact_bits[r->npages / 64] &= ~((uint64_t)1 << (r->npages % 64));
        else ix->big_bits &= ~(1u << big_bucket(r->npages));
    }
}

/* Records r as the run of its pages: every page for a run in use (its blocks
 * are looked up from anywhere inside), the two ends for a free one (all a
 * neighbour's coalescing needs). */
static void map_run(slab_t *r, bool all) {
    superslab_t *ss = r->ss;
    if (all) {
        for (uint32_t i = 0; i < r->npages; i++)
            __atomic_store_n(&ss->page_run[r->page + i], r, __ATOMIC_RELEASE);
    } else {
        __atomic_store_n(&ss->page_run[r->page], r, __ATOMIC_RELEASE);
        __atomic_store_n(&ss->page_run[r->page + r->npages - 1], r, __ATOMIC_RELEASE);
    }
}

/* Files free run r, whose neighbours are not free, in its list. */
static void file_free(slab_t *r) {
    superslab_t *ss = r->ss;
    hak_store(&r->state, HAK_RUN_FREE);
    r->zeroed = !any_bit(ss->dirty, r->page, r->page + r->npages);
    map_run(r, false);
    list_push(index_of(ss), r);
}

/* Inserts free run r, merged with its free neighbours (r's pages are
 * already counted as free). */
static void insert_free(slab_t *r) {
    superslab_t *ss = r->ss;
    free_index_t *ix = index_of(ss);
    hak_store(&r->state, HAK_RUN_FREE);
    if (r->page > ss->data_first) {
        slab_t *left = ss->page_run[r->page - 1];
        if (left && hak_load(&left->state) == HAK_RUN_FREE && left->ss == ss && left->page + left->npages == r->page) {
            list_remove(ix, left);
            r->page = left->page;
            r->npages += left->npages;
            desc_put(left);
        }
    }
    uint32_t end = r->page + r->npages;
    if (end < ss->npages) {
        slab_t *right = ss->page_run[end];
        if (right && hak_load(&right->state) == HAK_RUN_FREE && right->ss == ss && right->page == end) {
            list_remove(ix, right);
            r->npages += right->npages;
            desc_put(right);
        }
    }
    file_free(r);
}

/* ---- SuperSlabs in and out ------------------------------------------------------ */
/* Adds a new SuperSlab's pages to the pool (under the lock). */
static void ss_add(superslab_t *ss, slab_t *r) {
    ss->all_next = all_ss;
    ss->all_prev = NULL;
    if (all_ss) all_ss->all_prev = ss;
    all_ss = ss;
    n_ss++;
    r->ss = ss;
    r->page = ss->data_first;
    r->npages = usable_pages(ss);
    ss->free_pages = 0;
    free_pages_add(ss, r->npages);
    uint32_t dirty = 0; /* a reused chunk's pages may be resident (hak_ss_new) */
    for (uint32_t i = r->page; i < r->page + r->npages; i++) dirty += bit(ss->dirty, i);
    if (dirty) dirty_add(ss, dirty);
    insert_free(r);
}

/* Takes an empty SuperSlab out of the pool (under the lock), for the chunk
 * heap; returns whether its pages may be resident. */
static bool ss_remove(superslab_t *ss) {
    slab_t *r = ss->page_run[ss->data_first];
    list_remove(index_of(ss), r);
    desc_put(r);
    if (ss->all_prev) ss->all_prev->all_next = ss->all_next;
    else all_ss = ss->all_next;
    if (ss->all_next) ss->all_next->all_prev = ss->all_prev;
    n_ss--;
    bool dirty = ss->dirty_pages != 0;
    dirty_add(ss, -(int64_t)ss->dirty_pages);
    free_pages_add(ss, -(int64_t)ss->free_pages);
    if (kept == ss) kept = NULL;
    return dirty;
}

/* ss has no page in use any more (under the lock): the first such stays,
 * against churn; the others go back to the chunk heap (*out, linked by
 * all_next, deleted once the lock is dropped). */
static void ss_now_empty(superslab_t *ss, superslab_t **out) {
    if (!kept) {
        kept = ss;
        return;
    }
    if (kept == ss) return;
    ss->chunk.dirty = ss_remove(ss);
    ss->all_next = *out;
    *out = ss;
}

static void delete_all(superslab_t *gone) {
    while (gone) {
        superslab_t *ss = gone;
        gone = ss->all_next;
        hak_ss_delete(ss, ss->chunk.dirty);
    }
}

/* ---- taking runs ------------------------------------------------------------------ */
/* The first page at or after r's start, within r, whose address is a
 * multiple of align pages, if n pages fit from there. */
static bool fits(const slab_t *r, uint32_t n, size_t align, uint32_t *at) {
    uintptr_t start = (uintptr_t)hak_run_start(r);
    uintptr_t a = hak_align_up(start, align << HAK_PAGE_SHIFT);
    uint32_t first = r->page + (uint32_t)((a - start) >> HAK_PAGE_SHIFT);
    if (first < r->page || (uint64_t)first + n > (uint64_t)r->page + r->npages) return false;
    *at = first;
    return true;
}

static slab_t *find(free_index_t *ix, uint32_t n, size_t align, uint32_t *at) {
    for (uint32_t len = n; len < EXACT; len++) {
        uint64_t w = ix->exact_bits[len / 64] >> (len % 64);
        if (!w) { len |= 63; continue; } /* nothing more in this word */
        len += (uint32_t)__builtin_ctzll(w);
        if (len >= EXACT) break;
        unsigned k = 0;
        for (slab_t *r = ix->exact[len]; r && k < SCAN; r = r->next, k++)
            if (fits(r, n, align, at)) return r;
    }
    for (unsigned b = big_bucket(n < EXACT ? EXACT : n); b < NBIG; b++) {
        if (!(ix->big_bits >> b & 1)) continue;
        slab_t *best = NULL;
        uint32_t best_at = 0, a;
        unsigned k = 0;
        for (slab_t *r = ix->big[b]; r && k < 4 * SCAN; r = r->next, k++)
            if (r->npages >= n && (!best || r->npages < best->npages) && fits(r, n, align, &a))
                best = r, best_at = a;
        if (best) {
            *at = best_at;
            return best;
        }
    }
    return NULL;
}

/* Cuts [at, at + n) out of free run r, already out of its list; what is
 * left on either side goes back free, in a descriptor of its own, with no
 * merge to try: a free run's neighbours are never free, and the range cut
 * out is in use.  Returns r, now describing the range, in the given state;
 * NULL, r unchanged, if no descriptor was to be had. */
static slab_t *carve(slab_t *r, uint32_t at, uint32_t n, unsigned state) {
    superslab_t *ss = r->ss;
    uint32_t start = r->page, end = r->page + r->npages;
    slab_t *left = NULL, *right = NULL;
    if ((at > start && !(left = desc_new())) || (at + n < end && !(right = desc_new()))) {
        if (left) desc_put(left);
        return NULL;
    }
    hak_store(&r->state, (uint8_t)state); /* in use: the pieces left over must not merge back into it */
    if (ss == kept) kept = NULL;
    r->page = at;
    r->npages = n;
    free_pages_add(ss, -(int64_t)n);
    uint16_t clean = 0;
    for (uint32_t i = 0; i < n && i < 16; i++) clean |= (uint16_t)(!bit(ss->dirty, at + i) << i);
    r->clean = clean;
    uint32_t was_dirty = bits_assign(ss->dirty, at, at + n, false);
    if (was_dirty) dirty_add(ss, -(int64_t)was_dirty);
    r->zeroed = was_dirty == 0;
    if (left) {
        left->ss = ss;
        left->page = start;
        left->npages = at - start;
        file_free(left);
    }
    if (right) {
        right->ss = ss;
        right->page = at + n;
        right->npages = end - at - n;
        file_free(right);
    }
    return r;
}

slab_t *hak_pages_alloc(size_t npages, size_t align, unsigned state) {
    if (npages == 0 || npages > HAK_SS_DATA_PAGES || align > HAK_SS_PAGES) { errno = ENOMEM; return NULL; }
    uint32_t n = (uint32_t)npages, at = 0;
    slab_t *r = NULL, *spare = NULL;
    superslab_t *fresh = NULL;
    pthread_mutex_lock(&pool_lock);
    for (;;) {
        if ((r = find(&pool, n, align, &at)) != NULL) break;
        if (fresh) { /* made below, unlocked: its pages join the pool */
            ss_add(fresh, spare);
            fresh = NULL;
            spare = NULL;
            continue;
        }
        if (!spare && !(spare = desc_new())) break;
        pthread_mutex_unlock(&pool_lock);
        fresh = hak_ss_new();
        pthread_mutex_lock(&pool_lock);
        if (!fresh) break;
    }
    if (r) {
        list_remove(&pool, r);
        slab_t *cut = carve(r, at, n, state);
        if (cut) map_run(cut, true);
        else list_push(&pool, r); /* no descriptor for a piece: still free */
        r = cut;
    }
    if (spare) desc_put(spare);
    pthread_mutex_unlock(&pool_lock);
    if (!r) { errno = ENOMEM; return NULL; }
    /* the descriptor's other fields start at zero */
    r->free = NULL;
    atomic_store_explicit(&r->remote, 0, memory_order_relaxed);
    r->next = r->prev = r->notify_next = NULL;
    r->owner = NULL;
    r->bump = NULL;
    r->end = hak_run_start(r) + ((size_t)n << HAK_PAGE_SHIFT);
    r->used = r->capacity = 0;
    r->cls = 0;
    r->sparse = 0;
    r->purged = r->lone = 0;
    r->since_ms = 0;
    r->size = 0;
    return r;
}

/* Run r's pages are free now (r out of any list); an emptied SuperSlab
 * goes onto *gone. */
static void release(slab_t *r, superslab_t **gone) {
    superslab_t *ss = r->ss;
    uint32_t now_dirty = r->npages - bits_assign(ss->dirty, r->page, r->page + r->npages, true);
    if (now_dirty) dirty_add(ss, now_dirty);
    hak_decay_freed(&decay, r->npages);
    free_pages_add(ss, r->npages);
    r->owner = NULL;
    insert_free(r);
    if (ss->free_pages == usable_pages(ss)) ss_now_empty(ss, gone);
}

bool hak_pages_free(slab_t *r, unsigned state) {
    superslab_t *gone = NULL;
    pthread_mutex_lock(&pool_lock);
    bool ok = hak_load(&r->state) == state && r->ss;
    if (ok) release(r, &gone);
    pthread_mutex_unlock(&pool_lock);
    delete_all(gone);
    return ok;
}

bool hak_pages_grow(slab_t *r, size_t npages) {
    if (npages <= r->npages) return true;
    if (npages > UINT32_MAX / 4) return false;
    pthread_mutex_lock(&pool_lock);
    superslab_t *ss = r->ss;
    uint32_t end = r->page + r->npages, want = (uint32_t)npages - r->npages;
    slab_t *right = end < ss->npages ? ss->page_run[end] : NULL;
    bool ok = right && hak_load(&right->state) == HAK_RUN_FREE && right->ss == ss && right->page == end &&
              right->npages >= want;
    if (ok) {
        list_remove(index_of(ss), right);
        ok = carve(right, end, want, r->state) != NULL;
        if (!ok) list_push(index_of(ss), right); /* no descriptor for the rest: still free */
    }
    if (ok) {
        desc_put(right);
        r->npages += want;
        r->end = hak_run_start(r) + ((size_t)r->npages << HAK_PAGE_SHIFT);
        map_run(r, true);
    }
    pthread_mutex_unlock(&pool_lock);
    return ok;
}

void hak_pages_shrink(slab_t *r, size_t npages) {
    if (npages == 0 || npages >= r->npages) return;
    superslab_t *gone = NULL;
    pthread_mutex_lock(&pool_lock);
    slab_t *tail = desc_new();
    if (tail) {
        tail->ss = r->ss;
        tail->page = r->page + (uint32_t)npages;
        tail->npages = r->npages - (uint32_t)npages;
        r->npages = (uint32_t)npages;
        r->end = hak_run_start(r) + ((size_t)npages << HAK_PAGE_SHIFT);
        release(tail, &gone);
    }
    pthread_mutex_unlock(&pool_lock);
    delete_all(gone);
}

/* ---- purging ---------------------------------------------------------------------- */
static uint32_t purge_pass; /* marks the SuperSlabs a pass has looked at */

/* The SuperSlab with the oldest dirty pages that this pass has not taken
 * runs from yet (under the lock). */
static superslab_t *oldest_dirty(void) {
    superslab_t *best = NULL;
    for (superslab_t *ss = all_ss; ss; ss = ss->all_next)
        if (ss->dirty_pages && ss->purge_mark != purge_pass &&
            (!best || ss->dirty_since_ms < best->dirty_since_ms))
            best = ss;
    return best;
}

/* Takes ss's free runs with dirty pages out of the lists onto *out (linked
 * by next), marked PURGING, until want dirty pages; returns how many. */
static uint64_t take_dirty_runs(superslab_t *ss, slab_t **out, uint64_t want) {
    uint64_t got = 0;
    ss->purge_mark = purge_pass;
    for (uint32_t pg = ss->data_first; pg < ss->npages && got < want;) {
        slab_t *r = ss->page_run[pg];
        if (hak_load(&r->state) == HAK_RUN_FREE && !r->zeroed) {
            list_remove(&pool, r);
            hak_store(&r->state, HAK_RUN_PURGING);
            for (uint32_t i = r->page; i < r->page + r->npages; i++) got += bit(ss->dirty, i);
            r->next = *out;
            *out = r;
        }
        pg += r->npages; /* runs tile the SuperSlab */
    }
    return got;
}

size_t hak_page_pool_purge(uint64_t now_ms, uint64_t decay_ms, bool all) {
    slab_t *todo = NULL;
    superslab_t *gone = NULL;
    pthread_mutex_lock(&pool_lock);
    purge_pass++;
    uint64_t allowed = all ? 0 : hak_decay_allowed(&decay, now_ms, decay_ms);
    uint64_t target = dirty_total > allowed ? dirty_total - allowed : 0, taken = 0;
    for (superslab_t *ss; taken < target && (ss = oldest_dirty());)
        taken += take_dirty_runs(ss, &todo, target - taken);
    pthread_mutex_unlock(&pool_lock);

    size_t bytes = 0;
    for (slab_t *r = todo; r; r = r->next) { /* unlocked: the runs are nobody's now */
        superslab_t *ss = r->ss;
        for (uint32_t i = r->page, end = r->page + r->npages; i < end;) {
            if (!bit(ss->dirty, i)) { i++; continue; }
            uint32_t j = i;
            while (j < end && bit(ss->dirty, j)) j++;
            hak_os_purge((char *)ss + ((size_t)i << HAK_PAGE_SHIFT), (size_t)(j - i) << HAK_PAGE_SHIFT);
            bytes += (size_t)(j - i) << HAK_PAGE_SHIFT;
            i = j;
        }
    }

    pthread_mutex_lock(&pool_lock);
    while (todo) {
        slab_t *r = todo;
        todo = r->next;
        uint32_t was = bits_assign(r->ss->dirty, r->page, r->page + r->npages, false);
        dirty_add(r->ss, -(int64_t)was);
        insert_free(r);
    }
    if (all && kept) { /* the kept empty SuperSlab goes too */
        superslab_t *ss = kept;
        ss->chunk.dirty = ss_remove(ss);
        ss->all_next = gone;
        gone = ss;
    }
    pthread_mutex_unlock(&pool_lock);
    delete_all(gone);
    atomic_fetch_add_explicit(&purged_bytes, bytes, memory_order_relaxed);
    return bytes;
}

void hak_page_pool_totals(hak_page_pool_totals_t *out) {
    pthread_mutex_lock(&pool_lock);
    out->superslabs = n_ss;
    out->superslabs_free = n_empty;
    out->free_bytes = free_pages << HAK_PAGE_SHIFT;
    out->dirty_bytes = dirty_total << HAK_PAGE_SHIFT;
    pthread_mutex_unlock(&pool_lock);
    out->purged_bytes = atomic_load_explicit(&purged_bytes, memory_order_relaxed);
}

/* Each SuperSlab's dirty bits are copied under the lock and its pages looked
 * at outside it (no system call under the lock); a SuperSlab that changes
 * meanwhile is off by what changed. */
size_t hak_page_pool_free_resident(void) {
    enum { BATCH = 16, WORDS = HAK_SS_PAGES / 64 };
    uint64_t bits[BATCH][WORDS];
    const char *base[BATCH];
    size_t bytes = 0;
    for (uint64_t skip = 0;; skip += BATCH) {
        unsigned n = 0;
        pthread_mutex_lock(&pool_lock);
        superslab_t *ss = all_ss;
        for (uint64_t i = 0; ss && i < skip; i++) ss = ss->all_next;
        for (; ss && n < BATCH; ss = ss->all_next, n++) {
            base[n] = (const char *)ss;
            for (unsigned w = 0; w < WORDS; w++) bits[n][w] = w * 64 < ss->npages ? hak_load(&ss->dirty[w]) : 0;
        }
        pthread_mutex_unlock(&pool_lock);
        for (unsigned i = 0; i < n; i++) bytes += hak_os_resident_pages(base[i], HAK_SS_PAGES, bits[i]);
        if (n < BATCH) return bytes;
    }
}

void hak_page_pool_fork_prepare(void) { pthread_mutex_lock(&pool_lock); }
void hak_page_pool_fork_parent(void) { pthread_mutex_unlock(&pool_lock); }
void hak_page_pool_fork_child(void) { pthread_mutex_init(&pool_lock, NULL); }
