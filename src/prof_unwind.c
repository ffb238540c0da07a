/* Call stacks for the heap profiler.  Debian's builds have no frame
 * pointers, so a real unwinder reads the unwind tables: libunwind's
 * unw_backtrace when configure found it, else libgcc's _Unwind_Backtrace
 * (which, with glibc 2.35 or later, finds the tables through
 * _dl_find_object, without locks).  Either may take the loader's lock, and
 * libunwind keeps locks of its own: no lock of the profiler is held while
 * unwinding, and fork waits until no thread is inside an unwinder, so that
 * the child inherits none of its locks taken.  A malloc the unwinder makes
 * is not sampled (prof_busy); the caller guards that.
 *
 * The frames of hakmem itself (malloc, its slow paths, the profiler) are
 * left out: they are the frames in libhakmem's own code, found once with
 * dl_iterate_phdr.  When hakmem is linked statically into the program, that
 * code cannot be told from the program's, and they stay. */
#define _GNU_SOURCE
#include "config.h"
#include "prof.h"
#include <link.h>
#include <sched.h>
/* ThreadSanitizer builds use libgcc's: libunwind's thread-exit destructor
 * takes a lock after TSan has let the exiting thread go, and crashes it. */
#if HAK_PROF_LIBUNWIND && defined(__SANITIZE_THREAD__)
#undef HAK_PROF_LIBUNWIND
#define HAK_PROF_LIBUNWIND 0
#undef HAK_PROF_LIBGCC
#define HAK_PROF_LIBGCC 1
#endif
#if HAK_PROF_LIBUNWIND
#define UNW_LOCAL_ONLY
#include <dlfcn.h>
#include <libunwind.h>
#endif
#if HAK_PROF_LIBUNWIND || HAK_PROF_LIBGCC
#include <unwind.h>
#endif

#define SKIP_MAX 16 /* hakmem's frames above the caller, at most */

static uintptr_t own_lo, own_hi; /* libhakmem's code; 0, 0 if linked statically */

static _Atomic int unwinding;    /* threads inside an unwinder */
static _Atomic int fork_pending; /* a fork waits for them */

static int find_own(struct dl_phdr_info *info, size_t size, void *arg) {
    uintptr_t me = (uintptr_t)&hak_prof_backtrace;
    for (unsigned i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
        if (me < lo || me >= hi) continue;
        if (info->dlpi_name && info->dlpi_name[0]) own_lo = lo, own_hi = hi; /* not the program */
        return 1;
    }
    return 0;
}

/* libgcc's unwinder: _Unwind_Backtrace and _Unwind_GetIP, called through
 * pointers (gcc_walk) */
#if HAK_PROF_LIBUNWIND || HAK_PROF_LIBGCC
typedef _Unwind_Reason_Code (*gcc_backtrace_fn)(_Unwind_Trace_Fn, void *);
typedef _Unwind_Ptr (*gcc_getip_fn)(struct _Unwind_Context *);
struct walk { uintptr_t *pc; unsigned n, max; gcc_getip_fn getip; };
static _Unwind_Reason_Code walk_frame(struct _Unwind_Context *ctx, void *arg) {
    struct walk *w = arg;
    uintptr_t ip = w->getip(ctx);
    if (!ip || w->n == w->max) return _URC_END_OF_STACK;
    w->pc[w->n++] = ip;
    return _URC_NO_REASON;
}
static unsigned gcc_walk(gcc_backtrace_fn bt, gcc_getip_fn getip, uintptr_t *pc, unsigned max) {
    struct walk w = {pc, 0, max, getip};
    bt(walk_frame, &w);
    return w.n;
}
#endif

#if HAK_PROF_LIBUNWIND
/* unw_backtrace is the fastest walk (0.5 us here): it caches each frame's
 * layout.  But its cache is per thread, 256 KiB mapped and written at a
 * thread's first walk and unmapped at its exit, which made a sampled
 * program of short threads (Larson) 6 times slower.  So in the shared
 * library a thread's first GCC_WALKS walks use libgcc's unwinder (no cache,
 * 2 us; libunwind's own unw_step makes some twenty system calls a walk,
 * 28 us), looked up in libgcc_s itself: libunwind exports an
 * _Unwind_Backtrace and _Unwind_GetIP of its own.  (A static program links
 * one of the two only.) */
#define GCC_WALKS 8
static gcc_backtrace_fn gcc_backtrace;
static gcc_getip_fn gcc_getip;
/* The shared library loads libunwind (and its liblzma) only when profiling
 * first starts, not at every program's start: mapping and relocating them
 * cost each process about 100 KiB of RSS, profiled or not.  Where it
 * cannot be loaded, libgcc's unwinder takes every walk. */
