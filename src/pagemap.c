#include "pagemap.h"
#include <sys/mman.h>

uint8_t *hak_pagemap;
uintptr_t hak_pagemap_pages;

void hak_pagemap_init(void) {
    void *m = mmap(NULL, HAK_PAGEMAP_N, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return; /* every free takes the slow path */
    /* a huge page here would make each written byte cost 2 MiB of RSS */
    madvise(m, HAK_PAGEMAP_N, MADV_NOHUGEPAGE);
    /* and core files need not carry 2 GiB of mostly zeros */
    madvise(m, HAK_PAGEMAP_N, MADV_DONTDUMP);
    hak_pagemap = m;
    __atomic_store_n(&hak_pagemap_pages, HAK_PAGEMAP_N, __ATOMIC_RELEASE);
}
