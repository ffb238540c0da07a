/* glibc's malloc introspection and tuning, answered from hakmem's own
 * figures, so that a program that asks (linked or preloaded) gets the
 * allocator it runs on, not glibc's unused heap: mallinfo2, mallinfo,
 * malloc_info, malloc_stats, mallopt and malloc_trim.
 *
 * The figures come from a statistics snapshot (stats.c).  It is made of
 * gauges that every build keeps, --disable-stats included (blocks in and
 * out of the thread caches, slabs, mappings), so these answer the same
 * there.  The snapshot lives in a block of our own while it is written
 * out: stdio may allocate, and no allocator lock is held meanwhile. */
#include "alloc.h"
#include "ctl.h"
#include "purge.h"
#include "stats.h"
#include "superslab.h"
#include <hakmem.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#ifndef HAK_NO_STD_NAMES

#ifndef HAVE_STRUCT_MALLINFO2 /* glibc before 2.33 */
struct mallinfo2 {
    size_t arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost;
};
#endif

/* The snapshot's own block is live while it is taken: it is not the
 * program's, so it does not count. */
static hak_stats_snapshot_t *snapshot(void) {
    hak_stats_snapshot_t *s = hak_malloc(sizeof *s);
    if (!s) return NULL;
    hak_stats_take(s);
    hak_block_t b;
    hak_block_info(s, "mallinfo", &b);
    if (b.cls != HAK_CLASS_NONE && s->cls[b.cls].live) {
        s->cls[b.cls].live--;
        s->global.allocated -= hak_classes[b.cls].size;
    }
    return s;
}

/* glibc's fields, as mallinfo(3) documents them (hakmem(3) says how each
 * is made).  arena + hblkhd = stats.mapped. */
static struct mallinfo2 info_of(const hak_stats_snapshot_t *s) {
    const hak_global_totals_t *g = &s->global;
    struct mallinfo2 m = {0};
    m.hblks = g->large_active;
    m.hblkhd = g->large_active_bytes;
    m.arena = g->mapped > m.hblkhd ? g->mapped - m.hblkhd : 0;
    m.uordblks = g->allocated > g->large_active_bytes ? g->allocated - g->large_active_bytes : 0;
    m.fordblks = m.arena > m.uordblks ? m.arena - m.uordblks : 0;
    size_t free_blocks = g->large_cached;
    for (unsigned c = 0; c < HAK_NCLASSES; c++) {
        const hak_class_totals_t *t = &s->cls[c];
        uint64_t blocks = t->slabs * ((uint64_t)hak_classes[c].slab_pages << HAK_PAGE_SHIFT) / t->size;
        m.smblks += t->cached;
        m.fsmblks += t->cached * t->size;
        if (blocks > t->live + t->cached) free_blocks += blocks - t->live - t->cached;
    }
    m.ordblks = free_blocks;
    m.keepcost = g->superslabs_pooled * HAK_SS_SIZE; /* free chunks: what purge returns whole */
    return m;
}

HAK_EXPORT struct mallinfo2 mallinfo2(void) {
    struct mallinfo2 m = {0};
    hak_stats_snapshot_t *s = snapshot();
    if (s) m = info_of(s);
    hak_free(s);
    return m;
}

/* The old interface has int fields: each is clamped to INT_MAX. */
HAK_EXPORT struct mallinfo mallinfo(void) {
    struct mallinfo2 m = mallinfo2();
#define CLAMP(f) .f = m.f > INT_MAX ? INT_MAX : (int)m.f
    struct mallinfo r = {CLAMP(arena), CLAMP(ordblks), CLAMP(smblks), CLAMP(hblks), CLAMP(hblkhd),
                         CLAMP(usmblks), CLAMP(fsmblks), CLAMP(uordblks), CLAMP(fordblks),
                         CLAMP(keepcost)};
#undef CLAMP
    return r;
}

/* XML in the spirit of glibc's: a <malloc> root with a version, a <classes>
 * table, then <total>, <system> and <aspace> elements as glibc names them
 * (type "mmap" for large blocks), and <stats> with stats.* by name.  Every
 * value is a decimal number; the version is escaped. */
