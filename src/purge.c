/* The purger.  Free pages of the page pool go back to the OS gradually, over
 * purge.decay_ms (decay.h); abandoned heaps' remote frees, kept empty slabs
 * and sparse slabs are dealt with after purge.delay_ms.  A background
 * thread does it, so an idle program's RSS falls too; it starts once
 * something becomes purgeable (hak_purge_note).  With background_thread
 * off, slow paths purge, once a nap, while anything is pending. */
#include "heap.h"
#include "tcache.h"
#include "chunk.h"
#include "page_pool.h"
#include "os.h"
#include "params.h"
#include "purge.h"
#include "stats.h"
#include "stats_print.h"
#include <signal.h>
#include <time.h>

_Atomic int hak_purge_wanted;
_Atomic uint64_t hak_purged_bytes;
_Atomic int hak_purge_bg_running;
static _Atomic uint64_t last_pass_ms;
static pthread_mutex_t purge_lock = PTHREAD_MUTEX_INITIALIZER;

size_t hak_purge_pass(uint64_t delay_ms, uint64_t decay_ms, bool all) {
    pthread_mutex_lock(&purge_lock);
    uint64_t now = hak_now_ms();
    hak_heap_collect_abandoned(now, delay_ms);
    size_t bytes = hak_page_pool_purge(now, decay_ms, all);
    bytes += hak_chunks_purge(now, decay_ms, all);
    atomic_store_explicit(&last_pass_ms, now, memory_order_relaxed);
    atomic_fetch_add_explicit(&hak_purge_passes, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&hak_purged_bytes, bytes, memory_order_relaxed);
    pthread_mutex_unlock(&purge_lock);
    return bytes;
}

/* How often passes run: often enough for decay's steps and the delay. */
static uint64_t purge_nap_ms(void) {
    uint64_t delay = hak_load(&hak_params.purge_delay_ms);
    uint64_t decay = hak_load(&hak_params.purge_decay_ms);
    uint64_t nap = hak_min(delay / 4, decay / 8);
    if (nap < 10) nap = 10;
    if (nap > 250) nap = 250;
    uint64_t iv = hak_stats_interval_ms();
    if (iv && nap > iv) nap = iv;
    return nap;
}

/* Anything a later pass would still do: dirty pages decaying, free chunks
 * mapped. */
static bool purge_pending(void) {
    hak_page_pool_totals_t pp;
    hak_chunk_totals_t ch;
    hak_page_pool_totals(&pp);
    hak_chunk_totals(&ch);
    return pp.dirty_bytes || ch.free_bytes;
}

static void *background_main(void *arg) {
    (void)arg;
    while (hak_load(&hak_params.background_thread)) {
        uint64_t nap = purge_nap_ms();
        struct timespec ts = {.tv_sec = (time_t)(nap / 1000), .tv_nsec = (long)(nap % 1000) * 1000000};
        nanosleep(&ts, NULL);
        hak_purge_pass(hak_load(&hak_params.purge_delay_ms), hak_load(&hak_params.purge_decay_ms), false);
        hak_stats_periodic_tick(hak_now_ms()); /* stats.interval_ms dumps */
    }
    atomic_store_explicit(&hak_purge_bg_running, 0, memory_order_release);
    return NULL;
}

void hak_purge_start_background(void) {
    if (!hak_load(&hak_params.background_thread)) {
        /* no thread: purge here, once a nap, while anything is pending */
        if (hak_now_ms() - atomic_load_explicit(&last_pass_ms, memory_order_relaxed) < purge_nap_ms()) return;
        atomic_store_explicit(&hak_purge_wanted, 0, memory_order_relaxed);
        hak_purge_pass(hak_load(&hak_params.purge_delay_ms), hak_load(&hak_params.purge_decay_ms), false);
        if (purge_pending()) atomic_store_explicit(&hak_purge_wanted, 1, memory_order_relaxed);
        return;
    }
    atomic_store_explicit(&hak_purge_wanted, 0, memory_order_relaxed);
    int zero = 0;
    if (!atomic_compare_exchange_strong(&hak_purge_bg_running, &zero, 1)) return;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_t t;
    /* the purger must not keep signals from the program's own threads */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    if (pthread_create(&t, &attr, background_main, NULL) != 0)
        atomic_store_explicit(&hak_purge_bg_running, 0, memory_order_relaxed);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
}

void hak_purge_fork_prepare(void) { pthread_mutex_lock(&purge_lock); }
void hak_purge_fork_parent(void) { pthread_mutex_unlock(&purge_lock); }
void hak_purge_fork_child(void) {
    pthread_mutex_init(&purge_lock, NULL);
    /* the thread did not come along; start another when needed */
    atomic_store_explicit(&hak_purge_bg_running, 0, memory_order_relaxed);
    atomic_store_explicit(&hak_purge_wanted, 1, memory_order_relaxed);
}

size_t hak_purge_now(void) {
    hak_thread_cache_flush();
    /* other threads' caches: each flushes at its next refill */
    __atomic_fetch_add(&hak_flush_request, 1, __ATOMIC_RELAXED);
    hak_params_changed();
    /* this thread's sparse slabs and kept empties (others see to theirs at
     * their next refill) */
    size_t own = 0;
    if (hak_tls.state == HAK_THREAD_ACTIVE) {
        own = hak_heap_purge_sparse(hak_tls.heap, hak_now_ms(), 0);
        hak_warm_release_idle(hak_tls.heap, hak_now_ms(), 0);
    }
    return own + hak_purge_pass(0, 0, true);
}
