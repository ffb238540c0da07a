/* The control tree, declared once: every name hakctl knows is a row of
 * hak_ctl_nodes below, in tree order.  doc/ctl-names.md is generated from
 * this table (make ctl-doc) and a unit test fails when the two differ. */
#include <errno.h>
#include <string.h>
#include "ctl.h"
#include "params.h"
#include "prof.h"
#include "stats.h"
#include "pagemap.h"
#include "superslab.h"

/* Row builders.  Ranges are given twice, as numbers (checked on writes) and
 * as text (for the documentation and error messages). */
#define CONST_(nm, ty, val, desc) \
    { nm, ty, HAKCTL_RO, HAK_CTL_SRC_CONST, 0, 0, 0, (val), 0, NULL, NULL, "", "", desc }
#define FUNC_RO(nm, ty, lim, getf, def, desc) \
    { nm, ty, HAKCTL_RO, HAK_CTL_SRC_FUNC, 0, lim, 0, 0, 0, getf, NULL, "", def, desc }
#define FUNC_RW(nm, ty, lim, lo, hi, getf, setf, range, def, desc) \
    { nm, ty, HAKCTL_RW, HAK_CTL_SRC_FUNC, 0, lim, 0, lo, hi, getf, setf, range, def, desc }
#define PARAM(nm, ty, field, lo, hi, range, def, desc)                                   \
    { nm, ty, HAKCTL_RW, HAK_CTL_SRC_PARAM, sizeof(hak_params.field), 0,              \
      offsetof(hak_params_t, field), lo, hi, NULL, NULL, range, def, desc }
#define ACTION(nm, setf, desc) \
    { nm, HAKCTL_VOID, HAKCTL_ACTION, HAK_CTL_SRC_FUNC, 0, 0, 0, 0, 0, NULL, setf, "", "", desc }
#define CLASS_STAT(field, desc)                                                         \
    { "stats.c<N>." #field, HAKCTL_U64, HAKCTL_RO, HAK_CTL_SRC_CLASS, 0, HAK_NCLASSES, \
      offsetof(hak_class_totals_t, field), 0, 0, NULL, NULL, "", "", desc }
#define WARM_STAT(nm, field, desc)                                                     \
    { "warm_pool.c<N>." nm, HAKCTL_U64, HAKCTL_RO, HAK_CTL_SRC_CLASS, 0, HAK_NCLASSES, \
      offsetof(hak_class_totals_t, field), 0, 0, NULL, NULL, "", "", desc }
#define GLOBAL_STAT(nm, field, desc)                                                    \
    { nm, HAKCTL_U64, HAKCTL_RO, HAK_CTL_SRC_GLOBAL, 0, 0,                             \
      offsetof(hak_global_totals_t, field), 0, 0, NULL, NULL, "", "", desc }

/* ---- get/set functions (called with the ctl lock held) ------------------ */
static void get_version(unsigned i, hak_ctl_val_t *v) { v->s = HAKMEM_VERSION; }
static void get_class_size(unsigned i, hak_ctl_val_t *v) { v->u = hak_classes[i].size; }
static void get_pagemap_active(unsigned i, hak_ctl_val_t *v) {
    v->u = __atomic_load_n(&hak_pagemap_nroots, __ATOMIC_ACQUIRE) != 0;
}
static void get_capacity(unsigned i, hak_ctl_val_t *v) { v->u = hak_class_capacity(i); }
static int set_capacity(unsigned i, const hak_ctl_val_t *v) {
    hak_store(&hak_params.class_capacity[i], (uint32_t)v->u);
    hak_params_changed();
    return 0;
}

static const char *const thp_names[HAK_THP_MODES] = {
    [HAK_THP_DEFAULT] = "default", [HAK_THP_NEVER] = "never", [HAK_THP_ALWAYS] = "always",
    [HAK_THP_LARGE] = "large"};
