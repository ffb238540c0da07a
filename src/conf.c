/* HAKMEM_CONF="name:value,name:value": the only environment variable that
 * configures hakmem.  Read once by the library constructor, before anything
 * is allocated, so it works on stack buffers and getenv only.  Each entry is
 * written through the control tree; a bad entry prints one line naming it
 * and why, is skipped, and the rest applies. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "ctl.h"

#define ENTRY_MAX 512 /* longer entries are reported, shortened, and skipped */
#define SHOW_MAX 64   /* most bytes of a bad token quoted in a message */

/* Copies s[0..n) into out (SHOW_MAX + 4 bytes), shortened with "..." and
 * with control bytes as '?', so a message stays one readable line. */
static const char *shown(const char *s, size_t n, char *out) {
    size_t m = hak_min(n, (size_t)SHOW_MAX);
    for (size_t i = 0; i < m; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    if (m < n) memcpy(out + m, "...", 3), m += 3;
    out[m] = '\0';
    return out;
}

static bool is_space(char c) { return c == ' ' || c == '\t'; }

static void apply_entry(const char *e, size_t n) {
    char show[SHOW_MAX + 4], show2[SHOW_MAX + 4];
    char buf[ENTRY_MAX + 1];
    while (n && is_space(*e)) e++, n--;
    while (n && is_space(e[n - 1])) n--;
    if (n == 0) return; /* empty entry: a:1,,b:2 */
    const char *colon = memchr(e, ':', n);
    if (!colon || colon == e) {
        hak_message("HAKMEM_CONF: malformed entry '%s' (expected name:value)", shown(e, n, show));
        return;
    }
    if (n > ENTRY_MAX) {
        hak_message("HAKMEM_CONF: entry too long '%s'", shown(e, n, show));
        return;
    }
    memcpy(buf, e, n);
    buf[n] = '\0';
    size_t nl = (size_t)(colon - e);
    char *name = buf, *value = buf + nl + 1;
    while (nl && is_space(name[nl - 1])) nl--;
    name[nl] = '\0';
    while (is_space(*value)) value++;
    char err[96];
    switch (hak_ctl_write_text(name, value, err, sizeof err)) {
    case 0: break;
    case ENOENT: hak_message("HAKMEM_CONF: unknown name '%s'", shown(name, nl, show)); break;
    case EPERM:
        if (hak_ctl_access(name) == HAKCTL_ACTION)
            hak_message("HAKMEM_CONF: '%s' is an action, not a setting", shown(name, nl, show));
        else
            hak_message("HAKMEM_CONF: '%s' is read-only", shown(name, nl, show));
        break;
    default:
        hak_message("HAKMEM_CONF: bad value '%s' for '%s' (expected %s)",
                    shown(value, strlen(value), show2), shown(name, nl, show), err);
        break;
    }
}

void hak_conf_apply(const char *conf) {
    if (!conf) return;
    const char *p = conf;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        apply_entry(p, n);
        if (!end) break;
        p = end + 1;
    }
}

void hak_conf_apply_env(void) { hak_conf_apply(getenv("HAKMEM_CONF")); }
