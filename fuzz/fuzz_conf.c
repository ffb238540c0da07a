/* libFuzzer: arbitrary bytes as the HAKMEM_CONF string.  Whatever it says,
 * every tunable must stay within its documented range. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ctl.h"
#include "params.h"

static char conf[1 << 16];

static int in_range(const hak_ctl_node_t *nd, void *arg) {
    if (nd->access != HAKCTL_RW || nd->src != HAK_CTL_SRC_PARAM) return 0;
    char buf[64];
    if (hak_ctl_read_text(nd->name, buf, sizeof buf) != 0) abort();
    uint64_t v = strtoull(buf, NULL, 10);
    if (nd->type == HAKCTL_BOOL) v = strcmp(buf, "true") == 0;
    if (v < nd->min || v > nd->max) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t n = size < sizeof conf - 1 ? size : sizeof conf - 1;
    memcpy(conf, data, n);
    conf[n] = '\0';
    hak_conf_apply(conf);
    hak_ctl_walk_patterns(in_range, NULL);
    if (hak_params.thp >= HAK_THP_MODES) abort();
    return 0;
}
