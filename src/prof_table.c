/* The heap profiler's records: the distinct call stacks, and per stack and
 * block size a bucket of counts; and the profile they make, in the legacy
 * pprof heap format that gperftools writes (google-pprof and jeprof read
 * it):
 *
 *   heap profile: <live>: <live bytes> [<total>: <total bytes>] @ heap_v2/<sample_bytes>
 *   <live>: <live bytes> [<total>: <total bytes>] @ <pc> <pc> ...
 *   ...
 *   MAPPED_LIBRARIES:
 *   <the process's /proc/self/maps>
 *
 * The counts are of samples; pprof scales each line by 1 / (1 - exp(-s /
 * sample_bytes)), s its mean block size, which is exact because a bucket
 * holds one size.  The first address is the call's (a return address less
 * one: pprof takes the first as it is and subtracts one from the others).
 *
 * Everything comes from hak_meta_alloc and stays: a bucket's cumulative
 * counts belong to every later profile.  One mutex guards it all; it is
 * never held while unwinding, nor by a thread that allocates. */
#include "os.h"
#include "prof.h"
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#define HASH_SIZE 4096 /* chain heads, for stacks and for buckets */
#define CHUNK (64 * HAK_KiB)

typedef struct hak_prof_stack {
    struct hak_prof_stack *next;
    uint64_t hash;
    uint32_t depth;
    uintptr_t pc[];
} prof_stack_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static prof_stack_t **stacks;      /* HASH_SIZE heads; NULL until the first switch-on */
static hak_prof_bucket_t **buckets;
static hak_prof_bucket_t *all_head, **all_tail = &all_head;
static char *arena_cur, *arena_end;
static hak_prof_counts_t counts;

static void *arena(size_t n) { /* under lock */
    n = hak_align_up(n, 16);
    if ((size_t)(arena_end - arena_cur) < n) {
        size_t c = n > CHUNK ? n : CHUNK;
        char *p = hak_meta_alloc(c);
        if (!p) return NULL;
        arena_cur = p, arena_end = p + c;
        counts.memory += c;
    }
    void *r = arena_cur;
    arena_cur += n;
    return r;
}

bool hak_prof_table_init(void) {
    pthread_mutex_lock(&lock);
    if (!stacks) {
        size_t bytes = HASH_SIZE * (sizeof *stacks + sizeof *buckets);
        char *heads = hak_meta_alloc(bytes); /* fresh mappings: zero */
        if (heads) {
            buckets = (hak_prof_bucket_t **)(heads + HASH_SIZE * sizeof *stacks);
            __atomic_store_n(&stacks, (prof_stack_t **)heads, __ATOMIC_RELEASE);
            counts.memory += bytes;
        }
    }
    pthread_mutex_unlock(&lock);
    return stacks != NULL;
}

