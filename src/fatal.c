/* Reporting.  Everything here is async-signal-safe: it formats into a
 * buffer on the stack, writes with write(2), takes no allocator lock,
 * allocates nothing; a fatal report ends in abort(). */
#include "util.h"
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/types.h>
#include <unistd.h>

static size_t put_str(char *buf, size_t len, size_t at, const char *s) {
    while (*s) {
        if (at + 1 < len) buf[at] = *s;
        at++, s++;
    }
    return at;
}

static size_t put_pad(char *buf, size_t len, size_t at, size_t n) {
    while (n--) {
        if (at + 1 < len) buf[at] = ' ';
        at++;
    }
    return at;
}

/* Digits of v in base into tmp (24 bytes), with a leading '-' if neg. */
static size_t fmt_num(char *tmp, unsigned long long v, unsigned base, bool neg) {
    char rev[24];
    size_t n = 0, k = 0;
    do rev[n++] = "0123456789abcdef"[v % base];
    while ((v /= base) != 0);
    if (neg) tmp[k++] = '-';
    while (n) tmp[k++] = rev[--n];
    tmp[k] = 0;
    return k;
}

/* Conversions: %s %c %d %u %x %p %%, with l, ll and z length modifiers and
 * an optional field width ("%8llu"; "%-10s" pads on the right). */
size_t hak_vsnprintf(char *buf, size_t len, const char *fmt, va_list ap) {
    size_t at = 0;
    for (const char *f = fmt; *f; f++) {
        if (*f != '%') {
            if (at + 1 < len) buf[at] = *f;
            at++;
            continue;
        }
        f++;
        bool left = false;
        size_t width = 0;
        if (*f == '-') left = true, f++;
        while (*f >= '0' && *f <= '9') width = width * 10 + (size_t)(*f++ - '0');
        int longs = 0;
        bool size = false;
        while (*f == 'l') longs++, f++;
        if (*f == 'z') size = true, f++;
        char tmp[32];
        const char *piece = tmp;
        size_t n;
        switch (*f) {
        case 's': piece = va_arg(ap, const char *); if (!piece) piece = "(null)"; n = strlen(piece); break;
        case 'c': tmp[0] = (char)va_arg(ap, int); tmp[1] = 0; n = 1; break;
        case 'd': {
            long long v = size ? (long long)va_arg(ap, ssize_t)
                        : longs ? va_arg(ap, long) : va_arg(ap, int);
            n = fmt_num(tmp, v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v, 10, v < 0);
            break;
        }
        case 'u': case 'x': {
            unsigned long long v = size ? va_arg(ap, size_t)
                                 : longs ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
            n = fmt_num(tmp, v, *f == 'x' ? 16 : 10, false);
            break;
        }
        case 'p': tmp[0] = '0', tmp[1] = 'x';
                  n = 2 + fmt_num(tmp + 2, (uintptr_t)va_arg(ap, void *), 16, false); break;
        case '%': piece = "%"; n = 1; break;
        case 0: f--; piece = "?"; n = 1; break;
        default: piece = "?"; n = 1; break;
        }
        if (!left && width > n) at = put_pad(buf, len, at, width - n);
        at = put_str(buf, len, at, piece);
        if (left && width > n) at = put_pad(buf, len, at, width - n);
    }
    if (len) buf[at < len ? at : len - 1] = 0;
    return at;
}

size_t hak_snprintf(char *buf, size_t len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t n = hak_vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    return n;
}

void hak_write_stderr(const char *s) {
    size_t n = strlen(s);
    while (n) {
        ssize_t w = write(2, s, n);
        if (w <= 0) return;
        s += w, n -= (size_t)w;
    }
}

static void vmessage(const char *fmt, va_list ap) {
    char buf[512];
    size_t at = hak_snprintf(buf, sizeof buf, "hakmem: ");
    at += hak_vsnprintf(buf + at, sizeof buf - at - 1, fmt, ap);
    if (at > sizeof buf - 2) at = sizeof buf - 2;
    buf[at] = '\n';
    buf[at + 1] = 0;
    hak_write_stderr(buf);
}

void hak_message(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
}

void hak_fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
    abort();
}

void hak_assert_fail(const char *what, const char *file, int line) {
    hak_fatal("assertion '%s' failed at %s:%d", what, file, line);
}

void hak_spin_lock_slow(hak_spin_t *l) {
    for (unsigned spins = 0;; spins++) {
        if (atomic_load_explicit(&l->v, memory_order_relaxed) == 0) {
            int z = 0;
            if (atomic_compare_exchange_weak_explicit(&l->v, &z, 1, memory_order_acquire,
                                                      memory_order_relaxed))
                return;
        }
        if (spins > 64) sched_yield();
        else {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
        }
    }
}

uint64_t hak_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
