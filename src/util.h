/* Small shared helpers: branch hints, attributes, locks, atomics. */
#ifndef HAK_UTIL_H
#define HAK_UTIL_H

#include "config.h"
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define HAK_NOINLINE   __attribute__((noinline))
#define HAK_COLD       __attribute__((cold, noinline))
#define HAK_INLINE     static inline __attribute__((always_inline))
#define HAK_EXPORT     __attribute__((visibility("default")))
#define HAK_HIDDEN     __attribute__((visibility("hidden")))
#define HAK_NORETURN   __attribute__((noreturn))

/* A standard name for one of ours: the same function, exported.  Builds
 * with HAK_NO_STD_NAMES (the sanitizer builds) define none. */
#if defined(__clang__)
#define HAK_ALIAS(name, target) \
    __typeof__(target) name __attribute__((alias(#target), visibility("default")))
#else
#define HAK_ALIAS(name, target) \
    __typeof__(target) name __attribute__((alias(#target), copy(target), visibility("default")))
#endif

#define HAK_KiB ((size_t)1024)
#define HAK_MiB (HAK_KiB * 1024)
#define HAK_GiB (HAK_MiB * 1024)

#define hak_align_up(x, a)   (((x) + ((a) - 1)) & ~((uintptr_t)(a) - 1))
#define hak_align_down(x, a) ((x) & ~((uintptr_t)(a) - 1))
#define hak_min(a, b) ((a) < (b) ? (a) : (b))
#define hak_max(a, b) ((a) > (b) ? (a) : (b))

/* Relaxed atomics for counters written by one thread and read by others:
 * plain moves on x86, but race-free in the C memory model (and for TSan). */
#define hak_load(p)      __atomic_load_n((p), __ATOMIC_RELAXED)
#define hak_store(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define hak_bump(p, n)   hak_store((p), hak_load(p) + (n))
#define hak_add(p, n)    __atomic_fetch_add((p), (n), __ATOMIC_RELAXED)
#define hak_sub(p, n)    __atomic_fetch_sub((p), (n), __ATOMIC_RELAXED)

/* A test-and-test-and-set lock for short, rare critical sections (page runs
 * inside one SuperSlab).  It allocates nothing and needs no initialisation. */
typedef struct { _Atomic int v; } hak_spin_t;
void hak_spin_lock_slow(hak_spin_t *l);
static inline void hak_spin_lock(hak_spin_t *l) {
    int z = 0;
    if (likely(atomic_compare_exchange_weak_explicit(&l->v, &z, 1, memory_order_acquire,
                                                     memory_order_relaxed)))
        return;
    hak_spin_lock_slow(l);
}
static inline void hak_spin_unlock(hak_spin_t *l) {
    atomic_store_explicit(&l->v, 0, memory_order_release);
}

#if HAK_DEBUG
#define hak_assert(c) ((c) ? (void)0 : hak_assert_fail(#c, __FILE__, __LINE__))
#else
#define hak_assert(c) ((void)0)
#endif

/* fatal.c: async-signal-safe reporting; never allocates, ends in abort(). */
/* The per-process secret that free-list links are stored XORed with (odd,
 * from AT_RANDOM; superslab.h and tcache.h encode with it). */
extern uintptr_t hak_link_secret HAK_HIDDEN;
/* The thread cache's link form (tcache.h), which runs of blocks keep on
 * their way home (flushes onto a slab's local list, remote stacks). */
static inline void *hak_cache_next(const void *p) {
    return (void *)(*(const uintptr_t *)p ^ hak_link_secret);
}
static inline void hak_cache_link(void *p, const void *next) {
    *(uintptr_t *)p = (uintptr_t)next ^ hak_link_secret;
}

HAK_NORETURN HAK_COLD void hak_fatal(const char *fmt, ...);
HAK_NORETURN HAK_COLD void hak_assert_fail(const char *what, const char *file, int line);
/* Formats like a tiny printf (%s %d %u %zu %lu %llu %x %p %c, field widths
 * "%8llu" and "%-6s") into buf; never allocates.  Returns the length the
 * whole text needs, like snprintf. */
size_t hak_vsnprintf(char *buf, size_t len, const char *fmt, __builtin_va_list ap);
size_t hak_snprintf(char *buf, size_t len, const char *fmt, ...);
void hak_write_stderr(const char *s);
void hak_message(const char *fmt, ...); /* "hakmem: ..." line on stderr, not fatal */

/* path.c: a dump's file-name pattern expanded into out ("%p" the pid, "%%"
 * '%', and "%n" *n if n is given); false if it does not fit. */
bool hak_path_expand(char *out, size_t len, const char *pattern, const uint64_t *n);

/* Milliseconds on the monotonic clock (vDSO; no allocation). */
uint64_t hak_now_ms(void);

#endif
