/* The operating-system layer: mappings, purging, huge pages, RSS. */
#ifndef HAK_OS_H
#define HAK_OS_H

#include "util.h"

#define HAK_OS_PAGE 4096

/* Maps size bytes aligned to align (a power of two >= 4096), read-write, or
 * returns NULL (errno ENOMEM) when the OS refuses or limit.mapped would be
 * passed.  populate pre-faults the pages. */
void *hak_os_map(size_t size, size_t align, bool populate);
void hak_os_unmap(void *p, size_t size);
/* Faults the pages in now (superslab.prefault). */
void hak_os_populate(void *p, size_t size);
/* Reserves address space only (PROT_NONE), aligned; for mremap targets. */
void *hak_os_reserve(size_t size, size_t align);
/* Gives the pages back to the OS; they read as zero afterwards. */
void hak_os_purge(void *p, size_t size);
/* Applies the os.thp policy to a new mapping. */
void hak_os_thp(void *p, size_t size);
/* Advises huge pages for [p, p + size) (MADV_HUGEPAGE), or not
 * (MADV_NOHUGEPAGE). */
void hak_os_huge_pages(void *p, size_t size, bool on);
/* Makes [p, p + size), advised huge, huge pages now (MADV_COLLAPSE: its
 * pages are copied into them, missing ones zeroed); nothing where the
 * kernel cannot. */
void hak_os_collapse(void *p, size_t size);
/* Resident set size of the process, in bytes, from /proc (0 if unknown). */
size_t hak_os_resident(void);
/* Bytes of the 4 KiB pages [p, p + npages pages) that are resident (mincore;
 * statistics only), counting only pages whose bit is set in mask if mask is
 * not NULL; 0 for pages not mapped. */
size_t hak_os_resident_pages(const void *p, size_t npages, const uint64_t *mask);

/* Bytes currently mapped read-write by hakmem (chunks, metadata, the page
 * map's writable pieces): what strict overcommit charges. */
extern _Atomic size_t hak_os_mapped;
/* Address space held beyond that: read-only reservations (the page map's
 * leaves). */
extern _Atomic size_t hak_os_reserved;
/* Internal metadata (heaps and the like), carved from mappings of our own. */
void *hak_meta_alloc(size_t size);
extern _Atomic size_t hak_meta_bytes;

void hak_os_fork_prepare(void);
void hak_os_fork_parent(void);
void hak_os_fork_child(void);

#endif
