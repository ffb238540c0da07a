/* The statistics printer: hak_stats_print() and the dumps driven by the
 * stats.print_* nodes.
 *
 * opts letters (any order; unknown letters are ignored):
 *   J  JSON instead of text: one object on one line, ended by a newline,
 *      so that dumps appended to a file form JSON Lines;
 *   g  leave out the general section (config: build switches and layout);
 *   t  leave out the tunables (every read-write node of the control tree);
 *   c  leave out the per-class table;
 *   l  leave out the large-block section.
 * The header (format, version, pid, time_ms, uptime_ms), the global totals
 * ("stats"), "memory" (the resident set and the parts that add up to it)
 * and "rss" are always there.  The per-class table lists only the
 * classes with any activity: a non-zero count of allocations, frees,
 * refills, flushes, remote frees, warm-pool events, cached blocks, slabs or
 * live blocks.
 *
 * Every value comes from one row of the tables below (JSON key, node of the
 * control tree it matches, where it lives in the snapshot), and both formats
 * are written from those rows: a text label is the JSON key, so the two
 * cannot drift.  JSON keys follow the node names: "stats.X" is stats.X,
 * "large.X" is stats.large.X, classes[i].X is stats.c<N>.X, classes[i].
 * warm_pool_X is warm_pool.c<N>.X and classes[i].size is class.c<N>.size.
 *
 * Nothing here allocates through malloc: text is formatted into buffers on
 * the stack with hak_snprintf and handed to write_cb in pieces; the snapshot
 * is static, under print_lock, so any thread (the background thread's small
 * stack included) may print. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "ctl.h"
#include "os.h"
#include "params.h"
#include "purge.h"
#include "stats.h"
#include "stats_print.h"

#define STATS_FORMAT 1

/* ---- what is printed ------------------------------------------------------ */
enum { F_COUNT, F_BYTES };
typedef struct field {
    const char *key;   /* JSON key and text label */
    const char *node;  /* the control-tree node with the same value */
    uint16_t off;      /* uint64_t at off in the snapshot's struct */
    uint8_t unit;      /* F_BYTES: text adds a readable size */
} field_t;

#define G(key, node, f, unit) {key, node, (uint16_t)offsetof(hak_global_totals_t, f), unit}
static const field_t global_fields[] = {
    G("allocated", "stats.allocated", allocated, F_BYTES),
    G("active", "stats.active", active, F_BYTES),
    G("resident", "stats.resident", resident, F_BYTES),
    G("mapped", "stats.mapped", mapped, F_BYTES),
    G("reserved", "stats.reserved", reserved, F_BYTES),
    G("metadata", "stats.metadata", metadata, F_BYTES),
    G("superslabs", "stats.superslabs", superslabs, F_COUNT),
    G("superslabs_pooled", "stats.superslabs_pooled", superslabs_pooled, F_COUNT),
    G("heaps", "stats.heaps", heaps, F_COUNT),
    G("heaps_abandoned", "stats.heaps_abandoned", heaps_abandoned, F_COUNT),
    G("purged", "stats.purged", purged_bytes, F_BYTES),
};
/* "memory": the resident set and the parts that add up to it */
static const field_t memory_fields[] = {
    G("resident", "stats.resident", resident, F_BYTES),
    G("live", "stats.memory.live", mem_live, F_BYTES),
    G("thread_caches", "stats.memory.thread_caches", mem_thread_caches, F_BYTES),
    G("slab_free", "stats.memory.slab_free", mem_slab_free, F_BYTES),
    G("dirty", "stats.memory.dirty", mem_dirty, F_BYTES),
    G("large_cache", "stats.memory.large_cache", mem_large_cache, F_BYTES),
    G("metadata", "stats.memory.metadata", mem_metadata, F_BYTES),
    G("other", "stats.memory.other", mem_other, F_BYTES),
};
static const field_t large_fields[] = {
    G("allocs", "stats.large.allocs", large_allocs, F_COUNT),
    G("frees", "stats.large.frees", large_frees, F_COUNT),
    G("active", "stats.large.active", large_active, F_COUNT),
    G("active_bytes", "stats.large.active_bytes", large_active_bytes, F_BYTES),
    G("cached", "stats.large.cached", large_cached, F_COUNT),
    G("cached_bytes", "stats.large.cached_bytes", large_cached_bytes, F_BYTES),
};
#undef G

