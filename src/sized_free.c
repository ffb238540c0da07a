/* Sized frees: C23's free_sized and free_aligned_sized here; jemalloc's
 * sdallocx (alloc_ext.c) and C++'s sized operator delete (cxx_new.c) share
 * the slow path.
 *
 * The size cannot save a lookup: the page map gives a block's class in two
 * loads that stay in cache, with the check that the pointer is ours, so a
 * sized free's fast path is free's and costs the same (27 instructions
 * under callgrind, as free and delete).  The size is checked on the slow
 * path instead: for a large block always (the fast path never takes one),
 * for a small block with debug.checks.  A free with
 * debug.checks off never takes the size on trust: the block goes back to
 * the class the page map says. */
#include "alloc.h"
#include "large.h"
#include "params.h"
#include "tcache.h"
#include <hakmem.h>

static bool is_pow2(size_t x) { return x && !(x & (x - 1)); }

static bool small_size_ok(const hak_block_t *b, size_t size, size_t align, unsigned how) {
    if (b->asked != SIZE_MAX) /* allocated under debug.checks: the trailer knows */
        return size == b->asked || (size == 0 && b->asked == 1);
    if (hak_class_for(size, align, false) == b->cls) return true;
    return !(how & HAK_SIZED_EXACT) && align <= 16 && hak_realloc_keeps(b->cls, size);
}

static HAK_COLD HAK_NORETURN void wrong_size(void *p, const hak_block_t *b, size_t size,
                                            size_t align, const char *caller) {
    char with[64] = "";
    if (align > 16) hak_snprintf(with, sizeof with, " and alignment %zu", align);
    if (b->cls == HAK_CLASS_NONE)
        hak_fatal("%s(): size %zu%s given for a large block of %zu bytes at %p", caller, size,
                  with, b->usable, p);
    if (b->asked != SIZE_MAX)
        hak_fatal("%s(): size %zu%s given for a block of class c%u (%u bytes) allocated with "
                  "size %zu at %p", caller, size, with, b->cls, hak_classes[b->cls].size, b->asked, p);
    hak_fatal("%s(): size %zu%s given for a block of class c%u (%u bytes) at %p", caller, size, with,
              b->cls, hak_classes[b->cls].size, p);
}

void hak_free_sized_slow(void *p, size_t size, size_t align, unsigned how, const char *caller) {
    if (!p) return;
    bool checks = hak_checks_on();
    if (checks || hak_pagemap_get(p) == 0) { /* a large block, or with checks */
        if (checks && align && !is_pow2(align))
            hak_fatal("%s(): alignment %zu is not a power of two (freeing %p)", caller, align, p);
        hak_block_t b;
        hak_block_info(p, caller, &b);
        bool ok = b.cls == HAK_CLASS_NONE ? hak_large_usable_for(size, 0) == b.usable
                                          : small_size_ok(&b, size, align, how);
        if (!ok) wrong_size(p, &b, size, align, caller);
    }
    if (how & HAK_SIZED_NOCACHE) hak_free_nocache(p, caller);
    else hak_free_slow(p);
}

HAK_EXPORT void hak_free_sized(void *p, size_t size) {
    if (likely(hak_free_try_fast(p))) return;
    hak_free_sized_slow(p, size, 0, 0, "free_sized");
}

/* aligned_alloc's blocks never went through realloc: the size is exact */
HAK_EXPORT void hak_free_aligned_sized(void *p, size_t align, size_t size) {
    if (likely(hak_free_try_fast(p))) return;
    hak_free_sized_slow(p, size, align, HAK_SIZED_EXACT, "free_aligned_sized");
}

#ifndef HAK_NO_STD_NAMES
HAK_ALIAS(free_sized, hak_free_sized);
HAK_ALIAS(free_aligned_sized, hak_free_aligned_sized);
#endif
