/* The extended API, jemalloc's mallocx family under the hak_ prefix, with
 * jemalloc's semantics: a block's real size is what sallocx says, and
 * nallocx(size, flags) == sallocx(mallocx(size, flags)).  A size of 0 is
 * taken as 1 (jemalloc leaves it undefined).  Flags other than an alignment,
 * HAK_MALLOCX_ZERO and HAK_MALLOCX_TCACHE_NONE are refused where a function
 * can refuse (mallocx and rallocx: NULL with errno EINVAL; nallocx: 0;
 * xallocx: no change) and ignored by the frees. */
#include "alloc.h"
#include "large.h"
#include "params.h"
#include "tcache.h"
#include <hakmem.h>
#include <errno.h>
#include <string.h>

#define LG_ALIGN_MASK 0x3f
#define KNOWN_FLAGS (LG_ALIGN_MASK | HAK_MALLOCX_ZERO | HAK_MALLOCX_TCACHE_NONE)

/* The alignment the flags ask for (0: the default), or false for flags we
 * do not know or an alignment no block can have. */
static bool flags_align(int flags, size_t *align) {
    unsigned lg = (unsigned)flags & LG_ALIGN_MASK;
    if ((flags & ~KNOWN_FLAGS) || lg > 62) return false;
    *align = lg ? (size_t)1 << lg : 0;
    return true;
}

/* TCACHE_NONE means nothing while debug.checks keeps the caches off */
static bool nocache(int flags) { return (flags & HAK_MALLOCX_TCACHE_NONE) != 0; }

HAK_EXPORT void *hak_mallocx(size_t size, int flags) {
    if (likely(flags == 0)) return hak_malloc_fast(size ? size : 1);
    size_t align;
    if (!flags_align(flags, &align)) { errno = EINVAL; return NULL; }
    return hak_alloc_ext(size ? size : 1, align, flags & HAK_MALLOCX_ZERO, nocache(flags));
}

HAK_EXPORT size_t hak_nallocx(size_t size, int flags) {
    size_t align;
    if (!flags_align(flags, &align)) return 0;
    return hak_usable_for(size ? size : 1, align);
}

HAK_EXPORT size_t hak_sallocx(const void *p, int flags) {
    if (!p) return 0;
    hak_block_t b;
    hak_block_info((void *)p, "sallocx", &b);
    return b.usable;
}

HAK_EXPORT void hak_dallocx(void *p, int flags) {
    if (nocache(flags)) hak_free_nocache(p, "dallocx");
    else hak_free_fast(p);
}

HAK_EXPORT void hak_sdallocx(void *p, size_t size, int flags) {
    size_t align = 0;
    if (!nocache(flags) && likely(hak_free_try_fast(p))) return;
    flags_align(flags & KNOWN_FLAGS, &align);
    hak_free_sized_slow(p, size ? size : 1, align, nocache(flags) ? HAK_SIZED_NOCACHE : 0, "sdallocx");
}

/* Resizes in place where the block allows; returns the real size after.
 * A small block keeps its class (its real size is the class size, or with
 * debug.checks the size it was allocated with); a large one grows or
 * shrinks its mapping (large.c). */
static size_t resize_in_place(void *p, const hak_block_t *b, size_t size, size_t extra) {
    if (b->cls != HAK_CLASS_NONE) return b->usable;
    return hak_large_resize_in_place(p, size, extra);
}

HAK_EXPORT size_t hak_xallocx(void *p, size_t size, size_t extra, int flags) {
    hak_block_t b;
    hak_block_info(p, "xallocx", &b);
    size_t align;
    if (!flags_align(flags, &align)) return b.usable;
    size_t now = resize_in_place(p, &b, size ? size : 1, extra);
    if ((flags & HAK_MALLOCX_ZERO) && now > b.usable) memset((char *)p + b.usable, 0, now - b.usable);
    return now;
}

/* rallocx keeps a small block where its class stays the class mallocx(size,
 * flags) would pick, as jemalloc does, so that sdallocx's size check holds
 * after it; a large one is resized as realloc does it.  NULL: move it.  A
 * large block aligned as asked stays so when realloc moves its pages: one
 * 4 KiB into its mapping is aligned to 4 KiB wherever it goes, and one
 * aligned further is never moved by realloc. */
static void *resize(void *p, const hak_block_t *b, size_t size, size_t align) {
    if (align > 16 && ((uintptr_t)p & (align - 1))) return NULL;
    if (b->cls != HAK_CLASS_NONE)
        return !hak_checks_on() && hak_class_for(size, align, false) == b->cls ? p : NULL;
    return hak_large_realloc(p, size);
}

HAK_EXPORT void *hak_rallocx(void *p, size_t size, int flags) {
    size_t align;
    if (!flags_align(flags, &align)) { errno = EINVAL; return NULL; }
    if (!p) return hak_mallocx(size, flags);
    if (size == 0) size = 1;
    hak_block_t b;
    hak_block_info(p, "rallocx", &b);
    void *q = resize(p, &b, size, align);
    if (!q) {
        q = hak_alloc_ext(size, align, false, nocache(flags));
        if (!q) return NULL; /* p stays valid */
        memcpy(q, p, b.usable < size ? b.usable : size);
        if (nocache(flags)) hak_free_nocache(p, "rallocx");
        else hak_free(p);
    }
    if (flags & HAK_MALLOCX_ZERO) {
        size_t after = hak_sallocx(q, 0);
        if (after > b.usable) memset((char *)q + b.usable, 0, after - b.usable);
    }
    return q;
}