static void get_thp(unsigned i, hak_ctl_val_t *v) {
    uint32_t m = hak_load(&hak_params.thp);
    v->s = m < HAK_THP_MODES ? thp_names[m] : "default";
}
static int set_thp(unsigned i, const hak_ctl_val_t *v) {
    for (uint32_t m = 0; m < HAK_THP_MODES; m++)
        if (strcmp(v->s, thp_names[m]) == 0) {
            hak_store(&hak_params.thp, m);
            hak_params_changed();
            return 0;
        }
    return EINVAL;
}

/* stats.print_*: plain storage for the printer.  Strings rotate through
 * four buffers so that a pointer handed out by a read stays intact until
 * three more writes of the same name. */
struct hak_ctl_print_conf hak_ctl_print_conf = {.at_exit = 0, .interval_ms = 0, .opts = "", .path = ""};
static char print_opts_buf[4][64], print_path_buf[4][HAK_CTL_STR_MAX];
static unsigned print_opts_next, print_path_next;

static int store_string(const char **slot, char *bufs, size_t buflen, unsigned *next,
                        const char *s) {
    size_t n = strlen(s);
    if (n >= buflen) return EINVAL;
    char *b = bufs + (size_t)(*next % 4) * buflen;
    *next += 1;
    memcpy(b, s, n + 1);
    __atomic_store_n(slot, (const char *)b, __ATOMIC_RELEASE);
    return 0;
}
static void get_print_at_exit(unsigned i, hak_ctl_val_t *v) { v->u = hak_load(&hak_ctl_print_conf.at_exit); }
static int set_print_at_exit(unsigned i, const hak_ctl_val_t *v) {
    hak_store(&hak_ctl_print_conf.at_exit, (uint32_t)v->u);
    return 0;
}
static void get_interval(unsigned i, hak_ctl_val_t *v) { v->u = hak_load(&hak_ctl_print_conf.interval_ms); }
static int set_interval(unsigned i, const hak_ctl_val_t *v) {
    hak_store(&hak_ctl_print_conf.interval_ms, v->u);
    return 0;
}
static void get_print_opts(unsigned i, hak_ctl_val_t *v) { v->s = hak_load(&hak_ctl_print_conf.opts); }
static int set_print_opts(unsigned i, const hak_ctl_val_t *v) {
    /* letters of hak_stats_print(): J g t c l */
    for (const char *p = v->s; *p; p++)
        if (!strchr("Jgtcl", *p)) return EINVAL;
    return store_string(&hak_ctl_print_conf.opts, &print_opts_buf[0][0], sizeof print_opts_buf[0],
                        &print_opts_next, v->s);
}
static void get_print_path(unsigned i, hak_ctl_val_t *v) { v->s = hak_load(&hak_ctl_print_conf.path); }
static int set_print_path(unsigned i, const hak_ctl_val_t *v) {
    return store_string(&hak_ctl_print_conf.path, &print_path_buf[0][0], sizeof print_path_buf[0],
                        &print_path_next, v->s);
}

