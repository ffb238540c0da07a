/* The page map: one byte per 64 KiB page of the 47-bit user address space,
 * holding 1 + the size class of the slab on that page, or 0 for any page
 * that holds no slab of ours (free SuperSlab pages, large blocks, memory we
 * never mapped).  It is what lets free's fast path go from a pointer to its
 * thread-cache bin in one load, with no header read: value 0 selects a bin
 * that always sends the free to the slow path.
 *
 * It is a 2 GiB MAP_NORESERVE reservation, read as the zero page until
 * written; only the bytes covering our SuperSlabs are ever written (one
 * 4 KiB page of map per 256 MiB of SuperSlabs).  If the reservation is
 * refused (a small RLIMIT_AS, strict overcommit), hak_pagemap_pages stays 0
 * and every free takes the slow path, which uses the segment map instead. */
#ifndef HAK_PAGEMAP_H
#define HAK_PAGEMAP_H

#include "util.h"

#define HAK_PAGEMAP_SHIFT 16
#define HAK_PAGEMAP_N     ((uintptr_t)1 << (47 - HAK_PAGEMAP_SHIFT))

extern uint8_t *hak_pagemap HAK_HIDDEN;
extern uintptr_t hak_pagemap_pages HAK_HIDDEN; /* HAK_PAGEMAP_N once mapped, else 0 */

/* Maps the page map (once, at global init). */
void hak_pagemap_init(void);

static inline void hak_pagemap_set(const void *page, unsigned value) {
    if (hak_pagemap_pages)
        __atomic_store_n(&hak_pagemap[(uintptr_t)page >> HAK_PAGEMAP_SHIFT], (uint8_t)value,
                         __ATOMIC_RELEASE);
}

#endif
