/* The control tree (hakctl): internal interface.  The public calls are in
 * hakmem.h; the table of nodes is in ctl_tree.c, the machinery in ctl.c and
 * the HAKMEM_CONF parser in conf.c.  Nothing here allocates. */
#ifndef HAK_CTL_H
#define HAK_CTL_H

#include "hakmem.h"
#include "util.h"

#define HAK_CTL_NAME_MAX  256  /* longer names answer ENOENT */
#define HAK_CTL_DEPTH_MAX 6    /* components in a name, "hakmem." not counted */
#define HAK_CTL_STR_MAX   256  /* stored strings, terminating NUL included */

/* Where a node's value lives. */
enum hak_ctl_src {
    HAK_CTL_SRC_FUNC,    /* get/set functions */
    HAK_CTL_SRC_PARAM,   /* field of hak_params at off, width fw */
    HAK_CTL_SRC_CLASS,   /* uint64_t at off in the snapshot's cls[index] */
    HAK_CTL_SRC_GLOBAL,  /* uint64_t at off in the snapshot's global totals */
    HAK_CTL_SRC_CONST,   /* the constant in min */
};

/* A value in transit: integers and bools in u, strings in s. */
typedef union hak_ctl_val {
    uint64_t u;
    const char *s;
} hak_ctl_val_t;

/* One leaf of the tree.  name is its full pattern, "stats.c<N>.allocs": a
 * "c<N>" component stands for c0 .. c<limit-1>, at most one per name. */
typedef struct hak_ctl_node {
    const char *name;
    uint8_t type;        /* enum hakctl_type */
    uint8_t access;      /* enum hakctl_access */
    uint8_t src;         /* enum hak_ctl_src */
    uint8_t fw;          /* width of a HAK_CTL_SRC_PARAM field: 4 or 8 */
    uint16_t limit;      /* indices of the c<N> component, 0 if none */
    uint32_t off;
    uint64_t min, max;   /* range checked before any write of an integer */
    /* Called with the ctl lock held.  get fills v; set gets a value already
     * range-checked and returns 0 or an errno value (EINVAL).  An action
     * node has only set, called with v NULL. */
    void (*get)(unsigned index, hak_ctl_val_t *v);
    int (*set)(unsigned index, const hak_ctl_val_t *v);
    const char *range;   /* documented range, "" if none */
    const char *def;     /* default, as text for doc/ctl-names.md */
    const char *desc;    /* one line */
} hak_ctl_node_t;

extern const hak_ctl_node_t hak_ctl_nodes[];
extern const unsigned hak_ctl_nnodes;

/* Settings of the statistics printer (stats.print_*, stats.interval_ms),
 * kept here and written through the tree.  Read with hak_load; a string
 * pointer stays valid until three more writes of the same name. */
struct hak_ctl_print_conf {
    uint32_t at_exit;      /* stats.print_at_exit */
    uint64_t interval_ms;  /* stats.interval_ms, 0 = off */
    const char *opts;      /* stats.print_opts, never NULL */
    const char *path;      /* stats.print_path, "" = stderr */
};
extern struct hak_ctl_print_conf hak_ctl_print_conf;

/* prof.path and prof.dump_at_exit, kept the same way for the profiler's
 * dumps (prof.c). */
struct hak_ctl_prof_conf {
    uint32_t dump_at_exit;
    const char *path;      /* never NULL; checked by hak_prof_path_ok when written */
};
extern struct hak_ctl_prof_conf hak_ctl_prof_conf;

/* HAKMEM_CONF="name:value,name:value": conf.c.  hak_conf_apply_env is
 * called once by the library constructor; hak_conf_apply parses a string
 * (separate for tests and fuzzing).  Each bad entry prints one line. */
void hak_conf_apply_env(void);
void hak_conf_apply(const char *conf);

/* Writes a value given as text: decimal integers (K/M/G suffixes for size
 * nodes), true/false/yes/no/1/0 for bools, strings as they are.  Returns 0,
 * ENOENT (unknown name), EPERM (read-only or action) or EINVAL (bad value;
 * then err holds what was expected, e.g. "0..16"). */
int hak_ctl_write_text(const char *name, const char *value, char *err, size_t errlen);
/* Reads a value as text into buf.  Returns 0, ENOENT, EPERM (write-only or
 * action) or EINVAL (buf too small). */
int hak_ctl_read_text(const char *name, char *buf, size_t len);

/* ctl.c: the epoch node, and the snapshot behind every stats read. */
void hak_ctl_epoch_get(unsigned index, hak_ctl_val_t *v);
int hak_ctl_epoch_set(unsigned index, const hak_ctl_val_t *v);

/* Access of a name (enum hakctl_access), or -1 if there is no such name. */
int hak_ctl_access(const char *name);

/* Called by the fork handlers in init.c, before and after the allocator's. */
void hak_ctl_fork_prepare(void);
void hak_ctl_fork_parent(void);
void hak_ctl_fork_child(void);

/* Walks the table itself, patterns not expanded (for doc/ctl-names.md). */
int hak_ctl_walk_patterns(int (*cb)(const hak_ctl_node_t *node, void *arg), void *arg);

/* Formats v in decimal; returns the length (buf needs 21 bytes). */
size_t hak_ctl_u64_text(char *buf, uint64_t v);

#endif
