/* The warm pool: per heap and class, the slabs that still have free blocks,
 * hottest first.  Refills take from its head.  When it runs dry the heap
 * carves a new slab and, to keep the next misses away, prefills the pool
 * with prefill.budget more (classes up to 8 KiB, whose slabs are one page).
 * Up to warm_pool.capacity completely empty slabs per class stay in the pool
 * instead of going back to their SuperSlab, so a workload that empties and
 * refills one slab does not churn pages; their pages are still purged after
 * the purge delay (hak_slab_retain). */
#include "heap.h"
#include "params.h"

void hak_warm_push(heap_t *h, slab_t *s) {
    slab_t *head = h->warm[s->cls];
    s->prev = NULL;
    s->next = head;
    if (head) head->prev = s;
    h->warm[s->cls] = s;
    s->state = HAK_SLAB_WARM;
}

static void warm_insert_after(slab_t *at, slab_t *s) {
    s->prev = at;
    s->next = at->next;
    if (at->next) at->next->prev = s;
    at->next = s;
    s->state = HAK_SLAB_WARM;
}

void hak_warm_remove(heap_t *h, slab_t *s) {
    if (s->prev) s->prev->next = s->next;
    else h->warm[s->cls] = s->next;
    if (s->next) s->next->prev = s->prev;
    s->next = s->prev = NULL;
    s->state = HAK_SLAB_FULL;
}

slab_t *hak_warm_refill_slab(heap_t *h, unsigned cls) {
    hak_class_stats_t *st = &h->stats[cls];
    slab_t *s = h->warm[cls];
    if (likely(s != NULL)) {
        hak_bump(&st->warm_hits, 1);
        return s;
    }
    hak_bump(&st->warm_misses, 1);
    s = hak_slab_new(h, cls);
    if (!s) return NULL;
    hak_warm_push(h, s);
    h->warm_empty[cls]++;
    /* prefill the classes of one-page slabs: a prefilled slab of a large
     * class would pin up to 1 MiB of a SuperSlab for blocks nobody asked for */
    uint32_t budget = hak_classes[cls].slab_pages == 1 ? hak_load(&hak_params.prefill_budget) : 0;
    uint32_t room = hak_load(&hak_params.warm_capacity);
    for (uint32_t i = 0; i < budget && h->warm_empty[cls] <= room; i++) {
        slab_t *extra = hak_slab_new(h, cls);
        if (!extra) break;
        warm_insert_after(s, extra);
        h->warm_empty[cls]++;
        hak_bump(&st->warm_prefilled, 1);
    }
    return s;
}

void hak_slab_now_empty(heap_t *h, slab_t *s) {
    unsigned cls = s->cls;
    if (h->warm_empty[cls] < hak_load(&hak_params.warm_capacity)) {
        h->warm_empty[cls]++;
        hak_slab_retain(s);
        return;
    }
    hak_warm_remove(h, s);
    hak_slab_release(h, s);
}

void hak_warm_trim(heap_t *h) {
    uint32_t room = hak_load(&hak_params.warm_capacity);
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++) {
        slab_t *s = h->warm[cls];
        while (s && h->warm_empty[cls] > room) {
            slab_t *next = s->next;
            if (s->used == 0) {
                h->warm_empty[cls]--;
                hak_warm_remove(h, s);
                hak_slab_release(h, s);
            }
            s = next;
        }
    }
}
