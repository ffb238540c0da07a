/* SuperSlabs: 2 MiB aligned regions cut into 64 KiB pages; a run of pages
 * serving one size class is a slab.  The header sits at the start of the
 * region, so any block's metadata is found by masking its address:
 *
 *   ss   = p & ~(2 MiB - 1)         page = (p >> 16) & 31
 *   ss->page_class[page]            the class (the free fast path reads the
 *                                   same, plus one, from the page map)
 *   ss->slabs[ss->page_slab[page]]  the slab, read by slow paths
 *
 * A SuperSlab belongs to one heap (the heap that carves it); its slabs and
 * their local free lists are touched only by that heap's thread.  Other
 * threads give blocks back through a slab's remote list (remote.c). */
#ifndef HAK_SUPERSLAB_H
#define HAK_SUPERSLAB_H

#include "segmap.h"
#include "size_class.h"

#define HAK_PAGE_SHIFT 16
#define HAK_PAGE_SIZE  ((size_t)1 << HAK_PAGE_SHIFT)
#define HAK_SS_PAGES   (HAK_SS_SIZE / HAK_PAGE_SIZE)
#define HAK_SS_HDR     ((size_t)4096)      /* page 0 gives its first 4 KiB to the header */
#define HAK_SS_MAGIC   0x4b4d5353u          /* "SSMK" */

struct heap;

enum hak_slab_state {
    HAK_SLAB_UNUSED = 0, /* pages free in the SuperSlab */
    HAK_SLAB_WARM,       /* in its heap's warm pool: has free blocks */
    HAK_SLAB_FULL,       /* every block handed out */
};

/* Low bit of slab.remote: the owner has been told (the slab is on its
 * heap's notify stack), so later remote frees need not tell it again. */
#define HAK_REMOTE_NOTIFIED ((uintptr_t)1)

typedef struct slab {
    void *free;                  /* owner-local free list */
    _Atomic uintptr_t remote;    /* remote-free stack | HAK_REMOTE_NOTIFIED */
    struct slab *next, *prev;    /* warm-pool links */
    char *bump, *end;            /* never-used blocks: [bump, end) */
    struct slab *notify_next;    /* link on the owner heap's notify stack */
    uint16_t used;               /* blocks out of the slab (cached or live) */
    uint16_t capacity;
    uint8_t cls;
    uint8_t npages;
    uint8_t state;               /* enum hak_slab_state */
    uint8_t page;                /* first page of the slab */
    uint8_t sparse;              /* enum hak_sparse_state (slab_purge.c) */
    uint16_t purged;             /* 4 KiB pages given back while the slab is in use */
    uint64_t sparse_ms;          /* when it last became sparse */
} slab_t;

typedef struct superslab {
    uint8_t page_class[HAK_SS_PAGES]; /* mirrored, plus one, in the page map */
    uint8_t page_slab[HAK_SS_PAGES];  /* first page of the slab holding each page */
    uint32_t magic;
    uint32_t free_pages;              /* bitmap of unused pages (under lock) */
    uint32_t dirty_pages;             /* unused or retained pages not yet purged (under lock) */
    uint32_t retained_pages;          /* empty slabs kept by a warm pool: contents unneeded (under lock) */
    hak_spin_t lock;                  /* page runs vs the purger */
    struct heap *owner;               /* NULL while in the shared pool */
    uint64_t dirty_since_ms;          /* when dirty_pages last went from 0 to non-0 */
    uint64_t pool_since_ms;           /* when it entered the shared pool */
    struct superslab *next;           /* owner heap's list, or shared-pool stack */
    struct superslab *prev;
    struct superslab *all_next;       /* every SuperSlab ever made (purge, stats) */
    uint32_t in_pool;
    slab_t slabs[HAK_SS_PAGES];
} superslab_t;

_Static_assert(sizeof(superslab_t) <= HAK_SS_HDR, "SuperSlab header must fit its reserve");

static inline superslab_t *hak_ss_of(const void *p) {
    return (superslab_t *)((uintptr_t)p & ~(uintptr_t)HAK_SS_MASK);
}
static inline unsigned hak_page_of(const void *p) {
    return (unsigned)((uintptr_t)p >> HAK_PAGE_SHIFT) & (HAK_SS_PAGES - 1);
}
/* slab.purged has a bit per 4 KiB page of a one-page slab (slab_purge.c):
 * the bit of the page holding p. */
