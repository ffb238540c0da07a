/* Mappings come from mmap directly; nothing here calls malloc. */
#include "os.h"
#include "params.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

_Atomic size_t hak_os_mapped;
_Atomic size_t hak_os_reserved;
_Atomic size_t hak_meta_bytes;

static bool over_limit(size_t size) {
    uint64_t limit = hak_load(&hak_params.mapped_limit);
    return limit && atomic_load_explicit(&hak_os_mapped, memory_order_relaxed) + size > limit;
}

/* A mapping aligned to align, read-write.  Over-mapping by the alignment
 * and trimming is quickest, but needs the alignment's worth of spare
 * address space for a moment; near an RLIMIT_AS that fails, so then the
 * exact size is tried, first where the kernel puts it, then at the aligned
 * addresses beside that. */
static void *map_aligned(size_t size, size_t align, int prot) {
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    size_t span = size + align;
    if (span > size) {
        char *p = mmap(NULL, span, prot, flags, -1, 0);
        if (p != MAP_FAILED) {
            char *a = (char *)hak_align_up((uintptr_t)p, align);
            if (a > p) munmap(p, (size_t)(a - p));
            size_t tail = (size_t)((p + span) - (a + size));
            if (tail) munmap(a + size, tail);
            return a;
        }
    }
    char *p = mmap(NULL, size, prot, flags, -1, 0);
    if (p == MAP_FAILED) return NULL;
    if (((uintptr_t)p & (align - 1)) == 0) return p;
    munmap(p, size);
    char *tries[2] = {(char *)hak_align_down((uintptr_t)p, align), (char *)hak_align_up((uintptr_t)p, align)};
    for (int i = 0; i < 2; i++) {
        char *q = mmap(tries[i], size, prot, flags | MAP_FIXED_NOREPLACE, -1, 0);
        if (q == tries[i]) return q;
        if (q != MAP_FAILED) munmap(q, size); /* an old kernel took it as a hint */
    }
    return NULL;
}

void *hak_os_map(size_t size, size_t align, bool populate) {
    if (over_limit(size)) { errno = ENOMEM; return NULL; }
    char *p = align > HAK_OS_PAGE ? map_aligned(size, align, PROT_READ | PROT_WRITE)
                                  : mmap(NULL, size, PROT_READ | PROT_WRITE,
                                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (!p || p == MAP_FAILED) { errno = ENOMEM; return NULL; }
    atomic_fetch_add_explicit(&hak_os_mapped, size, memory_order_relaxed);
    hak_os_thp(p, size);
    if (populate) hak_os_populate(p, size);
    return p;
}

void hak_os_populate(void *p, size_t size) {
#ifdef MADV_POPULATE_WRITE
    if (madvise(p, size, MADV_POPULATE_WRITE) == 0) return;
#endif
    for (size_t off = 0; off < size; off += HAK_OS_PAGE) ((volatile char *)p)[off] = 0;
}

void *hak_os_reserve(size_t size, size_t align) { return map_aligned(size, align, PROT_NONE); }

void hak_os_unmap(void *p, size_t size) {
    if (munmap(p, size) == 0)
        atomic_fetch_sub_explicit(&hak_os_mapped, size, memory_order_relaxed);
}

void hak_os_purge(void *p, size_t size) {
    /* MADV_DONTNEED, not MADV_FREE: RSS must visibly fall after the delay. */
    madvise(p, size, MADV_DONTNEED);
}

void hak_os_thp(void *p, size_t size) {
    switch (hak_load(&hak_params.thp)) {
    case HAK_THP_NEVER: madvise(p, size, MADV_NOHUGEPAGE); break;
    case HAK_THP_ALWAYS: madvise(p, size, MADV_HUGEPAGE); break;
    default: break;
    }
}

void hak_os_huge_pages(void *p, size_t size, bool on) {
    madvise(p, size, on ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
}

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25 /* Linux 6.1; older kernels refuse it (EINVAL) */
#endif
void hak_os_collapse(void *p, size_t size) { madvise(p, size, MADV_COLLAPSE); }

size_t hak_os_resident_pages(const void *p, size_t npages, const uint64_t *mask) {
    enum { SLICE = 512 };
    unsigned char vec[SLICE];
    size_t pages = 0;
    for (size_t at = 0; at < npages; at += SLICE) {
        size_t n = npages - at < SLICE ? npages - at : SLICE;
        if (mincore((char *)p + (at << 12), n << 12, vec) != 0) continue; /* unmapped meanwhile */
        for (size_t i = 0; i < n; i++)
            if ((vec[i] & 1) && (!mask || (mask[(at + i) / 64] >> ((at + i) % 64) & 1))) pages++;
    }
    return pages << 12;
}

size_t hak_os_resident(void) {
    char buf[128];
    int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    const char *s = buf;
    while (*s && *s != ' ') s++; /* skip total size */
    while (*s == ' ') s++;
    size_t pages = 0;
    while (*s >= '0' && *s <= '9') pages = pages * 10 + (size_t)(*s++ - '0');
    return pages * (size_t)sysconf(_SC_PAGESIZE);
}

/* Metadata: a bump allocator over 1 MiB mappings, never freed (heaps are
 * reused, not released).  Rare, so a spin lock is enough. */
static hak_spin_t meta_lock;
static char *meta_cur, *meta_end;

void *hak_meta_alloc(size_t size) {
    size = hak_align_up(size, 64);
    hak_spin_lock(&meta_lock);
    if ((size_t)(meta_end - meta_cur) < size) {
        size_t chunk = size > HAK_MiB ? hak_align_up(size, HAK_OS_PAGE) : HAK_MiB;
        char *p = mmap(NULL, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) { hak_spin_unlock(&meta_lock); return NULL; }
        atomic_fetch_add_explicit(&hak_os_mapped, chunk, memory_order_relaxed);
        meta_cur = p;
        meta_end = p + chunk;
    }
    void *r = meta_cur;
    meta_cur += size;
    atomic_fetch_add_explicit(&hak_meta_bytes, size, memory_order_relaxed);
    hak_spin_unlock(&meta_lock);
    return r;
}

void hak_os_fork_prepare(void) { hak_spin_lock(&meta_lock); }
void hak_os_fork_parent(void) { hak_spin_unlock(&meta_lock); }
void hak_os_fork_child(void) { hak_spin_unlock(&meta_lock); }
