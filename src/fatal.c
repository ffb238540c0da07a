/* Reporting.  Everything here is async-signal-safe: it formats into a
 * buffer on the stack, writes with write(2), takes no allocator lock,
 * allocates nothing; a fatal report ends in abort(). */
#include "util.h"
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static size_t put_str(char *buf, size_t len, size_t at, const char *s) {
    while (*s) {
        if (at + 1 < len) buf[at] = *s;
        at++, s++;
    }
    return at;
}

static size_t put_num(char *buf, size_t len, size_t at, unsigned long long v, unsigned base,
                      bool neg) {
    char tmp[24];
    int n = 0;
    do tmp[n++] = "0123456789abcdef"[v % base];
    while ((v /= base) != 0);
    if (neg && at + 1 < len) buf[at] = '-';
    if (neg) at++;
    while (n--) {
        if (at + 1 < len) buf[at] = tmp[n];
        at++;
    }
    return at;
}

size_t hak_vsnprintf(char *buf, size_t len, const char *fmt, va_list ap) {
    size_t at = 0;
    for (const char *f = fmt; *f; f++) {
        if (*f != '%') {
            if (at + 1 < len) buf[at] = *f;
            at++;
            continue;
        }
        f++;
        int longs = 0;
        bool size = false;
        while (*f == 'l') longs++, f++;
        if (*f == 'z') size = true, f++;
        switch (*f) {
        case 's': { const char *s = va_arg(ap, const char *); at = put_str(buf, len, at, s ? s : "(null)"); break; }
        case 'c': { char c[2] = {(char)va_arg(ap, int), 0}; at = put_str(buf, len, at, c); break; }
        case 'd': {
            long long v = longs ? va_arg(ap, long) : va_arg(ap, int);
            at = put_num(buf, len, at, v < 0 ? (unsigned long long)-v : (unsigned long long)v, 10, v < 0);
            break;
        }
        case 'u': case 'x': {
            unsigned long long v = size ? va_arg(ap, size_t)
                                 : longs ? va_arg(ap, unsigned long) : va_arg(ap, unsigned);
            at = put_num(buf, len, at, v, *f == 'x' ? 16 : 10, false);
            break;
        }
        case 'p': at = put_str(buf, len, at, "0x");
                  at = put_num(buf, len, at, (uintptr_t)va_arg(ap, void *), 16, false); break;
        case '%': at = put_str(buf, len, at, "%"); break;
        default: at = put_str(buf, len, at, "?"); break;
        }
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
