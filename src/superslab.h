/* SuperSlabs and the runs of pages inside them.
 *
 * A SuperSlab is a 2 MiB aligned run of the chunk heap (chunk.h) cut into
 * 4 KiB pages; its header holds, for every page, the descriptor of the run
 * of pages holding it.  A run is free (in the page pool, page_pool.c), a slab
 * (a power-of-two run serving one size class, owned by one heap) or a large
 * block.  A slab block's header is found by masking its address:
 *
 *   ss   = p & ~(2 MiB - 1)            page = (p >> 12) & 511
 *   ss->page_run[page]                 the slab, read by slow paths
 *
 * and any pointer's SuperSlab through the chunk map (hak_ss_lookup).  The
 * free fast path reads neither: the page map gives it the bin of the slab's
 * class.
 *
 * A slab's free lists are touched only by its owner heap's thread; other
 * threads give blocks back through the slab's remote list (remote.c).  Runs
 * and the header's page table change under the page pool's lock. */
#ifndef HAK_SUPERSLAB_H
#define HAK_SUPERSLAB_H

#include "chunk.h"
#include "size_class.h"

#define HAK_PAGE_SHIFT HAK_MAP_PAGE_SHIFT
#define HAK_PAGE_SIZE  ((size_t)1 << HAK_PAGE_SHIFT)
#define HAK_SS_SHIFT   HAK_MAP_CHUNK_SHIFT
#define HAK_SS_SIZE    ((size_t)1 << HAK_SS_SHIFT)
#define HAK_SS_MASK    (HAK_SS_SIZE - 1)
#define HAK_SS_PAGES   (HAK_SS_SIZE / HAK_PAGE_SIZE)

struct heap;
struct superslab;

enum hak_run_state {
    HAK_RUN_FREE = 0,  /* in the page pool */
    HAK_RUN_PURGING,   /* free, out of the pool while its pages go back to the OS */
    HAK_SLAB_WARM,     /* a slab in its heap's warm pool: has free blocks */
    HAK_SLAB_FULL,     /* a slab with every block handed out */
    HAK_RUN_LARGE,     /* a block above the largest class */
};

/* Low bit of slab.remote: the owner has been told (the slab is on its
 * heap's notify stack), so later remote frees need not tell it again. */
#define HAK_REMOTE_NOTIFIED ((uintptr_t)1)

/* The descriptor of a run of pages: of a slab, of a large block, or of free
 * pages.  Descriptors come from metadata (page_pool.c), never from the
 * pages themselves. */
typedef struct slab {
    union {
        void *free;              /* a slab: the owner-local free list */
        void *tag;               /* a large block: the heap profiler's sample, or NULL */
    };
    /* a slab: blocks its owner's thread cache flushed, still linked as in
     * the cache (tcache.h), local .. local_tail, nlocal of them, so that a
     * refill takes them whole without walking through them (hak_slab_local) */
    void *local, *local_tail;
    _Atomic uintptr_t remote;    /* remote-free stack | HAK_REMOTE_NOTIFIED */
    struct slab *next, *prev;    /* warm-pool links; page-pool links while free */
    char *bump, *end;            /* never-used blocks: [bump, end); end of the run */
    struct slab *notify_next;    /* link on the owner heap's notify stack */
    struct heap *owner;          /* a slab's heap */
    struct superslab *ss;
    uint32_t page, npages;       /* first page in ss, and the run's length */
    uint16_t used;               /* blocks out of the slab (cached or live) */
    uint16_t capacity;
    uint8_t cls;
    uint8_t state;               /* enum hak_run_state */
    uint8_t sparse;              /* enum hak_sparse_state (slab_purge.c) */
    uint8_t zeroed;              /* fresh from the pool: every page reads as zero */
    uint16_t purged;             /* 4 KiB pages given back while the slab is in use */
    uint16_t nlocal;             /* blocks on the local list */
    /* a slab: of its first 16 pages, those that read as zero when it got
     * them (never touched, or purged) and on which no block was carved
     * since; a refill hands out the first block of such a page alone,
     * unwritten, so that the page fault is the program's (tcache.c) */
    uint16_t clean;
    /* purged pages whose first block went out so (slab_purge.c) */
    uint16_t lone;
    uint64_t since_ms;           /* when it became sparse, or (retained) empty */
    size_t size;                 /* a large block: the bytes asked for */
} slab_t;

