/* The replaceable C++ allocation functions of C++17 (all twenty: new and
 * new[], nothrow, aligned; delete and delete[], sized, aligned, nothrow),
 * written in C under their mangled names, so that C++ programs reach the
 * allocator without libstdc++'s wrappers and C programs never need a C++
 * runtime: what these need of one (the new-handler, std::bad_alloc) they
 * take through weak references, which resolve only where a C++ runtime is
 * loaded anyway, and add no DT_NEEDED entry.
 *
 * new follows the standard's protocol: on failure it calls the new-handler
 * and retries while there is one, then throws std::bad_alloc (through the
 * runtime's own thrower: libstdc++'s, or libc++'s); the nothrow forms
 * return NULL instead.  They run the handler too; one that throws makes
 * them throw (the standard asks them to catch it, which C cannot: use a
 * handler that returns or aborts with nothrow new).  With no C++ runtime at
 * all (a C program calling these by name) a failing new aborts with a
 * message.  Sized delete checks its size as free_sized does (sized_free.c),
 * but exactly: C++ passes the size it asked for. */
#include "alloc.h"
#include "tcache.h"
#include <hakmem.h>

#ifndef HAK_NO_STD_NAMES

/* the mangling of size_t */
#if __SIZEOF_SIZE_T__ == __SIZEOF_LONG__
#define SZ "m"
#elif __SIZEOF_SIZE_T__ == __SIZEOF_INT__
#define SZ "j"
#else
#error "unknown size_t mangling"
#endif
#define ALIGN_T "St11align_val_t"
#define NOTHROW_T "RKSt9nothrow_t"

/* std::get_new_handler(), std::__throw_bad_alloc() (libstdc++) and
 * std::__1::__throw_bad_alloc() (libc++). */
typedef void (*hak_new_handler_t)(void);
extern hak_new_handler_t cxx_get_new_handler(void) __asm__("_ZSt15get_new_handlerv")
    __attribute__((weak));
extern HAK_NORETURN void cxx_throw_bad_alloc(void) __asm__("_ZSt17__throw_bad_allocv")
    __attribute__((weak));
extern HAK_NORETURN void cxx_throw_bad_alloc_libcxx(void) __asm__("_ZNSt3__117__throw_bad_allocEv")
    __attribute__((weak));

static bool is_pow2(size_t x) { return x && !(x & (x - 1)); }

static void *try_alloc(size_t size, size_t align) {
    return align <= 16 ? hak_malloc(size) : hak_alloc_ext(size, align, false, false);
}

static HAK_COLD HAK_NORETURN void throw_bad_alloc(size_t size) {
    if (cxx_throw_bad_alloc) cxx_throw_bad_alloc();
    if (cxx_throw_bad_alloc_libcxx) cxx_throw_bad_alloc_libcxx();
    hak_fatal("operator new(): out of memory for %zu bytes, and no C++ runtime to throw "
              "std::bad_alloc", size);
}

/* The first attempt failed: the new-handler loop, then NULL or bad_alloc. */
static HAK_NOINLINE void *new_failed(size_t size, size_t align, bool nothrow) {
    if (is_pow2(align)) { /* an alignment of another kind never succeeds */
        for (;;) {
            hak_new_handler_t handler = cxx_get_new_handler ? cxx_get_new_handler() : NULL;
            if (!handler) break;
            handler();
            void *p = try_alloc(size, align);
            if (p) return p;
        }
    }
    if (nothrow) return NULL;
    throw_bad_alloc(size);
}

#define NEW_FN(cname, mangled, nothrow_)                                         \
    HAK_EXPORT void *cname(size_t size) __asm__(mangled);                       \
    void *cname(size_t size) {                                                  \
        void *p = hak_malloc_fast(size);                                        \
        return likely(p != NULL) ? p : new_failed(size, 1, nothrow_);           \
    }
