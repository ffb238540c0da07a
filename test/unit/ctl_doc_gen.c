/* Prints doc/ctl-names.md (make ctl-doc). */
#include <stdio.h>
#include "ctl_doc.h"

static char doc[1 << 16];

int main(void) {
    size_t n = ctl_doc_render(doc, sizeof doc);
    if (n >= sizeof doc) {
        fprintf(stderr, "ctl_doc_gen: document larger than %zu bytes\n", sizeof doc);
        return 1;
    }
    return fwrite(doc, 1, n, stdout) == n ? 0 : 1;
}
