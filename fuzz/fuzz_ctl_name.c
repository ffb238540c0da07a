/* libFuzzer: arbitrary bytes as a control-tree name.  Every call must
 * answer an errno value or 0 without crashing, and a name that resolves must
 * resolve the same way through its MIB. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ctl.h"

static int count_cb(const struct hakctl_info *i, void *arg) {
    (*(unsigned *)arg)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char name[1024];
    size_t n = size < sizeof name - 1 ? size : sizeof name - 1;
    memcpy(name, data, n);
    name[n] = '\0';

    unsigned char big[4096];
    size_t len = sizeof big;
    int r = hakctl(name, big, &len, NULL, 0);
    if (r != 0 && r != ENOENT && r != EINVAL && r != EPERM) abort();
    if (r == EINVAL && len > sizeof(uint64_t)) abort(); /* *oldlenp must be the node's size */

    size_t mib[HAK_CTL_DEPTH_MAX], miblen = HAK_CTL_DEPTH_MAX;
    int rm = hakctlnametomib(name, mib, &miblen);
    if ((rm == ENOENT) != (r == ENOENT)) abort();
    if (rm == 0) {
        size_t a = 0, b = 0;
        if (hakctl(name, NULL, &a, NULL, 0) == 0 && (hakctlbymib(mib, miblen, NULL, &b, NULL, 0) != 0 || a != b))
            abort();
    }
    if (hak_ctl_access(name) < 0 && r != ENOENT) abort();

    char text[512];
    (void)hak_ctl_read_text(name, text, sizeof text);
    unsigned count = 0;
    (void)hakctl_list(name, count_cb, &count);
    return 0;
}