/* prof.*: the heap profiler (prof.c) */
struct hak_ctl_prof_conf hak_ctl_prof_conf = {.dump_at_exit = 0, .path = "hakmem.%p.heap"};
static char prof_path_buf[4][HAK_CTL_STR_MAX];
static unsigned prof_path_next;
static void get_prof_active(unsigned i, hak_ctl_val_t *v) { v->u = hak_load(&hak_prof_sampling); }
static int set_prof_active(unsigned i, const hak_ctl_val_t *v) { return hak_prof_set_active(v->u != 0); }
static void get_prof_rate(unsigned i, hak_ctl_val_t *v) { v->u = hak_load(&hak_prof_rate); }
static int set_prof_rate(unsigned i, const hak_ctl_val_t *v) { return hak_prof_set_rate(v->u); }
static void get_prof_path(unsigned i, hak_ctl_val_t *v) { v->s = hak_load(&hak_ctl_prof_conf.path); }
static int set_prof_path(unsigned i, const hak_ctl_val_t *v) {
    if (!hak_prof_path_ok(v->s)) return EINVAL;
    return store_string(&hak_ctl_prof_conf.path, &prof_path_buf[0][0], sizeof prof_path_buf[0],
                        &prof_path_next, v->s);
}
static void get_prof_at_exit(unsigned i, hak_ctl_val_t *v) { v->u = hak_load(&hak_ctl_prof_conf.dump_at_exit); }
static int set_prof_at_exit(unsigned i, const hak_ctl_val_t *v) {
    hak_store(&hak_ctl_prof_conf.dump_at_exit, (uint32_t)v->u);
    return 0;
}
static int act_prof_dump(unsigned i, const hak_ctl_val_t *v) { return hak_prof_dump(); }
static void get_prof_unwinder(unsigned i, hak_ctl_val_t *v) { v->s = hak_prof_unwinder(); }
static void get_prof_count(unsigned i, hak_ctl_val_t *v, size_t off) {
    hak_prof_counts_t c;
    hak_prof_counts(&c);
    memcpy(&v->u, (const char *)&c + off, sizeof v->u);
}
#define PROF_COUNT(f) \
    static void get_prof_##f(unsigned i, hak_ctl_val_t *v) { get_prof_count(i, v, offsetof(hak_prof_counts_t, f)); }
PROF_COUNT(samples)
PROF_COUNT(live)
PROF_COUNT(stacks)
PROF_COUNT(memory)

static int act_flush(unsigned i, const hak_ctl_val_t *v) { hak_thread_cache_flush(); return 0; }
/* debug.checks: the calling thread checks from its next free on; the
 * others from their next refill, like any tunable */
static void get_checks(unsigned i, hak_ctl_val_t *v) { v->u = hak_load(&hak_params.debug_checks); }
static int set_checks(unsigned i, const hak_ctl_val_t *v) {
    hak_store(&hak_params.debug_checks, (uint32_t)v->u);
    hak_params_changed();
    hak_thread_cache_flush();
    return 0;
}
static int act_purge(unsigned i, const hak_ctl_val_t *v) { (void)hak_purge_now(); return 0; }
#if HAK_STATS
static int act_stats_reset(unsigned i, const hak_ctl_val_t *v) { hak_stats_reset(); return 0; }
static void get_thread_allocated(unsigned i, hak_ctl_val_t *v) { v->u = hak_thread_allocated(); }
static void get_thread_deallocated(unsigned i, hak_ctl_val_t *v) { v->u = hak_thread_deallocated(); }
#endif

#define B HAKCTL_BOOL
#define U32 HAKCTL_U32
#define U64 HAKCTL_U64
#define SZ HAKCTL_SIZE
#define STR HAKCTL_STRING

