/* The control tree's machinery: names, MIBs, the read/write/swap protocol,
 * enumeration.  The nodes themselves are the table in ctl_tree.c.
 *
 * The tree is stored flat: each row is a leaf with its full name pattern.
 * A MIB holds, per component, either the index of a c<N> component or the
 * ordinal of a named component among its siblings (first appearance in the
 * table); where a parent has both a c<N> child and named children (stats),
 * the named ordinals start after the index range, so a slot is unambiguous
 * and patching the index slot of "warm_pool.c0.hits" reads another class.
 *
 * Nothing here allocates: the tree also serves HAKMEM_CONF at start-up and
 * the statistics printer.  One mutex serialises reads, writes and actions;
 * the allocator itself never takes it. */
#include <errno.h>
#include <string.h>
#include "ctl.h"
#include "params.h"
#include "stats.h"

#define NODES_MAX 128
#define NO_INDEX 0xff

static pthread_mutex_t ctl_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- the snapshot behind stats reads ------------------------------------ */
#if HAK_STATS
static hak_stats_snapshot_t snap;
static bool snap_valid;
#endif
static uint64_t ctl_epoch = 1;

static void snap_refresh(void) {
#if HAK_STATS
    hak_stats_take(&snap);
    snap_valid = true;
#endif
}

void hak_ctl_epoch_get(unsigned index, hak_ctl_val_t *v) { v->u = ctl_epoch; }
int hak_ctl_epoch_set(unsigned index, const hak_ctl_val_t *v) {
    snap_refresh();
    ctl_epoch++;
    return 0;
}

/* ---- layout of the table, computed once ---------------------------------- */
static struct {
    uint8_t depth;
    uint8_t idx_depth;                  /* component that is c<N>, or NO_INDEX */
    uint16_t off[HAK_CTL_DEPTH_MAX];    /* components within the pattern */
    uint8_t len[HAK_CTL_DEPTH_MAX];
    size_t mib[HAK_CTL_DEPTH_MAX];      /* MIB slots; the index slot unused */
} lay[NODES_MAX];
static pthread_once_t lay_once = PTHREAD_ONCE_INIT;

/* Splits s[0..n) at dots into at most max components; 0 if a component is
 * empty (leading, trailing or doubled dot) or there are too many. */
static unsigned split(const char *s, size_t n, uint16_t *off, uint8_t *len, unsigned max) {
    unsigned k = 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.') continue;
        if (i == start || k == max) return 0;
        off[k] = (uint16_t)start;
        len[k] = (uint8_t)hak_min(i - start, 255);
        k++;
        start = i + 1;
    }
    return k;
}

static bool comp_eq(unsigned a, unsigned b, unsigned d) {
    return lay[a].len[d] == lay[b].len[d] &&
           memcmp(hak_ctl_nodes[a].name + lay[a].off[d], hak_ctl_nodes[b].name + lay[b].off[d],
                  lay[a].len[d]) == 0;
}
/* Do leaves a and b share their first d components? */
static bool same_prefix(unsigned a, unsigned b, unsigned d) {
    if (lay[a].depth < d || lay[b].depth < d) return false;
    for (unsigned e = 0; e < d; e++)
        if (!comp_eq(a, b, e)) return false;
    return true;
}

static void lay_init(void) {
    unsigned n = hak_ctl_nnodes;
    if (n > NODES_MAX) hak_fatal("ctl: %u nodes, more than NODES_MAX", n);
    for (unsigned i = 0; i < n; i++) {
        const char *nm = hak_ctl_nodes[i].name;
        lay[i].depth = (uint8_t)split(nm, strlen(nm), lay[i].off, lay[i].len, HAK_CTL_DEPTH_MAX);
        if (lay[i].depth == 0) hak_fatal("ctl: bad node name %s", nm);
        lay[i].idx_depth = NO_INDEX;
        for (unsigned d = 0; d < lay[i].depth; d++)
            if (lay[i].len[d] == 4 && memcmp(nm + lay[i].off[d], "c<N>", 4) == 0)
                lay[i].idx_depth = (uint8_t)d;
    }
    for (unsigned i = 0; i < n; i++)
        for (unsigned d = 0; d < lay[i].depth; d++) {
            if (d == lay[i].idx_depth) continue;
            size_t base = 0;
            for (unsigned j = 0; j < n; j++)
                if (lay[j].idx_depth == d && same_prefix(i, j, d)) base = hak_ctl_nodes[j].limit;
            unsigned f = 0;
            while (!same_prefix(f, i, d + 1)) f++;
            size_t k = 0;
            for (unsigned j = 0; j < f; j++) {
                if (!same_prefix(j, i, d) || lay[j].depth <= d || lay[j].idx_depth == d) continue;
                unsigned g = 0;
                while (!same_prefix(g, j, d + 1)) g++;
                if (g == j) k++; /* j is the first of its sibling */
            }
            lay[i].mib[d] = base + k;
        }
}
static inline void lay_ready(void) { pthread_once(&lay_once, lay_init); }

