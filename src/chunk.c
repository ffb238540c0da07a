/* The chunk heap (chunk.h).  Free runs sit in lists by length (one per
 * length up to 63 chunks, then one per power of two), the most recently
 * freed first; a request takes the smallest run that fits and leaves the
 * rest of it free.  One lock; it is not held across munmap. */
#include "chunk.h"
#include "decay.h"
#include "os.h"
#include "params.h"
#include "purge.h"
#include <errno.h>
#include <sys/mman.h>

#define EXACT 64
#define NBIG  40

static pthread_mutex_t chunk_lock = PTHREAD_MUTEX_INITIALIZER;
static hak_chunk_t *exact[EXACT], *big[NBIG];
static hak_decay_t decay; /* in chunks */
static uint64_t n_mapped, n_free, n_dirty, runs_free, runs_dirty;

static unsigned big_bucket(size_t n) { return (unsigned)(63 - __builtin_clzl(n)); }
static hak_chunk_t **list_of(size_t n) { return n < EXACT ? &exact[n] : &big[big_bucket(n)]; }

static void list_push(hak_chunk_t *c) {
    hak_chunk_t **l = list_of(c->nchunks);
    c->prev = NULL;
    c->next = *l;
    if (*l) (*l)->prev = c;
    *l = c;
    n_free += c->nchunks;
    runs_free++;
    if (c->dirty) n_dirty += c->nchunks, runs_dirty++;
}

static void list_remove(hak_chunk_t *c) {
    if (c->prev) c->prev->next = c->next;
    else *list_of(c->nchunks) = c->next;
    if (c->next) c->next->prev = c->prev;
    c->next = c->prev = NULL;
    n_free -= c->nchunks;
    runs_free--;
    if (c->dirty) n_dirty -= c->nchunks, runs_dirty--;
}

/* The chunk map: every chunk of a run, free or in use, leads to the run,
 * so no entry is ever left pointing at a header that moved or went. */
static void map_run(hak_chunk_t *c) { hak_chunkmap_set(c, c->nchunks, (uintptr_t)c); }

static void header(hak_chunk_t *c, size_t n, unsigned kind, bool dirty) {
    c->magic = HAK_CHUNK_MAGIC;
    c->kind = (uint8_t)kind;
    c->dirty = dirty;
    c->nchunks = n;
    c->freed_ms = 0;
    c->next = c->prev = NULL;
    c->user = NULL;
    c->size = 0;
    c->tag = NULL;
}

/* A free neighbour: the run holding the chunk at p, if free and ending (or
 * starting) exactly there. */
static hak_chunk_t *free_run_at(const void *p) {
    hak_chunk_t *c = hak_chunk_lookup(p);
    return c && c->magic == HAK_CHUNK_MAGIC && c->kind == HAK_CHUNK_FREE ? c : NULL;
}

/* Inserts free run c, merged with its free neighbours (under the lock). */
static void insert_free(hak_chunk_t *c) {
    hak_chunk_t *left = free_run_at((char *)c - 1);
    if (left && hak_chunk_end(left) == (char *)c) {
        list_remove(left);
        left->nchunks += c->nchunks;
        left->dirty |= c->dirty;
        left->thp |= c->thp;
        left->freed_ms = left->freed_ms > c->freed_ms ? left->freed_ms : c->freed_ms;
        c = left;
    }
    hak_chunk_t *right = free_run_at(hak_chunk_end(c));
    if (right && (char *)right == hak_chunk_end(c)) {
        list_remove(right);
        c->nchunks += right->nchunks;
        c->dirty |= right->dirty;
        c->thp |= right->thp;
        c->freed_ms = c->freed_ms > right->freed_ms ? c->freed_ms : right->freed_ms;
    }
    c->kind = HAK_CHUNK_FREE;
    map_run(c);
    list_push(c);
}

/* Splits the chunks of c beyond its first n off as a free run; maps c. */
static void split(hak_chunk_t *c, size_t n) {
    if (c->nchunks > n) {
        hak_chunk_t *tail = (hak_chunk_t *)((char *)c + (n << HAK_CHUNK_SHIFT));
        header(tail, c->nchunks - n, HAK_CHUNK_FREE, c->dirty);
        tail->thp = c->thp;
        tail->freed_ms = c->freed_ms ? c->freed_ms : hak_now_ms();
        c->nchunks = n;
        map_run(c); /* before the tail looks left for a free neighbour */
        insert_free(tail);
    } else {
        map_run(c);
    }
}