static int write_info(FILE *fp, const hak_stats_snapshot_t *s) {
    const hak_global_totals_t *g = &s->global;
    struct mallinfo2 m = info_of(s);
    int bad = 0;
#define W(...) bad |= fprintf(fp, __VA_ARGS__) < 0
    W("<malloc version=\"hakmem-");
    for (const char *v = HAKMEM_VERSION; *v; v++) {
        if (*v == '<') W("&lt;");
        else if (*v == '&') W("&amp;");
        else if (*v == '"') W("&quot;");
        else W("%c", *v);
    }
    W("\">\n<classes>\n");
    uint64_t live = 0;
    for (unsigned c = 0; c < HAK_NCLASSES; c++) {
        const hak_class_totals_t *t = &s->cls[c];
        live += t->live;
        if (!t->allocs && !t->frees && !t->live && !t->cached && !t->slabs) continue;
        W("<class id=\"%u\" size=\"%llu\" live=\"%llu\" live_bytes=\"%llu\" cached=\"%llu\" "
          "slabs=\"%llu\" allocs=\"%llu\" frees=\"%llu\"/>\n", c, (unsigned long long)t->size,
          (unsigned long long)t->live, (unsigned long long)(t->live * t->size),
          (unsigned long long)t->cached, (unsigned long long)t->slabs,
          (unsigned long long)t->allocs, (unsigned long long)t->frees);
    }
    W("</classes>\n");
    W("<total type=\"small\" count=\"%llu\" size=\"%zu\"/>\n", (unsigned long long)live, m.uordblks);
    W("<total type=\"cached\" count=\"%zu\" size=\"%zu\"/>\n", m.smblks, m.fsmblks);
    W("<total type=\"mmap\" count=\"%zu\" size=\"%zu\"/>\n", m.hblks, m.hblkhd);
    W("<total type=\"mmap_cached\" count=\"%llu\" size=\"%llu\"/>\n",
      (unsigned long long)g->large_cached, (unsigned long long)g->large_cached_bytes);
    W("<system type=\"current\" size=\"%llu\"/>\n", (unsigned long long)g->mapped);
    W("<system type=\"resident\" size=\"%llu\"/>\n", (unsigned long long)g->resident);
    W("<system type=\"metadata\" size=\"%llu\"/>\n", (unsigned long long)g->metadata);
    W("<aspace type=\"total\" size=\"%llu\"/>\n", (unsigned long long)g->mapped);
    W("<stats allocated=\"%llu\" active=\"%llu\" resident=\"%llu\" mapped=\"%llu\" "
      "metadata=\"%llu\" superslabs=\"%llu\" superslabs_pooled=\"%llu\" heaps=\"%llu\" "
      "heaps_abandoned=\"%llu\" purged=\"%llu\"/>\n",
      (unsigned long long)g->allocated, (unsigned long long)g->active,
      (unsigned long long)g->resident, (unsigned long long)g->mapped,
      (unsigned long long)g->metadata, (unsigned long long)g->superslabs,
      (unsigned long long)g->superslabs_pooled, (unsigned long long)g->heaps,
      (unsigned long long)g->heaps_abandoned, (unsigned long long)g->purged_bytes);
    W("</malloc>\n");
#undef W
    return bad ? -1 : 0;
}

/* As glibc's: options must be 0 (else EINVAL). */
HAK_EXPORT int malloc_info(int options, FILE *fp) {
    if (options != 0 || !fp) { errno = EINVAL; return -1; }
    hak_stats_snapshot_t *s = snapshot();
    if (!s) return -1; /* errno ENOMEM */
    int r = write_info(fp, s);
    hak_free(s);
    return r;
}

/* A short summary on stderr, its first lines as glibc words them. */
HAK_EXPORT void malloc_stats(void) {
    hak_stats_snapshot_t *s = snapshot();
    if (!s) { hak_message("malloc_stats(): out of memory"); return; }
    const hak_global_totals_t *g = &s->global;
    struct mallinfo2 m = info_of(s);
    char buf[1024];
    hak_snprintf(buf, sizeof buf,
                 "hakmem " HAKMEM_VERSION "\n"
                 "Total (incl. mmap):\n"
                 "system bytes     = %10zu\n"
                 "in use bytes     = %10zu\n"
                 "mmap regions     = %10zu\n"
                 "mmap bytes       = %10zu\n"
                 "cached bytes     = %10zu (thread caches)\n"
                 "resident bytes   = %10zu\n"
                 "metadata bytes   = %10zu\n"
                 "heaps            = %10zu\n",
                 (size_t)g->mapped, (size_t)g->allocated, m.hblks, m.hblkhd, m.fsmblks,
                 (size_t)g->resident, (size_t)g->metadata, (size_t)g->heaps);
    hak_free(s);
    hak_write_stderr(buf);
}

/* mallopt: the options with a meaning here become control-tree writes, and
 * return 1, or 0 (changing nothing) if the tree refuses the value.  The
 * others return 1 and change nothing, as glibc answers for an option it
 * does not support (mallopt(3), BUGS).  See hakmem(3) for the table. */
#ifndef M_TRIM_THRESHOLD
#define M_TRIM_THRESHOLD -1
#endif
HAK_EXPORT int mallopt(int param, int value) {
    switch (param) {
    case M_TRIM_THRESHOLD: { /* freed memory kept before it goes back: the large cache */
        size_t bytes = value < 0 ? (size_t)1 << 40 : (size_t)value; /* "never trim" */
        return hakctl("large.cache_max", NULL, NULL, &bytes, sizeof bytes) == 0;
    }
    default:
        return 1;
    }
}

/* glibc's malloc_trim releases free memory: so does ours (all of it; pad is
 * the bytes glibc would keep at the top of its heap). */
HAK_EXPORT int malloc_trim(size_t pad) {
    (void)pad;
    return hak_purge_now() > 0;
}

#endif /* HAK_NO_STD_NAMES */