typedef int (*unw_backtrace_fn)(void **, int);
#ifdef PIC
static unw_backtrace_fn unw_bt;
static bool unw_missing; /* tried, and not found */
#define LIBUNWIND_SONAME "libunwind.so.8"
#else
static unw_backtrace_fn unw_bt = unw_backtrace;
static const bool unw_missing = false;
#endif
static unsigned raw_backtrace(uintptr_t *pc, unsigned max) {
    if (gcc_backtrace && (hak_tls.prof_walks < GCC_WALKS || !unw_bt)) {
        hak_tls.prof_walks++;
        return gcc_walk(gcc_backtrace, gcc_getip, pc, max);
    }
    int n = unw_bt ? unw_bt((void **)pc, (int)max) : 0;
    return n > 0 ? (unsigned)n : 0;
}
static bool unwinders_init(void) {
#ifdef PIC
    if (!gcc_getip) {
        void *gcc = dlopen("libgcc_s.so.1", RTLD_LAZY);
        gcc_getip = gcc ? (gcc_getip_fn)dlsym(gcc, "_Unwind_GetIP") : NULL;
        if (gcc_getip) gcc_backtrace = (gcc_backtrace_fn)dlsym(gcc, "_Unwind_Backtrace");
    }
    if (!unw_bt) {
        /* RTLD_LOCAL: its own _Unwind_Backtrace must not replace libgcc's */
        void *u = dlopen(LIBUNWIND_SONAME, RTLD_NOW | RTLD_LOCAL);
        unw_bt = u ? (unw_backtrace_fn)dlsym(u, "unw_backtrace") : NULL;
        unw_missing = !unw_bt;
    }
#endif
    uintptr_t pc[8];
    if (unw_bt) unw_bt((void **)pc, 8);
    if (gcc_backtrace) gcc_walk(gcc_backtrace, gcc_getip, pc, 8);
    return unw_bt || gcc_backtrace;
}
const char *hak_prof_unwinder(void) {
    return !unw_missing ? "libunwind" : gcc_backtrace ? "libgcc" : "none";
}
#elif HAK_PROF_LIBGCC
static unsigned raw_backtrace(uintptr_t *pc, unsigned max) {
    return gcc_walk(_Unwind_Backtrace, _Unwind_GetIP, pc, max);
}
static bool unwinders_init(void) {
    uintptr_t pc[8];
    raw_backtrace(pc, 8);
    return true;
}
const char *hak_prof_unwinder(void) { return "libgcc"; }
#else
static bool unwinders_init(void) { return false; }
static unsigned raw_backtrace(uintptr_t *pc, unsigned max) { return 0; }
const char *hak_prof_unwinder(void) { return "none"; }
#endif

bool hak_prof_unwind_init(void) {
    if (!HAK_PROF_LIBUNWIND && !HAK_PROF_LIBGCC) return false;
    dl_iterate_phdr(find_own, NULL);
    /* one walk now, under the ctl lock: an unwinder sets itself up on its
     * first call, which must not be two sampling threads at once (nor cost
     * the first sampled malloc) */
    return unwinders_init();
}

static bool own(uintptr_t pc) { return pc >= own_lo && pc < own_hi; }

unsigned hak_prof_backtrace(uintptr_t *pc, unsigned max) {
    uintptr_t raw[HAK_PROF_DEPTH + SKIP_MAX];
    unsigned cap = max + SKIP_MAX < HAK_PROF_DEPTH + SKIP_MAX ? max + SKIP_MAX : HAK_PROF_DEPTH + SKIP_MAX;
    for (;;) {
        atomic_fetch_add(&unwinding, 1);
        if (!atomic_load(&fork_pending)) break;
        atomic_fetch_sub(&unwinding, 1);
        while (atomic_load(&fork_pending)) sched_yield();
    }
    hak_tls.prof_unwinding = 1;
    unsigned n = raw_backtrace(raw, cap);
    hak_tls.prof_unwinding = 0;
    atomic_fetch_sub(&unwinding, 1);
    /* the unwinder's own frame may come first, then ours */
    unsigned start = 0;
    while (start < n && start < 4 && !own(raw[start])) start++;
    if (start == n || start == 4) start = 0;
    while (start < n && own(raw[start])) start++;
    unsigned k = 0;
    for (unsigned i = start; i < n && k < max; i++) pc[k++] = raw[i];
    return k;
}

/* fork: no thread may be inside an unwinder (but the forking thread itself,
 * from a signal handler that interrupted it there) */
void hak_prof_unwind_fork_prepare(void) {
    atomic_store(&fork_pending, 1);
    int self = hak_tls.prof_unwinding;
    while (atomic_load(&unwinding) > self) sched_yield();
}

void hak_prof_unwind_fork_done(bool child) {
    if (child) atomic_store(&unwinding, hak_tls.prof_unwinding); /* the others are gone */
    atomic_store(&fork_pending, 0);
}
