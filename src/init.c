/* Global start-up, fork handling and the library constructor. */
#include "ctl.h"
#include "heap.h"
#include "init.h"
#include "chunk.h"
#include "page_pool.h"
#include "os.h"
#include "pagemap.h"
#include "prof.h"
#include "purge.h"
#include "stats_print.h"
#include "tcache.h"
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sched.h>
#include <unistd.h>

_Atomic int hak_init_state;

void hak_global_init_slow(void) {
    int expected = 0;
    if (atomic_compare_exchange_strong(&hak_init_state, &expected, 1)) {
        /* nothing here may allocate through malloc */
        const unsigned char *rnd = (const unsigned char *)getauxval(AT_RANDOM);
        uintptr_t secret = (uintptr_t)&hak_init_state * 0x9e3779b97f4a7c15ull;
        if (rnd) memcpy(&secret, rnd, sizeof secret);
        hak_link_secret = secret | 1;
        hak_pagemap_init();
        hak_tiny_table_point(false); /* opens malloc's fast path */
        hak_global_key_create();
        atomic_store_explicit(&hak_init_state, 2, memory_order_release);
        return;
    }
    while (atomic_load_explicit(&hak_init_state, memory_order_acquire) != 2) sched_yield();
}

static void fork_prepare(void) {
    hak_ctl_fork_prepare(); /* before the heaps': hakctl takes snapshots */
    hak_prof_fork_prepare();
    hak_purge_fork_prepare();
    hak_heaps_fork_prepare();
    hak_page_pool_fork_prepare();
    hak_chunk_fork_prepare();
    hak_os_fork_prepare();
    hak_pagemap_fork_prepare();
}

static void fork_parent(void) {
    hak_pagemap_fork_parent();
    hak_os_fork_parent();
    hak_chunk_fork_parent();
    hak_page_pool_fork_parent();
    hak_heaps_fork_parent();
    hak_purge_fork_parent();
    hak_prof_fork_parent();
    hak_ctl_fork_parent();
}

static void fork_child(void) {
    hak_pagemap_fork_child();
    hak_os_fork_child();
    hak_chunk_fork_child();
    hak_page_pool_fork_child();
    hak_heaps_fork_child();
    hak_purge_fork_child();
    hak_prof_fork_child();
    hak_ctl_fork_child();
}

__attribute__((constructor(101))) static void hak_constructor(void) {
    hak_global_init();
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    hak_conf_apply_env();
    hak_stats_print_init(); /* at-exit and periodic dumps (stats.print_*) */
    hak_prof_init();        /* the heap profile at exit (prof.dump_at_exit) */
}
