/* The decay curve and the backlog of recently freed pages (decay.h). */
#include "decay.h"

/* h(x) = 1 - smoothstep(x) = 1 - 3x^2 + 2x^3, in 1/1024 units, at the end
 * of each epoch of the window (so the oldest epoch's weight is 0) */
static uint32_t weight(unsigned epoch) {
    double x = ((double)epoch + 1) / HAK_DECAY_EPOCHS;
    return (uint32_t)(1024.0 * (1.0 - x * x * (3.0 - 2.0 * x)) + 0.5);
}

uint64_t hak_decay_allowed(hak_decay_t *d, uint64_t now_ms, uint64_t decay_ms) {
    if (decay_ms == 0) {
        for (unsigned i = 0; i < HAK_DECAY_EPOCHS; i++) d->backlog[i] = 0;
        d->current = 0;
        d->epoch_start_ms = now_ms;
        return 0;
    }
    uint64_t len = decay_ms / HAK_DECAY_EPOCHS ? decay_ms / HAK_DECAY_EPOCHS : 1;
    if (d->epoch_ms != len) { /* decay_ms changed: restart the clock, keep the pages */
        d->epoch_ms = len;
        d->epoch_start_ms = now_ms;
    }
    uint64_t steps = now_ms >= d->epoch_start_ms ? (now_ms - d->epoch_start_ms) / len : 0;
    if (steps) {
        for (uint64_t s = 0; s < steps && s < HAK_DECAY_EPOCHS; s++) {
            for (unsigned i = HAK_DECAY_EPOCHS - 1; i > 0; i--) d->backlog[i] = d->backlog[i - 1];
            d->backlog[0] = d->current;
            d->current = 0;
        }
        if (steps >= HAK_DECAY_EPOCHS)
            for (unsigned i = 0; i < HAK_DECAY_EPOCHS; i++) d->backlog[i] = 0;
        d->epoch_start_ms += steps * len;
    }
    /* rounded once, at the end: rounding each epoch's share down returned
     * up to one page per epoch that decay still allowed, at every pass,
     * and a program that allocates again at once faults them back in */
    uint64_t weighted = 0;
    for (unsigned i = 0; i < HAK_DECAY_EPOCHS; i++) weighted += d->backlog[i] * weight(i);
    return d->current + (weighted + 1023) / 1024;
}
