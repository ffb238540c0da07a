/* Renders doc/ctl-names.md from the control tree's table (ctl_doc.c). */
#ifndef HAK_CTL_DOC_H
#define HAK_CTL_DOC_H
#include <stddef.h>
/* Writes the whole document into buf (NUL-terminated, truncated to cap);
 * returns its full length. */
size_t ctl_doc_render(char *buf, size_t cap);
#endif
