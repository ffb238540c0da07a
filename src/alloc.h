/* The allocation front end's internal entry points (alloc.c), for the
 * extended API (alloc_ext.c), the sized frees (sized_free.c) and the C++
 * operators (cxx_new.c): what those need of a block without reaching into
 * slabs or headers themselves. */
#ifndef HAK_ALLOC_H
#define HAK_ALLOC_H

#include "size_class.h"

/* What a live block is.  cls: its class, or HAK_CLASS_NONE for a large
 * block; usable: what malloc_usable_size says; asked: with debug.checks, the
 * size a small block was allocated with (from its canary trailer), else
 * SIZE_MAX. */
typedef struct hak_block {
    unsigned cls;
    size_t usable, asked;
} hak_block_t;

/* Reports (hak_fatal, naming caller) a pointer that is not a block of ours. */
void hak_block_info(void *p, const char *caller, hak_block_t *out);

/* The class every allocation function picks for size bytes aligned to align
 * (16 or less: the default alignment), with debug.checks' canary room when
 * checks; HAK_CLASS_NONE for a large block. */
unsigned hak_class_for(size_t size, size_t align, bool checks);
/* The usable size an allocation of size bytes aligned to align gets under
 * the current debug.checks; 0 if no allocation can give it. */
size_t hak_usable_for(size_t size, size_t align);

/* Allocates size bytes aligned to align (16 or less: the default), zeroed
 * up to the usable size if zero, past the thread cache if nocache.  NULL
 * with errno ENOMEM if it cannot. */
void *hak_alloc_ext(size_t size, size_t align, bool zero, bool nocache);
/* Frees p straight to its slab, past the thread cache. */
void hak_free_nocache(void *p, const char *caller);

/* realloc keeps a small block of class cls in place for a new size that
 * fits it and does not waste more than half of it (any size that fits, in
 * the eight smallest classes). */
static inline bool hak_realloc_keeps(unsigned cls, size_t size) {
    size_t have = hak_classes[cls].size;
    return size <= have && (size > have / 2 || cls < 8);
}

/* The sized frees' slow path (sized_free.c): checks size (and align, 0 if
 * none) against p as the sized frees promise, naming caller, then frees p,
 * past the thread cache with HAK_SIZED_NOCACHE.  With HAK_SIZED_EXACT the
 * size must be the one asked for (operator delete); otherwise a block that
 * realloc kept in place may come with its new size. */
enum { HAK_SIZED_EXACT = 1, HAK_SIZED_NOCACHE = 2 };
void hak_free_sized_slow(void *p, size_t size, size_t align, unsigned how, const char *caller)
    HAK_NOINLINE;

#endif