static hak_chunk_t *best_fit(size_t n) {
    for (size_t len = n; len < EXACT; len++)
        if (exact[len]) return exact[len];
    hak_chunk_t *best = NULL;
    for (unsigned b = big_bucket(n < EXACT ? EXACT : n); b < NBIG && !best; b++)
        for (hak_chunk_t *c = big[b]; c; c = c->next)
            if (c->nchunks >= n && (!best || c->nchunks < best->nchunks)) best = c;
    return best;
}

hak_chunk_t *hak_chunks_reuse(size_t n, unsigned kind) {
    if (n == 0 || n > ((size_t)1 << (47 - HAK_CHUNK_SHIFT))) return NULL;
    pthread_mutex_lock(&chunk_lock);
    hak_chunk_t *c = best_fit(n);
    if (c) {
        list_remove(c);
        c->kind = (uint8_t)kind; /* in use: the tail split off must not merge back */
        split(c, n);
    }
    pthread_mutex_unlock(&chunk_lock);
    if (!c) return NULL;
    header(c, n, kind, c->dirty);
    /* pages once a huge block's, advised huge, would make a SuperSlab's
     * first touch fault in 2 MiB */
    if (kind == HAK_CHUNK_SUPERSLAB && c->thp && hak_load(&hak_params.thp) != HAK_THP_ALWAYS) {
        hak_os_huge_pages(c, n << HAK_CHUNK_SHIFT, false);
        c->thp = 0;
    }
    return c;
}

hak_chunk_t *hak_chunks_alloc(size_t n, unsigned kind) {
    if (n == 0 || n > ((size_t)1 << (47 - HAK_CHUNK_SHIFT))) { errno = ENOMEM; return NULL; }
    hak_chunk_t *c = hak_chunks_reuse(n, kind);
    if (c) return c;
    size_t bytes = n << HAK_CHUNK_SHIFT;
    char *p = hak_os_map(bytes, HAK_CHUNK_SIZE, false);
    if (!p) return NULL;
    if (!hak_chunkmap_cover(p, bytes)) {
        hak_os_unmap(p, bytes);
        errno = ENOMEM;
        return NULL;
    }
    /* a huge block's chunks are advised before the header's write faults
     * in the first page, or the first could not take a huge page; all but
     * the last, which the block covers whole only if it ends the run
     * (large.c decides, once it knows the block) */
    uint32_t thp = hak_load(&hak_params.thp);
    bool advise = kind == HAK_CHUNK_HUGE && thp == HAK_THP_LARGE && n > 1;
    if (advise) hak_os_huge_pages(p, bytes - HAK_CHUNK_SIZE, true);
    c = (hak_chunk_t *)p;
    header(c, n, kind, false);
    c->thp = thp == HAK_THP_ALWAYS || advise;
    pthread_mutex_lock(&chunk_lock);
    n_mapped += n;
    map_run(c);
    pthread_mutex_unlock(&chunk_lock);
    return c;
}

void hak_chunks_free(hak_chunk_t *c, bool dirty) {
    pthread_mutex_lock(&chunk_lock);
    c->dirty = dirty;
    c->freed_ms = hak_now_ms();
    c->next = c->prev = NULL;
    if (dirty) hak_decay_freed(&decay, c->nchunks);
    hak_purge_note(); /* free chunks decay and unmap */
    insert_free(c);
    pthread_mutex_unlock(&chunk_lock);
}

bool hak_chunks_grow(hak_chunk_t *c, size_t n) {
    if (n <= c->nchunks) return true;
    pthread_mutex_lock(&chunk_lock);
    hak_chunk_t *right = free_run_at(hak_chunk_end(c));
    bool ok = right && (char *)right == hak_chunk_end(c) && c->nchunks + right->nchunks >= n;
    if (ok) {
        list_remove(right);
        right->kind = HAK_CHUNK_HUGE; /* in use while its tail splits off */
        split(right, n - c->nchunks);
        c->dirty |= right->dirty;
        c->thp |= right->thp;
        c->nchunks = n;
        map_run(c); /* right's chunks, its header among them, are c's now */
    }
    pthread_mutex_unlock(&chunk_lock);
    return ok;
}

void hak_chunks_shrink(hak_chunk_t *c, size_t n) {
    if (n == 0 || n >= c->nchunks) return;
    pthread_mutex_lock(&chunk_lock);
    hak_decay_freed(&decay, c->nchunks - n);
    bool was = c->dirty;
    c->dirty = true;
    split(c, n);
    c->dirty = was;
    pthread_mutex_unlock(&chunk_lock);
}