/* fork (init.c): a child must not inherit the lock held, nor a half-done
 * layout.  The ctl lock comes before the allocator's locks. */
void hak_ctl_fork_prepare(void) {
    lay_ready();
    pthread_mutex_lock(&ctl_lock);
}
void hak_ctl_fork_parent(void) { pthread_mutex_unlock(&ctl_lock); }
void hak_ctl_fork_child(void) { pthread_mutex_unlock(&ctl_lock); }

/* ---- names ------------------------------------------------------------------ */
/* c<N> strictly: 'c', decimal digits, no leading zero, N < limit. */
static bool parse_index(const char *s, size_t n, unsigned limit, unsigned *out) {
    if (n < 2 || n > 6 || s[0] != 'c') return false;
    if (s[1] == '0' && n > 2) return false;
    unsigned v = 0;
    for (size_t i = 1; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v >= limit) return false;
    *out = v;
    return true;
}

/* The name without a leading "hakmem.", and its length; NULL if too long. */
static const char *strip_root(const char *name, size_t *n) {
    size_t len = strnlen(name, HAK_CTL_NAME_MAX + 1);
    if (len > HAK_CTL_NAME_MAX) return NULL;
    if (len > 7 && memcmp(name, "hakmem.", 7) == 0) name += 7, len -= 7;
    *n = len;
    return name;
}

/* Finds the leaf a name denotes: 0, or ENOENT. */
static int resolve_name(const char *name, unsigned *node, unsigned *index) {
    size_t n;
    uint16_t off[HAK_CTL_DEPTH_MAX];
    uint8_t len[HAK_CTL_DEPTH_MAX];
    lay_ready();
    if (!(name = strip_root(name, &n))) return ENOENT;
    unsigned depth = split(name, n, off, len, HAK_CTL_DEPTH_MAX);
    if (depth == 0) return ENOENT;
    for (unsigned i = 0; i < hak_ctl_nnodes; i++) {
        if (lay[i].depth != depth) continue;
        unsigned idx = 0, d;
        for (d = 0; d < depth; d++) {
            if (d == lay[i].idx_depth) {
                if (!parse_index(name + off[d], len[d], hak_ctl_nodes[i].limit, &idx)) break;
            } else if (len[d] != lay[i].len[d] ||
                       memcmp(name + off[d], hak_ctl_nodes[i].name + lay[i].off[d], len[d]) != 0) {
                break;
            }
        }
        if (d == depth) {
            *node = i;
            *index = idx;
            return 0;
        }
    }
    return ENOENT;
}

static int resolve_mib(const size_t *mib, size_t miblen, unsigned *node, unsigned *index) {
    lay_ready();
    for (unsigned i = 0; i < hak_ctl_nnodes; i++) {
        if (lay[i].depth != miblen) continue;
        size_t d;
        for (d = 0; d < miblen; d++) {
            if (d == lay[i].idx_depth ? mib[d] >= hak_ctl_nodes[i].limit : mib[d] != lay[i].mib[d])
                break;
        }
        if (d == miblen) {
            *node = i;
            *index = lay[i].idx_depth == NO_INDEX ? 0 : (unsigned)mib[lay[i].idx_depth];
            return 0;
        }
    }
    return ENOENT;
}

/* ---- values ------------------------------------------------------------------ */
static size_t type_size(unsigned type) {
    switch (type) {
    case HAKCTL_BOOL: return sizeof(bool);
    case HAKCTL_U32: return sizeof(uint32_t);
    case HAKCTL_U64: return sizeof(uint64_t);
    case HAKCTL_SIZE: return sizeof(size_t);
    case HAKCTL_STRING: return sizeof(const char *);
    default: return 0;
    }
}

