/* Decay: how many dirty pages may stay resident.  Pages freed recently are
 * likely to be wanted again soon, old ones are not: a page freed t ms ago
 * may stay with weight h(t / decay_ms), h falling smoothly from 1 at 0 to 0
 * at 1 (jemalloc's dirty-page decay is the model).  So a program that frees
 * and at once allocates again reuses its pages, and an idle one returns
 * them all within decay_ms, gradually rather than at a cliff. */
#ifndef HAK_DECAY_H
#define HAK_DECAY_H

#include "util.h"

#define HAK_DECAY_EPOCHS 32

typedef struct hak_decay {
    uint64_t epoch_start_ms;               /* when the current epoch began */
    uint64_t epoch_ms;                     /* its length: decay_ms / HAK_DECAY_EPOCHS */
    uint64_t backlog[HAK_DECAY_EPOCHS];    /* pages freed per past epoch, newest first */
    uint64_t current;                      /* pages freed in the current epoch */
} hak_decay_t;

/* n pages were freed now. */
static inline void hak_decay_freed(hak_decay_t *d, uint64_t n) { d->current += n; }
/* Pages that may stay dirty at now_ms under decay_ms (0: none). */
uint64_t hak_decay_allowed(hak_decay_t *d, uint64_t now_ms, uint64_t decay_ms);

#endif
