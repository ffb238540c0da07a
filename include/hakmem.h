/* hakmem: a fast, observable malloc replacement.
 *
 * Linking with -lhakmem (or loading libhakmem.so with LD_PRELOAD) replaces the
 * standard malloc family for the whole program.  The hak_-prefixed functions
 * below are the same allocator under names of its own, for programs that want
 * to call it explicitly.  See hakmem(3). */
#ifndef HAKMEM_H
#define HAKMEM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HAKMEM_VERSION "0.1.0"

#if defined(__GNUC__)
#define HAK_API_MALLOC __attribute__((malloc, warn_unused_result))
#define HAK_API_ALLOC_SIZE(...) __attribute__((alloc_size(__VA_ARGS__)))
#else
#define HAK_API_MALLOC
#define HAK_API_ALLOC_SIZE(...)
#endif

/* ---- The allocator ------------------------------------------------------ */
void *hak_malloc(size_t size) HAK_API_MALLOC HAK_API_ALLOC_SIZE(1);
void hak_free(void *ptr);
void *hak_calloc(size_t nmemb, size_t size) HAK_API_MALLOC HAK_API_ALLOC_SIZE(1, 2);
void *hak_realloc(void *ptr, size_t size) HAK_API_ALLOC_SIZE(2);
void *hak_reallocarray(void *ptr, size_t nmemb, size_t size) HAK_API_ALLOC_SIZE(2, 3);
int hak_posix_memalign(void **memptr, size_t alignment, size_t size);
void *hak_aligned_alloc(size_t alignment, size_t size) HAK_API_MALLOC HAK_API_ALLOC_SIZE(2);
void *hak_memalign(size_t alignment, size_t size) HAK_API_MALLOC HAK_API_ALLOC_SIZE(2);
void *hak_valloc(size_t size) HAK_API_MALLOC HAK_API_ALLOC_SIZE(1);
void *hak_pvalloc(size_t size) HAK_API_MALLOC;
size_t hak_malloc_usable_size(void *ptr);

/* ---- Sized frees (C23), also exported as free_sized and free_aligned_sized
 * (glibc 2.36's headers lack them).  The size is the one asked for (or the
 * new size realloc gave); it is checked for large blocks always, for small
 * ones with debug.checks (hakmem(3)). */
void hak_free_sized(void *ptr, size_t size);
void hak_free_aligned_sized(void *ptr, size_t alignment, size_t size);

/* ---- The extended API, with jemalloc's semantics (hakmem(3)) --------------
 * The flags: an alignment (a power of two, given as its log or itself),
 * HAK_MALLOCX_ZERO (zeroed memory; on growth, beyond the old real size) and
 * HAK_MALLOCX_TCACHE_NONE (not through the thread cache), or-ed together. */
#define HAK_MALLOCX_LG_ALIGN(la) ((int)(la))
#if defined(__GNUC__)
#define HAK_MALLOCX_ALIGN(a) ((int)__builtin_ctzll((unsigned long long)(a)))
#else
#define HAK_MALLOCX_ALIGN(a) hak_mallocx_lg_of(a)
static inline int hak_mallocx_lg_of(size_t a) {
    int lg = 0;
    while (a > 1) a >>= 1, lg++;
    return lg;
}
#endif
#define HAK_MALLOCX_ZERO ((int)0x40)
#define HAK_MALLOCX_TCACHE_NONE ((int)0x100)

void *hak_mallocx(size_t size, int flags) HAK_API_MALLOC HAK_API_ALLOC_SIZE(1);
void *hak_rallocx(void *ptr, size_t size, int flags) HAK_API_ALLOC_SIZE(2);
size_t hak_xallocx(void *ptr, size_t size, size_t extra, int flags);
size_t hak_sallocx(const void *ptr, int flags);
void hak_dallocx(void *ptr, int flags);
void hak_sdallocx(void *ptr, size_t size, int flags);
size_t hak_nallocx(size_t size, int flags);

/* ---- The control tree (hakmem(3), doc/ctl-names.md) ------------------------
 * Returns 0, or an errno value and changes nothing:
 *   ENOENT  no such name or MIB;   EINVAL  wrong *oldlenp or newlen (then
 *   *oldlenp is set to the size the node needs) or a value out of range;
 *   EPERM   write of a read-only node or read of a write-only one;
 *   EFAULT  oldp without oldlenp.
 * A read passes oldp/oldlenp, a write newp/newlen, both swap (old out, new
 * in).  With neither oldp nor newp, a value node stores its size in
 * *oldlenp (if given) and returns 0; an action node runs, provided newlen
 * is 0 and *oldlenp is 0 or oldlenp NULL (anything else is EPERM).
 * Strings travel as const char *.  Index components are c<N>, decimal with
 * no sign and no leading zero (c07 does not exist). */
int hakctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);
int hakctlnametomib(const char *name, size_t *mibp, size_t *miblenp);
int hakctlbymib(const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp,
                void *newp, size_t newlen);

/* Node value types and access modes, as reported by hakctl_list(). */
enum hakctl_type { HAKCTL_BOOL, HAKCTL_U32, HAKCTL_U64, HAKCTL_SIZE, HAKCTL_STRING, HAKCTL_VOID };
enum hakctl_access { HAKCTL_RO, HAKCTL_RW, HAKCTL_WO, HAKCTL_ACTION };

struct hakctl_info {
    const char *name;        /* full name, with indices filled in: "warm_pool.c7.hits" */
    enum hakctl_type type;
    enum hakctl_access access;
    const char *description; /* one line */
    const char *range;       /* documented range of a tunable, or "" */
};

/* Calls cb for every node under prefix, whole components only ("stats.c1"
 * is not under "stats.c"; "", NULL or "hakmem" for all), in tree order, with
 * c<N> components expanded index by index.  info and its name are valid
 * during the call only.  A non-zero return from cb stops the walk and is
 * returned.  Returns ENOENT if no node matches. */
int hakctl_list(const char *prefix, int (*cb)(const struct hakctl_info *info, void *arg), void *arg);

/* Printable names of the enums above ("bool", "read-write", ...). */
const char *hakctl_type_name(enum hakctl_type type);
const char *hakctl_access_name(enum hakctl_access access);

/* ---- Statistics dump (hakmem(3)) --------------------------------------------
 * Human-readable text by default; opts "J" for JSON.  Further letters leave
 * sections out: 'g' general/config, 't' tunables, 'c' per-class table,
 * 'l' large blocks.  A NULL write_cb writes to stderr. */
void hak_stats_print(void (*write_cb)(void *cbopaque, const char *text), void *cbopaque,
                     const char *opts);

#ifdef __cplusplus
}
#endif
#endif /* HAKMEM_H */