#define C(key, node, f) {key, node, (uint16_t)offsetof(hak_class_totals_t, f), F_COUNT}
static const field_t class_fields[] = {
    C("size", "class.c<N>.size", size),
    C("allocs", "stats.c<N>.allocs", allocs),
    C("frees", "stats.c<N>.frees", frees),
    C("cache_hits", "stats.c<N>.cache_hits", cache_hits),
    C("cache_misses", "stats.c<N>.cache_misses", cache_misses),
    C("refills", "stats.c<N>.refills", refills),
    C("refill_blocks", "stats.c<N>.refill_blocks", refill_blocks),
    C("flushes", "stats.c<N>.flushes", flushes),
    C("flush_blocks", "stats.c<N>.flush_blocks", flush_blocks),
    C("remote_frees", "stats.c<N>.remote_frees", remote_frees),
    C("warm_pool_hits", "warm_pool.c<N>.hits", warm_hits),
    C("warm_pool_misses", "warm_pool.c<N>.misses", warm_misses),
    C("warm_pool_prefilled", "warm_pool.c<N>.prefilled", warm_prefilled),
    C("cached", "stats.c<N>.cached", cached),
    C("slabs", "stats.c<N>.slabs", slabs),
    C("live", "stats.c<N>.live", live),
};
#undef C

/* General section: read-only nodes describing the build and the layout.
 * The key is the node name without a leading "config.". */