#define NEW_ALIGNED_FN(cname, mangled, nothrow_)                                \
    HAK_EXPORT void *cname(size_t size, size_t align) __asm__(mangled);         \
    void *cname(size_t size, size_t align) {                                    \
        void *p = align <= 16 ? hak_malloc_fast(size)                           \
                  : is_pow2(align) ? hak_alloc_ext(size, align, false, false) : NULL; \
        return likely(p != NULL) ? p : new_failed(size, align, nothrow_);       \
    }

NEW_FN(cxx_new, "_Znw" SZ, false)
NEW_FN(cxx_new_array, "_Zna" SZ, false)
NEW_FN(cxx_new_nothrow, "_Znw" SZ NOTHROW_T, true)
NEW_FN(cxx_new_array_nothrow, "_Zna" SZ NOTHROW_T, true)
NEW_ALIGNED_FN(cxx_new_aligned, "_Znw" SZ ALIGN_T, false)
NEW_ALIGNED_FN(cxx_new_array_aligned, "_Zna" SZ ALIGN_T, false)
NEW_ALIGNED_FN(cxx_new_aligned_nothrow, "_Znw" SZ ALIGN_T NOTHROW_T, true)
NEW_ALIGNED_FN(cxx_new_array_aligned_nothrow, "_Zna" SZ ALIGN_T NOTHROW_T, true)

/* Unsized deletes are free; the extra argument (an alignment, a nothrow_t)
 * changes nothing. */
#define DELETE_FN(cname, mangled, ...)                                          \
    HAK_EXPORT void cname(void *p, ##__VA_ARGS__) __asm__(mangled);             \
    void cname(void *p, ##__VA_ARGS__) { hak_free_fast(p); }
/* Sized deletes: the size (and alignment) is checked on the slow path. */
#define DELETE_SIZED_FN(cname, mangled, caller)                                 \
    HAK_EXPORT void cname(void *p, size_t size) __asm__(mangled);               \
    void cname(void *p, size_t size) {                                          \
        if (unlikely(!hak_free_try_fast(p)))                                    \
            hak_free_sized_slow(p, size, 0, HAK_SIZED_EXACT, caller);           \
    }
#define DELETE_SIZED_ALIGNED_FN(cname, mangled, caller)                         \
    HAK_EXPORT void cname(void *p, size_t size, size_t align) __asm__(mangled); \
    void cname(void *p, size_t size, size_t align) {                            \
        if (unlikely(!hak_free_try_fast(p)))                                    \
            hak_free_sized_slow(p, size, align, HAK_SIZED_EXACT, caller);       \
    }

DELETE_FN(cxx_delete, "_ZdlPv")
DELETE_FN(cxx_delete_array, "_ZdaPv")
DELETE_FN(cxx_delete_nothrow, "_ZdlPv" NOTHROW_T, const void *nt)
DELETE_FN(cxx_delete_array_nothrow, "_ZdaPv" NOTHROW_T, const void *nt)
DELETE_FN(cxx_delete_aligned, "_ZdlPv" ALIGN_T, size_t align)
DELETE_FN(cxx_delete_array_aligned, "_ZdaPv" ALIGN_T, size_t align)
DELETE_FN(cxx_delete_aligned_nothrow, "_ZdlPv" ALIGN_T NOTHROW_T, size_t align, const void *nt)
DELETE_FN(cxx_delete_array_aligned_nothrow, "_ZdaPv" ALIGN_T NOTHROW_T, size_t align, const void *nt)
DELETE_SIZED_FN(cxx_delete_sized, "_ZdlPv" SZ, "operator delete")
DELETE_SIZED_FN(cxx_delete_array_sized, "_ZdaPv" SZ, "operator delete[]")
DELETE_SIZED_ALIGNED_FN(cxx_delete_sized_aligned, "_ZdlPv" SZ ALIGN_T, "operator delete")
DELETE_SIZED_ALIGNED_FN(cxx_delete_array_sized_aligned, "_ZdaPv" SZ ALIGN_T, "operator delete[]")

#endif /* HAK_NO_STD_NAMES */
