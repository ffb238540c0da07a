/* The heap profiler's control: switching sampling on and off (the fast
 * path's table), the sampling rate, the dumps (prof.dump, at exit) and
 * fork.  The tree's nodes are in ctl_tree.c; prof.path and
 * prof.dump_at_exit are kept there (hak_ctl_prof_conf). */
#include "ctl.h"
#include "prof.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

uint8_t hak_prof_sampling, hak_prof_engaged;
uint64_t hak_prof_epoch;
uint64_t hak_prof_rate = HAK_PROF_RATE_DEFAULT;
static uint64_t dumps; /* "%n" of prof.path */

/* Called with the ctl lock held, as are the others here. */
int hak_prof_set_active(bool on) {
    if (on == hak_prof_sampling) return 0;
    if (on && !hak_prof_engaged) {
        if (!hak_prof_unwind_init()) return ENOTSUP;
        if (!hak_prof_table_init()) return ENOMEM;
        __atomic_store_n(&hak_prof_engaged, 1, __ATOMIC_RELEASE);
    }
    if (on) {
        __atomic_store_n(&hak_prof_sampling, 1, __ATOMIC_RELAXED);
        hak_tiny_table_point(true);
    } else {
        hak_tiny_table_point(false);
        __atomic_store_n(&hak_prof_sampling, 0, __ATOMIC_RELAXED);
    }
    __atomic_fetch_add(&hak_prof_epoch, 1, __ATOMIC_RELEASE);
    return 0;
}

int hak_prof_set_rate(uint64_t bytes) {
    hak_store(&hak_prof_rate, bytes);
    __atomic_fetch_add(&hak_prof_epoch, 1, __ATOMIC_RELEASE); /* threads draw anew */
    return 0;
}

/* A pattern is good if its escapes are %p, %n and %%, and the file it names
 * can be created: its directory exists and is writable, and it is not a
 * directory itself. */
bool hak_prof_path_ok(const char *pattern) {
    char file[HAK_CTL_STR_MAX + 64];
    uint64_t n = 0;
    if (!pattern[0]) return false;
    for (const char *p = pattern; *p; p++)
        if (*p == '%' && (++p, *p != 'p' && *p != 'n' && *p != '%')) return false;
    if (!hak_path_expand(file, sizeof file, pattern, &n)) return false;
    size_t len = strlen(file);
    if (file[len - 1] == '/') return false;
    struct stat st;
    if (stat(file, &st) == 0 && S_ISDIR(st.st_mode)) return false;
    char *slash = strrchr(file, '/');
    const char *dir = ".";
    if (slash == file) dir = "/";
    else if (slash) *slash = 0, dir = file;
    return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && access(dir, W_OK | X_OK) == 0;
}

/* Expands prof.path into file; the pattern is copied first (the string
 * stays valid for three more writes of the node only). */
static bool prof_file(char *file, size_t len) {
    char pattern[HAK_CTL_STR_MAX];
    const char *p = __atomic_load_n(&hak_ctl_prof_conf.path, __ATOMIC_ACQUIRE);
    hak_snprintf(pattern, sizeof pattern, "%s", p);
    uint64_t n = __atomic_fetch_add(&dumps, 1, __ATOMIC_RELAXED);
    return hak_path_expand(file, len, pattern, &n);
}

int hak_prof_dump(void) {
    char file[HAK_CTL_STR_MAX + 64];
    if (!prof_file(file, sizeof file)) return ENAMETOOLONG;
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return errno;
    int r = hak_prof_write(fd);
    if (close(fd) != 0 && !r) r = errno;
    return r;
}

static void at_exit_dump(void) {
    if (!hak_load(&hak_ctl_prof_conf.dump_at_exit)) return;
    int r = hak_prof_dump();
    if (r) hak_message("prof.dump_at_exit: cannot write the heap profile (prof.path '%s', errno %d)",
                       __atomic_load_n(&hak_ctl_prof_conf.path, __ATOMIC_ACQUIRE), r);
}

void hak_prof_init(void) { atexit(at_exit_dump); }

/* fork: after the ctl lock, before the allocator's (init.c).  No thread is
 * left inside an unwinder, nor holding the table. */
void hak_prof_fork_prepare(void) {
    hak_prof_unwind_fork_prepare();
    hak_prof_table_fork_prepare();
}

void hak_prof_fork_parent(void) {
    hak_prof_table_fork_parent();
    hak_prof_unwind_fork_done(false);
}

void hak_prof_fork_child(void) {
    hak_prof_table_fork_child();
    hak_prof_unwind_fork_done(true);
    hak_tls.prof_rng ^= (uint64_t)getpid() * 0x9e3779b97f4a7c15ull; /* not the parent's draws */
}