static const char *const config_nodes[] = {
    "config.debug", "config.stats", "class.nclasses", "tiny.nclasses", "tiny.max_size",
    "small.max_size", "superslab.size", "slab.page_size",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t field_get(const void *base, const field_t *f) {
    return *(const uint64_t *)((const char *)base + f->off);
}

/* ---- output buffer ---------------------------------------------------------- */
typedef struct out {
    void (*cb)(void *, const char *);
    void *opaque;
    bool json;
    size_t at;
    char buf[1024];
} out_t;

static void out_flush(out_t *o) {
    if (!o->at) return;
    o->buf[o->at] = 0;
    o->cb(o->opaque, o->buf);
    o->at = 0;
}

static void out_char(out_t *o, char c) {
    if (o->at == sizeof o->buf - 1) out_flush(o);
    o->buf[o->at++] = c;
}

static void out_str(out_t *o, const char *s) {
    while (*s) out_char(o, *s++);
}

static void out_fmt(out_t *o, const char *fmt, ...) {
    char tmp[320];
    va_list ap;
    va_start(ap, fmt);
    hak_vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    out_str(o, tmp);
}

static void out_u64(out_t *o, uint64_t v) { out_fmt(o, "%llu", (unsigned long long)v); }

/* Right-aligned in width columns. */
static void out_rpad(out_t *o, const char *s, size_t width) {
    for (size_t n = strlen(s); n < width; n++) out_char(o, ' ');
    out_str(o, s);
}

/* A JSON string: quotes, backslashes and control bytes escaped; bytes from
 * 0x80 up are written as \u00XX (read as Latin-1), so that any bytes give
 * valid JSON. */
static void out_json_string(out_t *o, const char *s) {
    out_char(o, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') out_char(o, '\\'), out_char(o, (char)c);
        else if (c == '\n') out_str(o, "\\n");
        else if (c == '\t') out_str(o, "\\t");
        else if (c < 0x20 || c >= 0x7f)
            out_char(o, '\\'), out_char(o, 'u'), out_char(o, '0'), out_char(o, '0'),
                out_char(o, "0123456789abcdef"[c >> 4]), out_char(o, "0123456789abcdef"[c & 15]);
        else out_char(o, (char)c);
    }
    out_char(o, '"');
}

/* "12.3 MiB", computed with integers. */
static void human_bytes(char *buf, size_t len, uint64_t v) {
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    unsigned u = 0;
    uint64_t scale = 1;
    while (u + 1 < NELEM(units) && v / scale >= 1024) scale *= 1024, u++;
    if (u == 0) {
        hak_snprintf(buf, len, "%llu B", (unsigned long long)v);
        return;
    }
    uint64_t tenths = (v / (scale / 1024) * 10 + 512) / 1024; /* v / scale, in tenths */
    hak_snprintf(buf, len, "%llu.%llu %s", (unsigned long long)(tenths / 10),
                 (unsigned long long)(tenths % 10), units[u]);
}

/* ---- sections ---------------------------------------------------------------- */
/* JSON: a key with its separator; *first tracks the first member. */
static void json_key(out_t *o, bool *first, const char *key) {
    if (!*first) out_str(o, ", ");
    *first = false;
    out_json_string(o, key);
    out_str(o, ": ");
}

static void section_begin(out_t *o, bool *first, const char *name, char open) {
    if (o->json) {
        json_key(o, first, name);
        out_char(o, open);
    } else {
        out_str(o, name);
        out_str(o, ":\n");
    }
}

/* A number with its key: "allocated": 123 / "  allocated: 123 (123 B)". */
static void put_number(out_t *o, bool *first, const char *key, uint64_t v, int unit,
                       const char *indent) {
    if (o->json) {
        json_key(o, first, key);
        out_u64(o, v);
        return;
    }
    out_fmt(o, "%s%s: %llu", indent, key, (unsigned long long)v);
    if (unit == F_BYTES) {
        char h[32];
        human_bytes(h, sizeof h, v);
        out_fmt(o, " (%s)", h);
    }
    out_char(o, '\n');
}

static void put_fields(out_t *o, bool *first, const void *base, const field_t *f, size_t n) {
    for (size_t i = 0; i < n; i++)
        put_number(o, first, f[i].key, field_get(base, &f[i]), f[i].unit, "  ");
}

/* A node's value: JSON strings quoted, bools and numbers as read. */
static void put_node(out_t *o, bool *first, const char *key, const char *node, int type) {
    char val[HAK_CTL_STR_MAX];
    int r = hak_ctl_read_text(node, val, sizeof val);
    if (o->json) {
        json_key(o, first, key);
        if (r) out_str(o, "null");
        else if (type == HAKCTL_STRING) out_json_string(o, val);
        else out_str(o, val);
    } else {
        out_fmt(o, "  %s: ", key);
        out_str(o, r ? "?" : val);
        out_char(o, '\n');
    }
}

struct type_query { const char *name; int type; };
static int type_cb(const struct hakctl_info *info, void *arg) {
    struct type_query *q = arg;
    if (strcmp(info->name, q->name) != 0) return 0;
    q->type = (int)info->type;
    return 1;
}
static int node_type(const char *name) {
    struct type_query q = {name, -1};
    hakctl_list(name, type_cb, &q);
    return q.type;
}

static void put_config(out_t *o, bool *first) {
    bool inner = true;
    section_begin(o, first, "config", '{');
    for (size_t i = 0; i < NELEM(config_nodes); i++) {
        const char *node = config_nodes[i];
        const char *key = strncmp(node, "config.", 7) == 0 ? node + 7 : node;
        put_node(o, &inner, key, node, node_type(node));
    }
    if (o->json) out_char(o, '}');
}

struct tunables_walk { out_t *o; bool first; };
static int tunable_cb(const struct hakctl_info *info, void *arg) {
    struct tunables_walk *w = arg;
    if (info->access == HAKCTL_RW) put_node(w->o, &w->first, info->name, info->name, (int)info->type);
    return 0;
}

static void put_tunables(out_t *o, bool *first) {
    struct tunables_walk w = {o, true};
    section_begin(o, first, "tunables", '{');
    hakctl_list("", tunable_cb, &w);
    if (o->json) out_char(o, '}');
}

static bool class_active(const hak_class_totals_t *t) {
    return t->allocs || t->frees || t->refills || t->flushes || t->remote_frees || t->warm_hits ||
           t->warm_misses || t->warm_prefilled || t->cached || t->slabs || t->live;
}

static size_t col_width(const field_t *f) { return hak_max(strlen(f->key), (size_t)8) + 1; }

static void put_classes(out_t *o, bool *first, const hak_stats_snapshot_t *s) {
    unsigned active = 0;
    for (unsigned c = 0; c < HAK_NCLASSES; c++) active += class_active(&s->cls[c]);
    if (o->json) {
        json_key(o, first, "classes");
        out_char(o, '[');
    } else {
        out_fmt(o, "classes: %u of %u with activity\n", active, (unsigned)HAK_NCLASSES);
        out_str(o, "  class");
        for (size_t i = 0; i < NELEM(class_fields); i++) out_rpad(o, class_fields[i].key, col_width(&class_fields[i]));
        out_char(o, '\n');
    }
    bool firstrow = true;
    for (unsigned c = 0; c < HAK_NCLASSES; c++) {
        const hak_class_totals_t *t = &s->cls[c];
        if (!class_active(t)) continue;
        if (o->json) {
            bool inner = true;
            if (!firstrow) out_str(o, ", ");
            out_char(o, '{');
            put_number(o, &inner, "class", c, F_COUNT, "");
            put_fields(o, &inner, t, class_fields, NELEM(class_fields));
            out_char(o, '}');
        } else {
            char num[24];
            hak_snprintf(num, sizeof num, "%u", c);
            out_rpad(o, num, 7);
            for (size_t i = 0; i < NELEM(class_fields); i++) {
                hak_snprintf(num, sizeof num, "%llu", (unsigned long long)field_get(t, &class_fields[i]));
                out_rpad(o, num, col_width(&class_fields[i]));
            }
            out_char(o, '\n');
        }
        firstrow = false;
    }
    if (o->json) out_char(o, ']');
}

/* ---- the printer -------------------------------------------------------------- */
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;
static hak_stats_snapshot_t print_snap; /* under print_lock: too big for small stacks */
static uint64_t start_ms;

static void stderr_cb(void *opaque, const char *text) { hak_write_stderr(text); }

static uint64_t realtime_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool has(const char *opts, char c) { return opts && strchr(opts, c) != NULL; }

HAK_EXPORT void hak_stats_print(void (*write_cb)(void *, const char *), void *cbopaque,
                                const char *opts) {
    out_t o;
    o.cb = write_cb ? write_cb : stderr_cb;
    o.opaque = cbopaque;
    o.json = has(opts, 'J');
    o.at = 0;
    bool first = true;
    const hak_stats_snapshot_t *s = &print_snap;

    pthread_mutex_lock(&print_lock);
    hak_stats_take(&print_snap);
    uint64_t now = hak_now_ms();

    if (o.json) out_char(&o, '{');
    else out_str(&o, "___ Begin hakmem statistics ___\n");
    put_number(&o, &first, "format", STATS_FORMAT, F_COUNT, "");
    if (o.json) {
        json_key(&o, &first, "version");
        out_json_string(&o, HAKMEM_VERSION);
    } else {
        out_str(&o, "version: " HAKMEM_VERSION "\n");
    }
    put_number(&o, &first, "pid", (uint64_t)getpid(), F_COUNT, "");
    put_number(&o, &first, "time_ms", realtime_ms(), F_COUNT, "");
    put_number(&o, &first, "uptime_ms", now >= start_ms ? now - start_ms : 0, F_COUNT, "");

    if (!has(opts, 'g')) put_config(&o, &first);
    if (!has(opts, 't')) put_tunables(&o, &first);

    bool inner = true;
    section_begin(&o, &first, "stats", '{');
    put_fields(&o, &inner, &s->global, global_fields, NELEM(global_fields));
    if (o.json) out_char(&o, '}');

    inner = true;
    section_begin(&o, &first, "memory", '{');
    put_fields(&o, &inner, &s->global, memory_fields, NELEM(memory_fields));
    if (o.json) out_char(&o, '}');

    if (!has(opts, 'c')) put_classes(&o, &first, s);
    if (!has(opts, 'l')) {
        inner = true;
        section_begin(&o, &first, "large", '{');
        put_fields(&o, &inner, &s->global, large_fields, NELEM(large_fields));
        if (o.json) out_char(&o, '}');
    }
    /* the process's resident set, as the OS counts it (= stats.resident) */
    put_number(&o, &first, "rss", s->global.resident, F_BYTES, "");

    out_str(&o, o.json ? "}\n" : "___ End hakmem statistics ___\n");
    out_flush(&o);
    pthread_mutex_unlock(&print_lock);
}

/* ---- dumps: at exit, to a file, at intervals -------------------------------- */
static pthread_mutex_t dump_lock = PTHREAD_MUTEX_INITIALIZER;
static bool exiting;          /* under dump_lock: no periodic dump after the last one */
static uint64_t last_tick_ms; /* under dump_lock */

static void fd_cb(void *opaque, const char *text) {
    int fd = *(int *)opaque;
    size_t n = strlen(text);
    while (n) {
        ssize_t w = write(fd, text, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        text += w, n -= (size_t)w;
    }
}

static void dump_locked(void) {
    char opts[64], path[HAK_CTL_STR_MAX], file[HAK_CTL_STR_MAX + 64];
    /* both strings stay valid for three more writes: copy them at once */
    const char *o = __atomic_load_n(&hak_ctl_print_conf.opts, __ATOMIC_ACQUIRE);
    const char *p = __atomic_load_n(&hak_ctl_print_conf.path, __ATOMIC_ACQUIRE);
    hak_snprintf(opts, sizeof opts, "%s", o ? o : "");
    hak_snprintf(path, sizeof path, "%s", p ? p : "");
    if (!path[0]) {
        hak_stats_print(NULL, NULL, opts);
        return;
    }
    if (!hak_path_expand(file, sizeof file, path, NULL)) {
        hak_message("stats.print_path too long: '%s'", path);
        return;
    }
    int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        hak_message("cannot open stats.print_path '%s' (errno %d)", file, errno);
        return;
    }
    hak_stats_print(fd_cb, &fd, opts);
    close(fd);
}

void hak_stats_dump(void) {
    pthread_mutex_lock(&dump_lock);
    dump_locked();
    pthread_mutex_unlock(&dump_lock);
}

uint64_t hak_stats_interval_ms(void) { return hak_load(&hak_ctl_print_conf.interval_ms); }

void hak_stats_periodic_tick(uint64_t now_ms) {
    uint64_t iv = hak_stats_interval_ms();
    if (!iv) return;
    pthread_mutex_lock(&dump_lock);
    if (!exiting && now_ms - last_tick_ms >= iv) {
        last_tick_ms = now_ms;
        dump_locked();
    }
    pthread_mutex_unlock(&dump_lock);
}

static void at_exit_dump(void) {
    pthread_mutex_lock(&dump_lock);
    exiting = true; /* the background thread dumps no more, so the last line is whole */
    if (hak_load(&hak_ctl_print_conf.at_exit)) dump_locked();
    pthread_mutex_unlock(&dump_lock);
}

static void fork_prepare(void) {
    pthread_mutex_lock(&dump_lock);
    pthread_mutex_lock(&print_lock);
}
static void fork_parent(void) {
    pthread_mutex_unlock(&print_lock);
    pthread_mutex_unlock(&dump_lock);
}
static void fork_child(void) {
    pthread_mutex_init(&print_lock, NULL);
    pthread_mutex_init(&dump_lock, NULL);
}

void hak_stats_print_init(void) {
    start_ms = last_tick_ms = hak_now_ms();
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    atexit(at_exit_dump);
    /* periodic dumps run on the background thread: have it started */
    if (hak_stats_interval_ms() && hak_load(&hak_params.background_thread))
        atomic_store_explicit(&hak_purge_wanted, 1, memory_order_relaxed);
}