const hak_ctl_node_t hak_ctl_nodes[] = {
    FUNC_RO("version", STR, 0, get_version, "HAKMEM_VERSION", "hakmem version"),
    {"epoch", U64, HAKCTL_RW, HAK_CTL_SRC_FUNC, 0, 0, 0, 0, UINT64_MAX, hak_ctl_epoch_get,
     hak_ctl_epoch_set, "any", "1",
     "writing any value takes a new statistics snapshot; reads give the snapshot count"},
    CONST_("config.debug", B, HAK_DEBUG, "built with --enable-debug"),
    CONST_("config.stats", B, HAK_STATS, "statistics compiled in (not --disable-stats)"),

    /* geometry */
    CONST_("tiny.nclasses", U32, HAK_NTINY, "number of tiny size classes (c0 .. c19)"),
    CONST_("tiny.max_size", SZ, HAK_TINY_MAX, "largest tiny block, bytes"),
    FUNC_RO("tiny.c<N>.size", SZ, HAK_NTINY, get_class_size, "", "block size of tiny class N, bytes"),
    PARAM("tiny.refill_count", U32, refill_count, HAK_REFILL_MIN, HAK_REFILL_MAX, "1..1024", "32",
          "blocks a refill asks for, within the cache's room (a slab's flushed or remote run comes whole if it fits; a fresh slab gives a page's worth)"),
    CONST_("class.nclasses", U32, HAK_NCLASSES, "number of size classes"),
    FUNC_RO("class.c<N>.size", SZ, HAK_NCLASSES, get_class_size, "", "block size of class N, bytes"),
    CONST_("small.max_size", SZ, HAK_SMALL_MAX, "largest block served by a size class, bytes"),
    CONST_("superslab.size", SZ, HAK_SS_SIZE, "bytes in a SuperSlab (mapping unit)"),
    PARAM("superslab.prefault", B, prefault, 0, 1, "true/false", "false",
          "populate the pages of new SuperSlabs when mapping them"),
    CONST_("slab.page_size", SZ, HAK_PAGE_SIZE, "bytes in a slab page"),
    FUNC_RO("pagemap.active", B, 0, get_pagemap_active, "",
            "the page map is set up: free's fast path is on (false only if its address space was refused)"),

    /* tunables */
    PARAM("tcache.capacity", U32, tcache_capacity, 0, HAK_CAPACITY_MAX, "0..4096", "256",
          "ceiling on the thread-cache capacity of every class"),
    FUNC_RW("tcache.c<N>.capacity", U32, HAK_NCLASSES, 0, HAK_CAPACITY_MAX, get_capacity,
            set_capacity, "0..4096", "derived",
            "effective thread-cache capacity of class N; writing overrides it, 0 = derived"),
    PARAM("prefill.budget", U32, prefill_budget, 0, HAK_PREFILL_MAX, "0..16", "0",
          "empty slabs per class (up to 8 KiB) the warm pool keeps ready beyond warm_pool.capacity, "
          "through idle spells and purges: memory for tail latency; 0 turns prefill off"),
    PARAM("warm_pool.capacity", U32, warm_capacity, 0, HAK_WARM_MAX, "0..256", "4",
          "empty slabs kept per class in a heap's warm pool (until purge.delay_ms, or until another "
          "class of the heap needs a slab)"),
#if HAK_STATS
    WARM_STAT("hits", warm_hits, "refills of class N served by the warm pool"),
    WARM_STAT("misses", warm_misses, "refills of class N that found the warm pool empty"),
    WARM_STAT("prefilled", warm_prefilled, "empty slabs of class N kept for the prefill reserve"),
#endif
    PARAM("purge.delay_ms", U64, purge_delay_ms, 0, HAK_PURGE_DELAY_MAX, "0..3600000", "1000",
          "milliseconds a sparse slab, an empty slab kept by a warm pool or an exited thread's cache waits before it gives its memory back"),
    PARAM("purge.decay_ms", U64, purge_decay_ms, 0, HAK_PURGE_DELAY_MAX, "0..3600000", "3000",
          "free pages return to the OS gradually, all of them within this many milliseconds of being freed; 0 = at the next purge pass"),
    PARAM("purge.sparse_slabs", B, purge_sparse, 0, 1, "true/false", "true",
          "return the free 4 KiB pages of slabs a quarter used or less (for purge.delay_ms)"),
    ACTION("purge", act_purge, "return every unused page to the OS now"),
    FUNC_RW("os.thp", STR, 0, 0, 0, get_thp, set_thp, "default/never/always/large", "large",
            "transparent huge pages: for new mappings (never, always), or for the whole chunks of huge blocks (large)"),
    PARAM("background_thread", B, background_thread, 0, 1, "true/false", "true",
          "purge from a background thread of hakmem's"),
    PARAM("large.cache_max", SZ, large_cache_max, 0, (uint64_t)1 << 40, "0..2^40", "512M",
          "most bytes of free chunks (freed huge blocks and SuperSlabs) kept mapped for reuse (within purge.decay_ms)"),
    PARAM("limit.mapped", SZ, mapped_limit, 0, (uint64_t)1 << 48, "0..2^48", "0",
          "most bytes hakmem maps; 0 = no limit"),
    FUNC_RW("debug.checks", B, 0, 0, 1, get_checks, set_checks, "true/false", "config.debug",
          "check every free fully (double free, junk fill); thread caches are off meanwhile"),

    /* the heap profiler */
    FUNC_RW("prof.active", B, 0, 0, 1, get_prof_active, set_prof_active, "true/false", "false",
            "sample allocations with their call stacks (heap profiling)"),
    FUNC_RW("prof.sample_bytes", SZ, 0, 1, HAK_PROF_RATE_MAX, get_prof_rate, set_prof_rate, "1..2^40",
            "524288", "mean bytes allocated between two samples (exponential intervals)"),
    FUNC_RW("prof.path", STR, 0, 0, 0, get_prof_path, set_prof_path,
            "a file in a writable directory; %p pid, %n dump number", "hakmem.%p.heap",
            "file the heap profile is written to (legacy pprof heap format)"),
    ACTION("prof.dump", act_prof_dump, "write the heap profile to prof.path now"),
    FUNC_RW("prof.dump_at_exit", B, 0, 0, 1, get_prof_at_exit, set_prof_at_exit, "true/false", "false",
            "write the heap profile to prof.path when the program exits"),
    FUNC_RO("prof.samples", U64, 0, get_prof_samples, "", "samples taken so far"),
    FUNC_RO("prof.samples_live", U64, 0, get_prof_live, "", "sampled blocks not freed yet"),
    FUNC_RO("prof.stacks", U64, 0, get_prof_stacks, "", "distinct call stacks sampled"),
    FUNC_RO("prof.memory", U64, 0, get_prof_memory, "", "bytes the profiler's records use"),
    FUNC_RO("prof.unwinder", STR, 0, get_prof_unwinder, "",
            "how stacks are taken: libunwind (loaded when profiling starts), libgcc, or none (prof.active then fails)"),

    /* the calling thread */
#if HAK_STATS
    FUNC_RO("thread.allocated", U64, 0, get_thread_allocated, "",
            "bytes allocated by the calling thread (live, not from the snapshot)"),
    FUNC_RO("thread.deallocated", U64, 0, get_thread_deallocated, "",
            "bytes freed by the calling thread (live, not from the snapshot)"),
#endif
    ACTION("thread.cache.flush", act_flush, "return the calling thread's cached blocks to their slabs"),

    /* statistics printer settings (kept even without stats: general section) */
    FUNC_RW("stats.print_at_exit", B, 0, 0, 1, get_print_at_exit, set_print_at_exit, "true/false",
            "false", "print statistics when the program exits"),
    FUNC_RW("stats.print_opts", STR, 0, 0, 0, get_print_opts, set_print_opts, "letters of Jgtcl",
            "", "options of the statistics printed by hakmem itself"),
    FUNC_RW("stats.print_path", STR, 0, 0, 0, get_print_path, set_print_path, "up to 255 bytes",
            "", "file the statistics are printed to; empty = stderr"),
    FUNC_RW("stats.interval_ms", U64, 0, 0, HAK_PURGE_DELAY_MAX, get_interval, set_interval,
            "0..3600000", "0", "print statistics every so many milliseconds; 0 = never"),

    /* statistics: values of the latest snapshot (see epoch) */
#if HAK_STATS
    ACTION("stats.reset", act_stats_reset, "restart the counters from zero (gauges stay)"),
    GLOBAL_STAT("stats.allocated", allocated, "bytes in live blocks (class size) and large blocks"),
    GLOBAL_STAT("stats.active", active, "bytes in pages of slabs in use and live large mappings"),
    GLOBAL_STAT("stats.resident", resident, "resident bytes of the process (from the OS)"),
    GLOBAL_STAT("stats.mapped", mapped, "bytes mapped read-write by hakmem (what strict overcommit charges)"),
    GLOBAL_STAT("stats.reserved", reserved, "address space held beyond stats.mapped: the page map's read-only reservations"),
    GLOBAL_STAT("stats.metadata", metadata, "bytes of headers and heap structures"),
    GLOBAL_STAT("stats.superslabs", superslabs, "SuperSlabs (2 MiB) whose pages are in the page pool"),
    GLOBAL_STAT("stats.superslabs_pooled", superslabs_pooled,
                "free 2 MiB chunks in the shared pool (the chunk heap), for SuperSlabs and huge blocks"),
    GLOBAL_STAT("stats.heaps", heaps, "heaps (one per thread, reused after it exits)"),
    GLOBAL_STAT("stats.heaps_abandoned", heaps_abandoned, "heaps of exited threads not yet adopted"),
    GLOBAL_STAT("stats.purged", purged_bytes, "bytes returned to the OS by purges so far"),
    GLOBAL_STAT("stats.memory.live", mem_live, "resident bytes in live blocks (class size; large blocks: their pages)"),
    GLOBAL_STAT("stats.memory.thread_caches", mem_thread_caches, "bytes of free blocks held in thread caches"),
    GLOBAL_STAT("stats.memory.slab_free", mem_slab_free,
                "free bytes inside slabs: partly used ones (fragmentation) and empty ones warm pools keep"),
    GLOBAL_STAT("stats.memory.dirty", mem_dirty,
                "resident free pages of SuperSlabs, not yet returned to the OS (mincore at each epoch)"),
    GLOBAL_STAT("stats.memory.large_cache", mem_large_cache,
                "resident pages of free 2 MiB chunks (freed huge blocks and SuperSlabs), not yet returned to the OS"),
    GLOBAL_STAT("stats.memory.metadata", mem_metadata, "resident metadata: SuperSlab headers, descriptors, heaps, page map"),
    GLOBAL_STAT("stats.memory.other", mem_other,
                "the rest of stats.resident: the program's own mappings, stacks and code (the parts add up to it)"),
    GLOBAL_STAT("stats.large.allocs", large_allocs, "large blocks allocated"),
    GLOBAL_STAT("stats.large.frees", large_frees, "large blocks freed"),
    GLOBAL_STAT("stats.large.active", large_active, "large blocks live now"),
    GLOBAL_STAT("stats.large.active_bytes", large_active_bytes, "bytes of live large blocks"),
    GLOBAL_STAT("stats.large.cached", large_cached, "free runs of chunks kept mapped for reuse (may be resident)"),
    GLOBAL_STAT("stats.large.cached_bytes", large_cached_bytes, "bytes of those runs"),
    CLASS_STAT(allocs, "mallocs served by class N"),
    CLASS_STAT(frees, "frees of class N blocks"),
    CLASS_STAT(cache_hits, "mallocs of class N served from a thread cache"),
    CLASS_STAT(cache_misses, "mallocs of class N that needed a refill"),
    CLASS_STAT(refills, "thread-cache refills of class N"),
    CLASS_STAT(refill_blocks, "blocks moved into thread caches by refills of class N"),
    CLASS_STAT(flushes, "thread-cache flushes of class N"),
    CLASS_STAT(flush_blocks, "blocks moved out of thread caches by flushes of class N"),
    CLASS_STAT(remote_frees, "class N blocks freed by a thread other than the owner's"),
    CLASS_STAT(cached, "class N blocks in thread caches now (and left by exited threads for the next)"),
    CLASS_STAT(slabs, "slabs carved for class N now"),
    CLASS_STAT(live, "class N blocks allocated and not freed now"),
#endif
};
const unsigned hak_ctl_nnodes = sizeof hak_ctl_nodes / sizeof hak_ctl_nodes[0];
