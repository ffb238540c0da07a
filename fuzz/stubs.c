/* Stand-ins for the allocator core, so the control tree, HAKMEM_CONF and the
 * parameters can be built alone under ASan/libFuzzer (a replacing malloc and
 * ASan do not mix).  Test code only; the library has the real ones. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "stats.h"

static uint64_t stub_counter;

void hak_stats_take(hak_stats_snapshot_t *out) {
    memset(out, 0, sizeof *out);
    stub_counter++;
    for (unsigned c = 0; c < HAK_NCLASSES; c++) {
        out->cls[c].size = hak_classes[c].size;
        out->cls[c].allocs = stub_counter * 1000 + c;
        out->cls[c].warm_hits = c;
    }
    out->global.allocated = stub_counter;
    out->global.resident = 1u << 20;
}
void hak_stats_reset(void) { stub_counter = 0; }
uint64_t hak_thread_allocated(void) { return 0; }
uint64_t hak_thread_deallocated(void) { return 0; }
void hak_thread_cache_flush(void) {}
size_t hak_purge_now(void) { return 0; }

/* Formats every message (so the fuzzers exercise it) but prints only with
 * HAK_FUZZ_VERBOSE set: HAKMEM_CONF fuzzing would flood stderr. */
void hak_message(const char *fmt, ...) {
    static int verbose = -1;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (verbose < 0) verbose = getenv("HAK_FUZZ_VERBOSE") != NULL;
    if (verbose) fprintf(stderr, "hakmem: %s\n", buf);
}
void hak_fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    abort();
}
void hak_assert_fail(const char *what, const char *file, int line) { hak_fatal("%s %s:%d", what, file, line); }

/* The heap profiler's control (prof.c): values kept, nothing sampled. */
#include "prof.h"
uint8_t hak_prof_sampling;
uint64_t hak_prof_rate = HAK_PROF_RATE_DEFAULT;
int hak_prof_set_active(bool on) { hak_prof_sampling = on; return 0; }
int hak_prof_set_rate(uint64_t bytes) { hak_prof_rate = bytes; return 0; }
bool hak_prof_path_ok(const char *pattern) { return pattern[0] != 0; }
int hak_prof_dump(void) { return 0; }
void hak_prof_counts(hak_prof_counts_t *out) { memset(out, 0, sizeof *out); }
const char *hak_prof_unwinder(void) { return "none"; }

/* The page map (pagemap.c): never set up here, so pagemap.active reads 0. */
uintptr_t hak_pagemap_nroots;
