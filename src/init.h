/* Start-up: the global state is set up by the first call that needs it,
 * whoever makes it (the loader, libc before main, a new thread), and by our
 * constructor; nothing on that path allocates. */
#ifndef HAK_INIT_H
#define HAK_INIT_H

#include "util.h"

extern _Atomic int hak_init_state; /* 0 none, 1 running, 2 done */
void hak_global_init_slow(void);
static inline void hak_global_init(void) {
    if (likely(atomic_load_explicit(&hak_init_state, memory_order_acquire) == 2)) return;
    hak_global_init_slow();
}

#endif