/* Both with ctl_lock held. */
static void node_get(const hak_ctl_node_t *nd, unsigned index, hak_ctl_val_t *v) {
    switch (nd->src) {
    case HAK_CTL_SRC_PARAM: {
        const char *p = (const char *)&hak_params + nd->off;
        v->u = nd->fw == 4 ? hak_load((const uint32_t *)p) : hak_load((const uint64_t *)p);
        break;
    }
#if HAK_STATS
    case HAK_CTL_SRC_CLASS:
        if (!snap_valid) snap_refresh();
        memcpy(&v->u, (const char *)&snap.cls[index] + nd->off, sizeof(uint64_t));
        break;
    case HAK_CTL_SRC_GLOBAL:
        if (!snap_valid) snap_refresh();
        memcpy(&v->u, (const char *)&snap.global + nd->off, sizeof(uint64_t));
        break;
#endif
    case HAK_CTL_SRC_CONST: v->u = nd->min; break;
    default: nd->get(index, v); break;
    }
}

static int node_set(const hak_ctl_node_t *nd, unsigned index, const hak_ctl_val_t *v) {
    if (nd->src == HAK_CTL_SRC_PARAM) {
        char *p = (char *)&hak_params + nd->off;
        if (nd->fw == 4)
            hak_store((uint32_t *)p, (uint32_t)v->u);
        else
            hak_store((uint64_t *)p, v->u);
        hak_params_changed();
        return 0;
    }
    return nd->set(index, v);
}

/* A value about to be written: in range? */
static int check_value(const hak_ctl_node_t *nd, const hak_ctl_val_t *v) {
    if (nd->type == HAKCTL_STRING)
        return v->s && strnlen(v->s, HAK_CTL_STR_MAX) < HAK_CTL_STR_MAX ? 0 : EINVAL;
    return v->u >= nd->min && v->u <= nd->max ? 0 : EINVAL;
}

/* The protocol of hakctl(), once the node is known.  Checks everything
 * before touching anything, so an error changes nothing (but *oldlenp on
 * a size mismatch, which is how callers learn the size). */
static int node_op(unsigned node, unsigned index, void *oldp, size_t *oldlenp, void *newp,
                   size_t newlen) {
    const hak_ctl_node_t *nd = &hak_ctl_nodes[node];
    if (oldp && !oldlenp) return EFAULT;
    if (nd->access == HAKCTL_ACTION) {
        /* An action runs on a call with no old and no new value at all. */
        if (oldp || newp || newlen || (oldlenp && *oldlenp)) return EPERM;
        pthread_mutex_lock(&ctl_lock);
        int r = nd->set(index, NULL);
        pthread_mutex_unlock(&ctl_lock);
        return r;
    }
    size_t size = type_size(nd->type);
    if (!newp && newlen) return EINVAL;
    if (!oldp && !newp) { /* a size query */
        if (oldlenp) *oldlenp = size;
        return 0;
    }
    if ((oldp && nd->access == HAKCTL_WO) || (newp && nd->access == HAKCTL_RO)) return EPERM;
    if ((oldp && *oldlenp != size) || (newp && newlen != size)) {
        if (oldlenp) *oldlenp = size;
        return EINVAL;
    }
    hak_ctl_val_t nv = {0}, ov = {0};
    if (newp) {
        switch (nd->type) {
        case HAKCTL_BOOL: {
            unsigned char b;
            memcpy(&b, newp, 1);
            if (b > 1) return EINVAL;
            nv.u = b;
            break;
        }
        case HAKCTL_U32: {
            uint32_t x;
            memcpy(&x, newp, sizeof x);
            nv.u = x;
            break;
        }
        case HAKCTL_STRING: memcpy(&nv.s, newp, sizeof nv.s); break;
        default: memcpy(&nv.u, newp, sizeof nv.u); break;
        }
        int r = check_value(nd, &nv);
        if (r) return r;
    }
    pthread_mutex_lock(&ctl_lock);
    if (oldp) node_get(nd, index, &ov);
    if (newp) {
        int r = node_set(nd, index, &nv);
        if (r) {
            pthread_mutex_unlock(&ctl_lock);
            return r;
        }
    }
    pthread_mutex_unlock(&ctl_lock);
    if (oldp) {
        switch (nd->type) {
        case HAKCTL_BOOL: *(bool *)oldp = ov.u != 0; break;
        case HAKCTL_U32: {
            uint32_t x = (uint32_t)ov.u;
            memcpy(oldp, &x, sizeof x);
            break;
        }
        case HAKCTL_SIZE: {
            size_t x = (size_t)ov.u;
            memcpy(oldp, &x, sizeof x);
            break;
        }
        case HAKCTL_STRING: memcpy(oldp, &ov.s, sizeof ov.s); break;
        default: memcpy(oldp, &ov.u, sizeof ov.u); break;
        }
    }
    return 0;
}

