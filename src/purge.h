/* Returning memory to the OS lazily: pages unused for purge.delay_ms are
 * purged by a background thread (or, with background_thread off, on slow
 * paths), never on every free. */
#ifndef HAK_PURGE_H
#define HAK_PURGE_H

#include "util.h"

/* Whether a purge will come: the background thread runs, or a slow path
 * was asked to start it or to purge (hak_purge_poll). */
extern _Atomic int hak_purge_wanted;
extern _Atomic int hak_purge_bg_running;
/* Something became purgeable (dirty pages, a free chunk, an abandoned heap):
 * make sure someone will purge it.  Two loads and rarely a store, and no
 * call, so the page layer below the purger can say so. */
static inline void hak_purge_note(void) {
    if (!atomic_load_explicit(&hak_purge_bg_running, memory_order_relaxed) &&
        !atomic_load_explicit(&hak_purge_wanted, memory_order_relaxed))
        atomic_store_explicit(&hak_purge_wanted, 1, memory_order_relaxed);
}
/* Called at the end of top-level slow paths, where starting the background
 * thread (which allocates) is safe; with background_thread off, it purges
 * there, at most once a nap. */
void hak_purge_start_background(void);
static inline void hak_purge_poll(void) {
    if (unlikely(atomic_load_explicit(&hak_purge_wanted, memory_order_relaxed)))
        hak_purge_start_background();
}
/* One pass: what has waited delay_ms (abandoned heaps), and the free pages
 * decay says should go (all of them if all).  Returns the bytes purged. */
size_t hak_purge_pass(uint64_t delay_ms, uint64_t decay_ms, bool all);
extern _Atomic uint64_t hak_purged_bytes;

void hak_purge_fork_prepare(void);
void hak_purge_fork_parent(void);
void hak_purge_fork_child(void);

#endif