typedef struct superslab {
    hak_chunk_t chunk;           /* its run of the chunk heap: kind HAK_CHUNK_SUPERSLAB */
    uint32_t npages;             /* HAK_SS_PAGES, header included */
    uint32_t data_first;         /* the first page after the header */
    uint32_t free_pages;         /* pages in free runs */
    uint32_t dirty_pages;        /* of those, resident: used since mapped or purged */
    uint64_t dirty_since_ms;     /* when dirty_pages last went from 0 to non-0 */
    uint32_t purge_mark;         /* the last purge pass that took runs from it */
    struct superslab *all_next, *all_prev; /* every SuperSlab mapped (page pool) */
    uint64_t *dirty;             /* a bit per page: free and resident */
    slab_t *page_run[];          /* per page, its run (first and last page only, if free) */
} superslab_t;

static inline bool hak_run_is_slab(const slab_t *s) {
    unsigned state = hak_load(&s->state); /* other threads' slow paths ask too */
    return state == HAK_SLAB_WARM || state == HAK_SLAB_FULL;
}
static inline char *hak_run_start(const slab_t *s) {
    return (char *)s->ss + ((size_t)s->page << HAK_PAGE_SHIFT);
}

/* A slab block's SuperSlab, by masking (base SuperSlabs only). */
static inline superslab_t *hak_ss_of(const void *p) {
    return (superslab_t *)((uintptr_t)p & ~(uintptr_t)HAK_SS_MASK);
}
/* Any pointer's SuperSlab, NULL if it is not in one. */
static inline superslab_t *hak_ss_lookup(const void *p) {
    hak_chunk_t *c = hak_chunk_lookup(p);
    return c && c->kind == HAK_CHUNK_SUPERSLAB ? (superslab_t *)c : NULL;
}
/* The run holding p, checked against the run's own idea of where it is
 * (a page's entry may be stale inside free runs); NULL if none. */
static inline slab_t *hak_run_lookup(const void *p) {
    superslab_t *ss = hak_ss_lookup(p);
    if (!ss) return NULL;
    uint32_t page = (uint32_t)(((uintptr_t)p - (uintptr_t)ss) >> HAK_PAGE_SHIFT);
    slab_t *s = page < ss->npages ? __atomic_load_n(&ss->page_run[page], __ATOMIC_ACQUIRE) : NULL;
    if (!s || s->ss != ss || page < s->page || page - s->page >= s->npages) return NULL;
    return s;
}
/* The slab of a block known to be in a slab (masking, no checks). */
static inline slab_t *hak_slab_of(const void *p) {
    superslab_t *ss = hak_ss_of(p);
    return ss->page_run[((uintptr_t)p >> HAK_PAGE_SHIFT) & (HAK_SS_PAGES - 1)];
}

/* slab.purged has a bit per 4 KiB page of a slab (slab_purge.c). */
#define HAK_SLAB_MAX_PAGES 16
static inline unsigned hak_subpage_of(const slab_t *s, const void *p) {
    return (unsigned)(((uintptr_t)p - (uintptr_t)hak_run_start(s)) >> HAK_PAGE_SHIFT);
}
/* Blocks are laid out to end exactly at the slab's end, so the free fast
 * path can tell a block start from the distance to the end (slabs of the
 * fast classes are a power of two of pages, aligned to their size), and the
 * slack is before the first block (tcache.h). */
static inline char *hak_slab_start(const slab_t *s) {
    return s->end - (size_t)s->capacity * hak_classes[s->cls].size;
}
/* True if p is the start of a block of slab s. */
static inline bool hak_slab_is_block_start(const slab_t *s, const void *p) {
    uintptr_t off = (uintptr_t)p - (uintptr_t)hak_slab_start(s);
    uint64_t idx = (off * hak_classes[s->cls].recip) >> 40;
    return idx * hak_classes[s->cls].size == off && idx < s->capacity;
}

/* Free-list links inside slabs and on remote stacks are stored encoded with a
 * per-process secret and the link's own address, and checked when read: an
 * overwrite of a freed block (use after free) is caught, not followed. */
/* hak_link_set with the secret already in hand (loops that store into blocks
 * would otherwise reload it for every link) */
static inline void hak_link_set_with(void *slot, void *next, uintptr_t secret) {
    *(uintptr_t *)slot = (uintptr_t)next ^ secret ^ ((uintptr_t)slot >> 4);
}
static inline void hak_link_set(void *slot, void *next) {
    hak_link_set_with(slot, next, hak_link_secret);
}
HAK_NORETURN HAK_COLD void hak_link_corrupt(const void *slot, unsigned cls);
/* A walk down one slab's encoded free list.  hak_link_walk_next gives the
 * next free block after slot: NULL or a block start of the slab below its
 * carving point, or a fatal report.  What the check needs is read once, when
 * the walk starts (stores into the blocks may alias the slab's fields, so
 * the compiler would reload them for every block), and the check is one
 * range test and one multiply. */