/* ---- the public calls --------------------------------------------------------- */
HAK_EXPORT int hakctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen) {
    unsigned node, index;
    if (!name) return EFAULT;
    int r = resolve_name(name, &node, &index);
    return r ? r : node_op(node, index, oldp, oldlenp, newp, newlen);
}

HAK_EXPORT int hakctlnametomib(const char *name, size_t *mibp, size_t *miblenp) {
    unsigned node, index;
    if (!name || !mibp || !miblenp) return EFAULT;
    int r = resolve_name(name, &node, &index);
    if (r) return r;
    size_t depth = lay[node].depth;
    if (*miblenp < depth) {
        *miblenp = depth;
        return EINVAL;
    }
    for (size_t d = 0; d < depth; d++) mibp[d] = d == lay[node].idx_depth ? index : lay[node].mib[d];
    *miblenp = depth;
    return 0;
}

HAK_EXPORT int hakctlbymib(const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp, void *newp,
                           size_t newlen) {
    unsigned node, index;
    if (!mib && miblen) return EFAULT;
    int r = resolve_mib(mib, miblen, &node, &index);
    return r ? r : node_op(node, index, oldp, oldlenp, newp, newlen);
}

HAK_EXPORT const char *hakctl_type_name(enum hakctl_type type) {
    static const char *const names[] = {"bool", "u32", "u64", "size", "string", "void"};
    return (unsigned)type < 6 ? names[type] : "unknown";
}

HAK_EXPORT const char *hakctl_access_name(enum hakctl_access access) {
    static const char *const names[] = {"read-only", "read-write", "write-only", "action"};
    return (unsigned)access < 4 ? names[access] : "unknown";
}

size_t hak_ctl_u64_text(char *buf, uint64_t v) {
    char tmp[24];
    size_t n = 0;
    do tmp[n++] = (char)('0' + v % 10); while ((v /= 10) != 0);
    for (size_t i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
    return n;
}

/* Full name of leaf i with index idx, into buf (HAK_CTL_NAME_MAX + 1). */
static void full_name(unsigned i, unsigned idx, char *buf) {
    const char *pat = hak_ctl_nodes[i].name;
    size_t n = 0;
    if (lay[i].idx_depth == NO_INDEX) {
        n = strlen(pat);
        memcpy(buf, pat, n + 1);
        return;
    }
    size_t at = lay[i].off[lay[i].idx_depth];
    memcpy(buf, pat, at);
    n = at;
    buf[n++] = 'c';
    n += hak_ctl_u64_text(buf + n, idx);
    strcpy(buf + n, pat + at + 4);
}

/* Is name under prefix (component-wise: "stats.c1" is not under "stats.c")? */
static bool under(const char *name, const char *prefix, size_t plen) {
    if (plen == 0) return true;
    if (strncmp(name, prefix, plen) != 0) return false;
    return prefix[plen - 1] == '.' || name[plen] == '\0' || name[plen] == '.';
}

HAK_EXPORT int hakctl_list(const char *prefix, int (*cb)(const struct hakctl_info *info, void *arg),
                           void *arg) {
    size_t plen = 0;
    char buf[HAK_CTL_NAME_MAX + 1];
    int found = 0;
    if (!cb) return EFAULT;
    lay_ready();
    if (!prefix) prefix = "";
    if (!(prefix = strip_root(prefix, &plen))) return ENOENT;
    for (unsigned i = 0; i < hak_ctl_nnodes;) {
        /* Rows sharing an indexed prefix (stats.c<N>.*) list index-major. */
        unsigned j = i + 1, limit = 1;
        if (lay[i].idx_depth != NO_INDEX) {
            limit = hak_ctl_nodes[i].limit;
            while (j < hak_ctl_nnodes && lay[j].idx_depth == lay[i].idx_depth &&
                   same_prefix(i, j, lay[i].idx_depth + 1u))
                j++;
        }
        for (unsigned idx = 0; idx < limit; idx++)
            for (unsigned k = i; k < j; k++) {
                full_name(k, idx, buf);
                if (!under(buf, prefix, plen)) continue;
                const hak_ctl_node_t *nd = &hak_ctl_nodes[k];
                struct hakctl_info info = {buf, (enum hakctl_type)nd->type,
                                           (enum hakctl_access)nd->access, nd->desc, nd->range};
                found = 1;
                int r = cb(&info, arg);
                if (r) return r;
            }
        i = j;
    }
    return found ? 0 : ENOENT;
}

int hak_ctl_access(const char *name) {
    unsigned node, index;
    return resolve_name(name, &node, &index) ? -1 : hak_ctl_nodes[node].access;
}

int hak_ctl_walk_patterns(int (*cb)(const hak_ctl_node_t *node, void *arg), void *arg) {
    for (unsigned i = 0; i < hak_ctl_nnodes; i++) {
        int r = cb(&hak_ctl_nodes[i], arg);
        if (r) return r;
    }
    return 0;
}

/* ---- values as text (HAKMEM_CONF, the statistics printer) --------------------- */
static bool text_eq(const char *a, const char *b) { return strcmp(a, b) == 0; }

/* Decimal digits, then for size nodes an optional K, M or G; no sign, no
 * spaces, no overflow. */
static bool parse_u64(const char *s, bool suffix, uint64_t *out) {
    uint64_t v = 0;
    const char *p = s;
    if (*p < '0' || *p > '9') return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - 9) / 10) return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (*p && suffix && !p[1]) {
        unsigned shift = *p == 'K' || *p == 'k' ? 10 : *p == 'M' || *p == 'm' ? 20 : *p == 'G' || *p == 'g' ? 30 : 0;
        if (!shift || v > (UINT64_MAX >> shift)) return false;
        v <<= shift;
        p++;
    }
    if (*p) return false;
    *out = v;
    return true;
}

