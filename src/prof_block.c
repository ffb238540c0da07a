/* Where the heap profiler's sampled blocks live, and how a block carries its
 * sample.  A sampled small block must be recognised when it is freed, from
 * any thread, without the free fast path doing anything new: so it lives
 * outside the slabs (page-map value 0 sends its free to the slow path),
 * today as a large block, whose header keeps the sample (large.c's tag).
 * Large blocks that are sampled carry theirs the same way.  This file is the
 * profiler's only use of the large-block layer. */
#include "prof.h"

void *hak_prof_block_alloc(size_t usize, hak_prof_bucket_t *b) {
    void *p = hak_large_alloc(usize, 0, false); /* 4 KiB aligned: any small class's alignment */
    if (p) hak_large_set_tag(p, b);
    return p;
}

hak_prof_bucket_t *hak_prof_block_untag(void *p, const char *caller) {
    hak_prof_bucket_t *b = hak_large_tag(p, caller);
    if (b) hak_large_set_tag(p, NULL);
    return b;
}

void hak_prof_block_set_tag(void *p, hak_prof_bucket_t *b) {
    hak_large_set_tag(p, b);
}

size_t hak_prof_block_usable(void *p, const char *caller) {
    hak_prof_bucket_t *b = hak_large_tag(p, caller);
    return b ? b->size : hak_large_usable(p, caller);
}
