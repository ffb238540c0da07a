/* The chunk heap: the address space hakmem holds, in runs of 2 MiB chunks.
 * A run is a base SuperSlab (one chunk, its pages in the page pool), a huge
 * block (several chunks, one block), or free.  Free runs coalesce with their
 * free neighbours in the address space, whichever mapping they came from,
 * so the chunks of freed SuperSlabs and huge blocks serve any later run;
 * they stay mapped and resident for reuse while decay (purge.decay_ms) and
 * large.cache_max allow, then go back to the OS whole (munmap: the address
 * space falls too).  Every run starts with a hak_chunk_t, in its first page;
 * the chunk map (pagemap.h) leads from any address in a run to it. */
#ifndef HAK_CHUNK_H
#define HAK_CHUNK_H

#include "pagemap.h"

#define HAK_CHUNK_SHIFT HAK_MAP_CHUNK_SHIFT
#define HAK_CHUNK_SIZE  ((size_t)1 << HAK_CHUNK_SHIFT)
#define HAK_CHUNK_MAGIC 0x4b4e4843u /* "CHNK" */

enum hak_chunk_kind {
    HAK_CHUNK_FREE = 1,
    HAK_CHUNK_PURGING,   /* free, out of the heap while its pages go back */
    HAK_CHUNK_SUPERSLAB, /* superslab.h */
    HAK_CHUNK_HUGE,      /* a huge block (large.c) */
};

typedef struct hak_chunk {
    uint32_t magic;
    uint8_t kind;                    /* enum hak_chunk_kind */
    uint8_t dirty;                   /* free: pages may be resident */
    uint8_t thp;                     /* some of the run may be advised MADV_HUGEPAGE */
    size_t nchunks;                  /* 2 MiB chunks in the run */
    uint64_t freed_ms;               /* free: when it was freed */
    struct hak_chunk *next, *prev;   /* free runs' lists */
    /* a huge block */
    char *user;                      /* the block */
    size_t size;                     /* bytes asked for */
    void *tag;                       /* the heap profiler's sample, or NULL */
} hak_chunk_t;

static inline char *hak_chunk_end(const hak_chunk_t *c) {
    return (char *)c + (c->nchunks << HAK_CHUNK_SHIFT);
}
/* The run holding p, or NULL. */
static inline hak_chunk_t *hak_chunk_lookup(const void *p) { return (hak_chunk_t *)hak_chunkmap_get(p); }
/* Runs change under the chunk heap's lock; one in use (a SuperSlab, a live
 * huge block) is stable while its owner uses it. */

/* A run of nchunks chunks, 2 MiB aligned, from the free runs (best fit, the
 * most recently freed first) or mapped; kind set, the rest of the header
 * zero but nchunks, dirty and thp; NULL (errno ENOMEM) if the OS refuses. */
hak_chunk_t *hak_chunks_alloc(size_t nchunks, unsigned kind);
/* The same from the free runs only; NULL if none fits. */
hak_chunk_t *hak_chunks_reuse(size_t nchunks, unsigned kind);
/* Gives a run back (dirty: its pages may be resident). */
void hak_chunks_free(hak_chunk_t *c, bool dirty);
/* Grows a run in place by taking free chunks after it. */
bool hak_chunks_grow(hak_chunk_t *c, size_t nchunks);
/* Gives back the chunks of a run beyond its first nchunks. */
void hak_chunks_shrink(hak_chunk_t *c, size_t nchunks);
/* A run in use is about to move (mremap): nobody finds it from now on. */
void hak_chunks_forget(hak_chunk_t *c);
/* It moved to c (its header with it), or stayed where it was (old_chunks
 * 0 and added 0 then), now with c->nchunks chunks where it had old_chunks;
 * added of them are new mappings (the rest a run of the heap it took). */
void hak_chunks_moved(hak_chunk_t *c, size_t old_chunks, size_t added);
/* Unmaps free runs: as decay says (all with all), and those beyond
 * large.cache_max bytes.  Returns the bytes. */
size_t hak_chunks_purge(uint64_t now_ms, uint64_t decay_ms, bool all);

typedef struct hak_chunk_totals {
    uint64_t mapped_bytes;  /* chunks mapped */
    uint64_t free_bytes;    /* in free runs */
    uint64_t dirty_bytes;   /* of those, possibly resident */
    uint64_t free_runs, dirty_runs;
} hak_chunk_totals_t;
void hak_chunk_totals(hak_chunk_totals_t *out);
/* Of the free runs, the bytes resident now (statistics: dirty_bytes counts a
 * dirty run whole). */
size_t hak_chunks_free_resident(void);

void hak_chunk_fork_prepare(void);
void hak_chunk_fork_parent(void);
void hak_chunk_fork_child(void);

#endif