int hak_ctl_write_text(const char *name, const char *value, char *err, size_t errlen) {
    unsigned node, index;
    if (err && errlen) err[0] = '\0';
    int r = resolve_name(name, &node, &index);
    if (r) return r;
    const hak_ctl_node_t *nd = &hak_ctl_nodes[node];
    if (nd->access != HAKCTL_RW && nd->access != HAKCTL_WO) return EPERM;
    hak_ctl_val_t v = {0};
    bool ok;
    switch (nd->type) {
    case HAKCTL_BOOL:
        ok = true;
        if (text_eq(value, "true") || text_eq(value, "yes") || text_eq(value, "1"))
            v.u = 1;
        else if (text_eq(value, "false") || text_eq(value, "no") || text_eq(value, "0"))
            v.u = 0;
        else
            ok = false;
        break;
    case HAKCTL_STRING: v.s = value; ok = true; break;
    default: ok = parse_u64(value, nd->type == HAKCTL_SIZE, &v.u); break;
    }
    if (ok && check_value(nd, &v) == 0) {
        pthread_mutex_lock(&ctl_lock);
        r = node_set(nd, index, &v);
        pthread_mutex_unlock(&ctl_lock);
        if (r == 0) return 0;
    }
    if (err && errlen) {
        size_t n = strnlen(nd->range, errlen - 1);
        memcpy(err, nd->range, n);
        err[n] = '\0';
    }
    return EINVAL;
}

int hak_ctl_read_text(const char *name, char *buf, size_t len) {
    unsigned node, index;
    char num[24];
    int r = resolve_name(name, &node, &index);
    if (r) return r;
    const hak_ctl_node_t *nd = &hak_ctl_nodes[node];
    if (nd->access != HAKCTL_RO && nd->access != HAKCTL_RW) return EPERM;
    hak_ctl_val_t v;
    const char *s;
    pthread_mutex_lock(&ctl_lock);
    node_get(nd, index, &v);
    if (nd->type == HAKCTL_STRING)
        s = v.s;
    else if (nd->type == HAKCTL_BOOL)
        s = v.u ? "true" : "false";
    else
        hak_ctl_u64_text(num, v.u), s = num;
    size_t n = strlen(s);
    if (n < len) memcpy(buf, s, n + 1);
    pthread_mutex_unlock(&ctl_lock);
    return n < len ? 0 : EINVAL;
}