void hak_chunks_forget(hak_chunk_t *c) {
    pthread_mutex_lock(&chunk_lock);
    hak_chunkmap_set(c, c->nchunks, 0);
    pthread_mutex_unlock(&chunk_lock);
}

void hak_chunks_moved(hak_chunk_t *c, size_t old_chunks, size_t added) {
    pthread_mutex_lock(&chunk_lock);
    n_mapped += added;
    n_mapped -= old_chunks;
    map_run(c);
    pthread_mutex_unlock(&chunk_lock);
}

/* The oldest free dirty run (under the lock). */
static hak_chunk_t *oldest_dirty(void) {
    hak_chunk_t *best = NULL;
    for (unsigned i = 0; i < EXACT + NBIG; i++)
        for (hak_chunk_t *c = i < EXACT ? exact[i] : big[i - EXACT]; c; c = c->next)
            if (c->dirty && (!best || c->freed_ms < best->freed_ms)) best = c;
    return best;
}

size_t hak_chunks_purge(uint64_t now_ms, uint64_t decay_ms, bool all) {
    hak_chunk_t *gone = NULL;
    pthread_mutex_lock(&chunk_lock);
    uint64_t allowed = all ? 0 : hak_decay_allowed(&decay, now_ms, decay_ms);
    uint64_t cap = hak_load(&hak_params.large_cache_max) >> HAK_CHUNK_SHIFT;
    if (allowed > cap) allowed = cap;
    while (n_dirty > allowed) {
        hak_chunk_t *c = oldest_dirty();
        if (!c) break;
        list_remove(c);
        c->kind = HAK_CHUNK_PURGING;
        hak_chunkmap_set(c, c->nchunks, 0); /* nobody looks into it from now on */
        n_mapped -= c->nchunks;
        c->next = gone;
        gone = c;
    }
    if (all) { /* and the clean free runs: their address space too */
        for (unsigned i = 0; i < EXACT + NBIG; i++)
            while (i < EXACT ? exact[i] != NULL : big[i - EXACT] != NULL) {
                hak_chunk_t *c = i < EXACT ? exact[i] : big[i - EXACT];
                list_remove(c);
                c->kind = HAK_CHUNK_PURGING;
                hak_chunkmap_set(c, c->nchunks, 0);
                n_mapped -= c->nchunks;
                c->next = gone;
                gone = c;
            }
    }
    pthread_mutex_unlock(&chunk_lock);
    size_t bytes = 0;
    while (gone) {
        hak_chunk_t *c = gone;
        gone = c->next;
        size_t len = c->nchunks << HAK_CHUNK_SHIFT;
        if (c->dirty) bytes += len;
        hak_os_unmap(c, len);
    }
    return bytes;
}

void hak_chunk_totals(hak_chunk_totals_t *out) {
    pthread_mutex_lock(&chunk_lock);
    out->mapped_bytes = n_mapped << HAK_CHUNK_SHIFT;
    out->free_bytes = n_free << HAK_CHUNK_SHIFT;
    out->dirty_bytes = n_dirty << HAK_CHUNK_SHIFT;
    out->free_runs = runs_free;
    out->dirty_runs = runs_dirty;
    pthread_mutex_unlock(&chunk_lock);
}

/* The dirty runs are listed under the lock, a batch at a time, and looked at
 * outside it; a run reused meanwhile is off by what changed. */
size_t hak_chunks_free_resident(void) {
    enum { BATCH = 32 };
    const char *at[BATCH];
    size_t len[BATCH], bytes = 0;
    for (uint64_t skip = 0;; skip += BATCH) {
        unsigned n = 0;
        uint64_t seen = 0;
        pthread_mutex_lock(&chunk_lock);
        for (unsigned l = 0; l < EXACT + NBIG && n < BATCH; l++)
            for (hak_chunk_t *c = l < EXACT ? exact[l] : big[l - EXACT]; c && n < BATCH; c = c->next)
                if (c->dirty && seen++ >= skip) at[n] = (const char *)c, len[n++] = c->nchunks << HAK_CHUNK_SHIFT;
        pthread_mutex_unlock(&chunk_lock);
        for (unsigned i = 0; i < n; i++) bytes += hak_os_resident_pages(at[i], len[i] >> 12, NULL);
        if (n < BATCH) return bytes;
    }
}

void hak_chunk_fork_prepare(void) { pthread_mutex_lock(&chunk_lock); }
void hak_chunk_fork_parent(void) { pthread_mutex_unlock(&chunk_lock); }
void hak_chunk_fork_child(void) { pthread_mutex_init(&chunk_lock, NULL); }