static uint64_t mix(uint64_t h, uint64_t v) {
    h = (h ^ v) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

static prof_stack_t *stack_get(const uintptr_t *pc, unsigned n) { /* under lock */
    uint64_t h = mix(0xcbf29ce484222325ull, n);
    for (unsigned i = 0; i < n; i++) h = mix(h, pc[i]);
    prof_stack_t **head = &stacks[h % HASH_SIZE];
    for (prof_stack_t *s = *head; s; s = s->next)
        if (s->hash == h && s->depth == n && memcmp(s->pc, pc, n * sizeof *pc) == 0) return s;
    prof_stack_t *s = arena(sizeof *s + n * sizeof *pc);
    if (!s) return NULL;
    s->hash = h;
    s->depth = n;
    memcpy(s->pc, pc, n * sizeof *pc);
    s->next = *head;
    *head = s;
    counts.stacks++;
    return s;
}

static hak_prof_bucket_t *bucket_get(const prof_stack_t *s, uint64_t size) { /* under lock */
    if (!s) return NULL;
    hak_prof_bucket_t **head = &buckets[mix(s->hash, size) % HASH_SIZE];
    for (hak_prof_bucket_t *b = *head; b; b = b->next)
        if (b->stack == s && b->size == size) return b;
    hak_prof_bucket_t *b = arena(sizeof *b);
    if (!b) return NULL;
    memset(b, 0, sizeof *b);
    b->stack = s;
    b->size = size;
    b->next = *head;
    *head = b;
    *all_tail = b;
    all_tail = &b->all_next;
    return b;
}

hak_prof_bucket_t *hak_prof_record(size_t size) {
    hak_tls_t *t = &hak_tls;
    if (t->prof_busy || !__atomic_load_n(&stacks, __ATOMIC_ACQUIRE)) return NULL;
    t->prof_busy = 1; /* the unwinder's own mallocs are not sampled */
    uintptr_t pc[HAK_PROF_DEPTH];
    unsigned n = hak_prof_backtrace(pc, HAK_PROF_DEPTH);
    pthread_mutex_lock(&lock);
    hak_prof_bucket_t *b = bucket_get(stack_get(pc, n), size);
    if (b) {
        b->live++, b->total++;
        counts.samples++, counts.live++;
    }
    pthread_mutex_unlock(&lock);
    t->prof_busy = 0;
    return b;
}

void hak_prof_unrecord(hak_prof_bucket_t *b) {
    pthread_mutex_lock(&lock);
    b->live--;
    counts.live--;
    pthread_mutex_unlock(&lock);
}

void hak_prof_counts(hak_prof_counts_t *out) {
    pthread_mutex_lock(&lock);
    *out = counts;
    pthread_mutex_unlock(&lock);
}

/* ---- the profile ---------------------------------------------------------- */
typedef struct out {
    int fd, err;
    size_t at;
    char buf[4096];
} out_t;

static void out_flush(out_t *o) {
    for (size_t done = 0; done < o->at && !o->err;) {
        ssize_t w = write(o->fd, o->buf + done, o->at - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) o->err = w < 0 ? errno : EIO;
        else done += (size_t)w;
    }
    o->at = 0;
}

static void out_fmt(out_t *o, const char *fmt, ...) {
    char tmp[160];
    va_list ap;
    va_start(ap, fmt);
    size_t n = hak_vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n >= sizeof tmp) n = sizeof tmp - 1;
    if (o->at + n > sizeof o->buf) out_flush(o);
    memcpy(o->buf + o->at, tmp, n);
    o->at += n;
}

static void counts_line(out_t *o, uint64_t live, uint64_t live_bytes, uint64_t total,
                        uint64_t total_bytes) {
    out_fmt(o, "%llu: %llu [%llu: %llu] @", (unsigned long long)live,
            (unsigned long long)live_bytes, (unsigned long long)total,
            (unsigned long long)total_bytes);
}

/* /proc/self/maps, copied as it is */
static void put_maps(out_t *o) {
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    for (;;) {
        if (o->at == sizeof o->buf) out_flush(o);
        ssize_t r = read(fd, o->buf + o->at, sizeof o->buf - o->at);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        o->at += (size_t)r;
    }
    close(fd);
}

int hak_prof_write(int fd) {
    out_t o;
    o.fd = fd, o.err = 0, o.at = 0;
    pthread_mutex_lock(&lock);
    uint64_t live = 0, live_bytes = 0, total = 0, total_bytes = 0;
    for (const hak_prof_bucket_t *b = all_head; b; b = b->all_next) {
        live += b->live, live_bytes += b->live * b->size;
        total += b->total, total_bytes += b->total * b->size;
    }
    out_fmt(&o, "heap profile: ");
    counts_line(&o, live, live_bytes, total, total_bytes);
    out_fmt(&o, " heap_v2/%llu\n", (unsigned long long)hak_load(&hak_prof_rate));
    for (const hak_prof_bucket_t *b = all_head; b; b = b->all_next) {
        counts_line(&o, b->live, b->live * b->size, b->total, b->total * b->size);
        const prof_stack_t *s = b->stack;
        if (!s->depth) out_fmt(&o, " 0x0"); /* no frame: pprof wants one */
        for (unsigned i = 0; i < s->depth; i++)
            out_fmt(&o, " %p", (void *)(i ? s->pc[i] : s->pc[i] - 1));
        out_fmt(&o, "\n");
    }
    pthread_mutex_unlock(&lock);
    out_fmt(&o, "\nMAPPED_LIBRARIES:\n");
    put_maps(&o);
    out_flush(&o);
    return o.err;
}

void hak_prof_table_fork_prepare(void) { pthread_mutex_lock(&lock); }
void hak_prof_table_fork_parent(void) { pthread_mutex_unlock(&lock); }
void hak_prof_table_fork_child(void) { pthread_mutex_init(&lock, NULL); }