typedef struct hak_link_walk {
    uintptr_t secret;
    char *start;     /* the slab's first block */
    uintptr_t span;  /* bump - start: the blocks ever carved */
    uint64_t recip;  /* ceil(2^40 / size) */
    uint32_t size;
    unsigned cls;
} hak_link_walk_t;

static inline hak_link_walk_t hak_link_walk(const slab_t *s) {
    hak_link_walk_t w;
    w.secret = hak_link_secret;
    w.start = hak_slab_start(s);
    w.span = (uintptr_t)(s->bump - w.start);
    w.recip = hak_classes[s->cls].recip;
    w.size = hak_classes[s->cls].size;
    w.cls = s->cls;
    return w;
}
static inline void *hak_link_walk_next(const hak_link_walk_t *w, void *slot) {
    void *next = (void *)(*(uintptr_t *)slot ^ w->secret ^ ((uintptr_t)slot >> 4));
    uintptr_t off = (uintptr_t)next - (uintptr_t)w->start; /* huge if below the start */
    if (next && (off >= w->span || ((off * w->recip) >> 40) * w->size != off))
        hak_link_corrupt(slot, w->cls);
    return next;
}

/* The next block after slot on a slab's local list, whose links are the
 * thread cache's (tcache.h: XORed with the secret), checked like
 * hak_link_walk_next (the walker's last block's link is not a link). */
static inline void *hak_local_walk_next(const hak_link_walk_t *w, void *slot) {
    void *next = (void *)(*(uintptr_t *)slot ^ w->secret);
    uintptr_t off = (uintptr_t)next - (uintptr_t)w->start;
    if (off >= w->span || ((off * w->recip) >> 40) * w->size != off) hak_link_corrupt(slot, w->cls);
    return next;
}

/* The same, checking only what makes the link safe to follow (inside the
 * slab, below the carving point): for walks whose blocks are checked in
 * full later, by hak_link_walk_next, before anyone gets them. */
static inline void *hak_link_follow(const slab_t *s, void *slot) {
    void *next = (void *)(*(uintptr_t *)slot ^ hak_link_secret ^ ((uintptr_t)slot >> 4));
    if (next && ((char *)next < hak_slab_start(s) || (char *)next >= s->bump))
        hak_link_corrupt(slot, s->cls);
    return next;
}

/* A run of blocks of one slab travelling on a remote stack carries, in the
 * second word of its first block, its length and where it ends (encoded like
 * the links), so the owner can take it without walking it block by block. */
static inline void hak_run_set(void *first, const void *last, uint32_t n) {
    uintptr_t *w = (uintptr_t *)first + 1;
    *w = ((((uintptr_t)last & HAK_SS_MASK) << 16) | n) ^ hak_link_secret ^ ((uintptr_t)w >> 4);
}
/* Length of the run starting at first; *last gets its last block. */
static inline uint32_t hak_run_get(const slab_t *s, void *first, void **last) {
    uintptr_t *w = (uintptr_t *)first + 1;
    uintptr_t v = *w ^ hak_link_secret ^ ((uintptr_t)w >> 4);
    uint32_t n = (uint32_t)(v & 0xffff);
    *last = (char *)s->ss + (v >> 16);
    if ((v >> 16) > HAK_SS_MASK || n == 0 || n > s->capacity || (char *)*last >= s->bump ||
        (char *)*last < hak_slab_start(s) || !hak_slab_is_block_start(s, *last))
        hak_link_corrupt(first, s->cls);
    return n;
}

/* superslab.c: SuperSlabs from the chunk heap (for the page pool). */
/* A new SuperSlab, its header set up and its pages in the page map's
 * reach; NULL if the OS refuses. */
superslab_t *hak_ss_new(void);
/* Back to the chunk heap, every page free (dirty: some may be resident). */
void hak_ss_delete(superslab_t *ss, bool dirty);
/* The largest run a SuperSlab holds: all its pages but the header's. */
#define HAK_SS_HEADER_PAGES 2
#define HAK_SS_DATA_PAGES (HAK_SS_PAGES - HAK_SS_HEADER_PAGES)

#endif