#define HAK_SUBPAGE_SHIFT 12 /* the OS page the purge works in */
#define HAK_SUBPAGE_SIZE ((size_t)1 << HAK_SUBPAGE_SHIFT)
#define HAK_SUBPAGES (HAK_PAGE_SIZE >> HAK_SUBPAGE_SHIFT)
static inline unsigned hak_subpage_of(const void *p) {
    return (unsigned)((uintptr_t)p >> HAK_SUBPAGE_SHIFT) & (HAK_SUBPAGES - 1);
}
static inline slab_t *hak_slab_of(superslab_t *ss, const void *p) {
    return &ss->slabs[ss->page_slab[hak_page_of(p)]];
}
/* Blocks are laid out to end exactly at the slab's end (a page boundary), so
 * the free fast path can tell a block start from the distance to the page
 * end, and the slack is before the first block (tcache.h).  Slabs of one page never use page 0, which holds the
 * header; larger slabs may start there, since it holds no header beyond its
 * first 4 KiB and their blocks are checked on the slow path. */
static inline char *hak_slab_start(superslab_t *ss, const slab_t *s) {
    (void)ss;
    return s->end - (size_t)s->capacity * hak_classes[s->cls].size;
}
/* True if p is the start of a block of slab s. */
static inline bool hak_slab_is_block_start(superslab_t *ss, const slab_t *s, const void *p) {
    uintptr_t off = (uintptr_t)p - (uintptr_t)hak_slab_start(ss, s);
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

static inline hak_link_walk_t hak_link_walk(superslab_t *ss, const slab_t *s) {
    hak_link_walk_t w;
    w.secret = hak_link_secret;
    w.start = hak_slab_start(ss, s);
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

/* The same, checking only what makes the link safe to follow (a block of
 * this SuperSlab below the carving point): for walks whose blocks are
 * checked in full later, by hak_link_walk_next, before anyone gets them. */
static inline void *hak_link_follow(superslab_t *ss, const slab_t *s, void *slot) {
    void *next = (void *)(*(uintptr_t *)slot ^ hak_link_secret ^ ((uintptr_t)slot >> 4));
    if (next && (hak_ss_of(next) != ss || (char *)next >= s->bump)) hak_link_corrupt(slot, s->cls);
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
static inline uint32_t hak_run_get(superslab_t *ss, const slab_t *s, void *first, void **last) {
    uintptr_t *w = (uintptr_t *)first + 1;
    uintptr_t v = *w ^ hak_link_secret ^ ((uintptr_t)w >> 4);
    uint32_t n = (uint32_t)(v & 0xffff);
    *last = (char *)ss + (v >> 16);
    if ((v >> 16) > HAK_SS_MASK || n == 0 || n > s->capacity || (char *)*last >= s->bump ||
        (char *)*last < hak_slab_start(ss, s) || !hak_slab_is_block_start(ss, s, *last))
        hak_link_corrupt(first, s->cls);
    return n;
}

/* Every SuperSlab ever created, newest first (they are never unmapped). */
extern superslab_t *_Atomic hak_ss_all;
extern _Atomic size_t hak_ss_count;  /* created */
extern _Atomic size_t hak_ss_pooled; /* sitting empty in the shared pool */

/* superslab.c: a new slab of class cls for heap h (page run from one of the
 * heap's SuperSlabs, or from a SuperSlab taken from the shared pool). */
slab_t *hak_slab_new(struct heap *h, unsigned cls);
/* Gives an empty slab's pages back to its SuperSlab; the SuperSlab goes to
 * the shared pool when it is empty. */
void hak_slab_release(struct heap *h, slab_t *s);
/* A warm pool keeps empty slab s: its pages may be purged until
 * hak_slab_unretain() is called before the slab is used again. */
void hak_slab_retain(slab_t *s);
void hak_slab_unretain(slab_t *s);
/* Purges the dirty unused pages of one SuperSlab that have been dirty for at
 * least delay_ms (0: all).  Returns the bytes purged. */
size_t hak_ss_purge(superslab_t *ss, uint64_t now_ms, uint64_t delay_ms);

/* shared_pool.c: the global pool of empty SuperSlabs. */
superslab_t *hak_shared_pool_take(void);
void hak_shared_pool_give(superslab_t *ss);

#endif
