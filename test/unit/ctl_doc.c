/* doc/ctl-names.md, generated from the table in src/ctl_tree.c: used by
 * ctl_doc_gen (make ctl-doc) and by check_ctl, which fails when the
 * committed file differs. */
#include <string.h>
#include "ctl.h"
#include "ctl_doc.h"

struct out { char *buf; size_t cap, len; };

static void put(struct out *o, const char *s) {
    for (; *s; s++, o->len++)
        if (o->len + 1 < o->cap) o->buf[o->len] = *s;
}
/* Table cell text: a '|' would end the cell. */
static void cell(struct out *o, const char *s) {
    for (; *s; s++) put(o, *s == '|' ? "\\|" : (char[2]){*s, 0});
}

static int row(const hak_ctl_node_t *nd, void *arg) {
    struct out *o = arg;
    char num[24];
    put(o, "| `");
    cell(o, nd->name);
    put(o, "`");
    if (nd->limit) {
        hak_ctl_u64_text(num, nd->limit - 1u);
        put(o, " (N = 0..");
        put(o, num);
        put(o, ")");
    }
    put(o, " | ");
    put(o, hakctl_type_name(nd->type));
    put(o, " | ");
    put(o, hakctl_access_name(nd->access));
    put(o, " | ");
    cell(o, nd->range);
    put(o, " | ");
    if (nd->src == HAK_CTL_SRC_CONST) {
        if (nd->type == HAKCTL_BOOL) {
            put(o, "set by configure"); /* the document is the same for every build */
        } else {
            hak_ctl_u64_text(num, nd->min);
            put(o, num);
        }
    } else {
        cell(o, nd->def);
    }
    put(o, " | ");
    cell(o, nd->desc);
    put(o, " |\n");
    return 0;
}

size_t ctl_doc_render(char *buf, size_t cap) {
    struct out o = {buf, cap, 0};
    put(&o,
        "# hakmem control names\n"
        "\n"
        "<!-- Generated from src/ctl_tree.c by `make ctl-doc`; do not edit. -->\n"
        "\n"
        "Read and write these with `hakctl()`, `hakctlnametomib()` + `hakctlbymib()`,\n"
        "enumerate them with `hakctl_list()`, and set them at start-up with\n"
        "`HAKMEM_CONF=\"name:value,name:value\"`.  Every name may start with `hakmem.`.\n"
        "\n"
        "- A read passes `oldp` and `oldlenp` (`*oldlenp` must be the size of the type);\n"
        "  a write passes `newp` and `newlen`; both at once swap (old value out, new in).\n"
        "  Passing only `oldlenp` (no `oldp`, no `newp`) stores the size of the value.\n"
        "- Types: bool is `bool`, u32 `uint32_t`, u64 `uint64_t`, size `size_t`,\n"
        "  string `const char *` (a read gets a pointer to storage that stays valid\n"
        "  until three more writes of the same name).\n"
        "- An **action** runs when called with no `oldp`, no `newp`, `newlen` 0 and\n"
        "  `*oldlenp` 0 (or `oldlenp` NULL): `hakctl(\"purge\", NULL, NULL, NULL, 0)`.\n"
        "  Any value or size passed to an action is EPERM.\n"
        "- `c<N>` components are indices: decimal, no sign, no leading zero\n"
        "  (`c07` does not exist), below the limit given.  In a MIB their slot holds N,\n"
        "  so a MIB can be reused for another index by patching that slot.\n"
        "- Statistics come from the snapshot taken by the latest write of `epoch`\n"
        "  (one is taken at the first read if none was); `thread.*` are live.  With\n"
        "  `./configure --disable-stats` the names `stats.c<N>.*`, `stats.<global>`,\n"
        "  `stats.large.*`, `stats.reset`, `warm_pool.c<N>.*` and `thread.allocated`,\n"
        "  `thread.deallocated` do not exist (ENOENT).\n"
        "- Size values in `HAKMEM_CONF` may end in K, M or G; bools take\n"
        "  true/false/yes/no/1/0.\n"
        "\n"
        "| name | type | access | range | default | meaning |\n"
        "|---|---|---|---|---|---|\n");
    hak_ctl_walk_patterns(row, &o);
    if (cap) buf[o.len < cap ? o.len : cap - 1] = '\0';
    return o.len;
}
