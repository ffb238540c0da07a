/* File-name patterns of the dumps (stats.print_path, prof.path): "%p" is the
 * process ID, so every process of a program writes its own file, "%%" a
 * '%'; with a number given, "%n" is that number.  No allocation. */
#include "util.h"
#include <string.h>
#include <unistd.h>

bool hak_path_expand(char *out, size_t len, const char *pattern, const uint64_t *n) {
    size_t at = 0;
    for (const char *p = pattern; *p; p++) {
        char piece[24] = {*p, 0};
        if (p[0] == '%' && p[1] == 'p') hak_snprintf(piece, sizeof piece, "%d", (int)getpid()), p++;
        else if (p[0] == '%' && p[1] == 'n' && n) hak_snprintf(piece, sizeof piece, "%llu", (unsigned long long)*n), p++;
        else if (p[0] == '%' && p[1] == '%') p++;
        size_t k = strlen(piece);
        if (at + k >= len) return false;
        memcpy(out + at, piece, k);
        at += k;
    }
    out[at] = 0;
    return true;
}
