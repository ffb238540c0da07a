/* The unified cache's slow side: the one refill path, and the flush. */
#include "heap.h"
#include "params.h"

__thread hak_tls_t hak_tls __attribute__((tls_model("initial-exec"), visibility("hidden")));

/* Appends block b to the plain-linked chain *head .. *tail. */
static inline void chain_add(void **head, void **tail, void *b) {
    if (*tail) *(void **)*tail = b;
    else *head = b;
    *tail = b;
}

/* Takes up to k blocks from slab s onto the chain (*head .. *tail). */
static uint32_t slab_take(heap_t *h, slab_t *s, uint32_t k, void **head, void **tail) {
    if (s->used == 0) { /* an empty slab the warm pool kept: in use again */
        h->warm_empty[s->cls]--;
        hak_slab_unretain(s);
    }
    uint32_t n = 0;
    superslab_t *ss = hak_ss_of(s);
    /* the slab's list is encoded; the cache's is plain: rewrite as we go */
    while (s->free && n < k) {
        void *b = s->free;
        s->free = hak_link_get(ss, s, b);
        chain_add(head, tail, b);
        n++;
    }
    size_t size = hak_classes[s->cls].size;
    while (n < k && s->bump < s->end) {
        chain_add(head, tail, s->bump);
        s->bump += size;
        n++;
    }
    s->used = (uint16_t)(s->used + n);
    if (!s->free && s->bump >= s->end) hak_warm_remove(h, s); /* nothing left: full */
    return n;
}

void *hak_refill(heap_t *h, hak_bin_t *bin, unsigned cls) {
    if (unlikely(__atomic_load_n(&hak_params.epoch, __ATOMIC_ACQUIRE) != h->params_epoch))
        hak_heap_apply_params(h);
    if (atomic_load_explicit(&h->notify, memory_order_relaxed)) hak_remote_collect(h);
    /* refill_count blocks, no more than the cache has room for, at least one */
    uint32_t count = hak_bin_count(bin);
    uint32_t room = count < bin->cap ? bin->cap - count : 0;
    uint32_t want = hak_load(&hak_params.refill_count);
    if (want > room) want = room;
    if (want == 0) want = 1;
    void *head = NULL, *tail = NULL;
    uint32_t got = 0;
    while (got < want) {
        slab_t *s = hak_warm_refill_slab(h, cls);
        if (!s) break; /* out of memory: hand out what we have */
        got += slab_take(h, s, want - got, &head, &tail);
    }
    if (!got) return NULL;
    *(void **)tail = bin->head;
    bin->head = head;
    HAK_BIN_ADD(bin->in, got);
    hak_class_stats_t *st = &h->stats[cls];
    hak_bump(&st->refills, 1);
    hak_bump(&st->refill_blocks, got);
    return head;
}

/* Hands a run of blocks (first .. last, all of slab s, linked with encoded
 * links) back to the slab. */
static void give_back(heap_t *h, slab_t *s, void *first, void *last, uint32_t n) {
    if (hak_ss_of(s)->owner == h) {
        hak_slab_put_local(h, s, first, last, n);
    } else {
        hak_bump(&h->stats[s->cls].remote_frees, n);
        hak_remote_push(s, first, last, n);
    }
}

void hak_flush(heap_t *h, hak_bin_t *bin, unsigned cls, uint32_t n) {
    uint32_t count = hak_bin_count(bin);
    if (n > count) n = count;
    if (n == 0) return;
    void *b = bin->head;
    slab_t *run = NULL;
    void *run_first = NULL, *run_last = NULL;
    uint32_t run_n = 0;
    for (uint32_t i = 0; i < n; i++) {
        void *next = *(void **)b;
        superslab_t *ss = hak_ss_of(b);
        slab_t *s = hak_slab_of(ss, b);
        if (s != run) { /* consecutive blocks of one slab travel together */
            if (run) give_back(h, run, run_first, run_last, run_n);
            run = s;
            run_first = b;
            run_n = 0;
        } else {
            hak_link_set(run_last, b);
        }
        run_last = b;
        run_n++;
        b = next;
    }
    bin->head = b;
    hak_bin_took(bin, n);
    give_back(h, run, run_first, run_last, run_n);
    hak_class_stats_t *st = &h->stats[cls];
    hak_bump(&st->flushes, 1);
    hak_bump(&st->flush_blocks, n);
}

void hak_tcache_flush_all(heap_t *h) {
    hak_tls_t *t = &hak_tls;
    for (unsigned cls = 0; cls < HAK_NCLASSES; cls++)
        hak_flush(h, hak_bin(t, cls), cls, hak_bin_count(hak_bin(t, cls)));
}
