/* The control tree: names, MIBs, the read/write/swap protocol and its
 * errors, every tunable's range, enumeration, and doc/ctl-names.md.
 * Linked statically so the internal table (ctl.h) is visible. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "ctl.h"
#include "ctl_doc.h"
#include "params.h"

#ifndef HAK_SRCDIR
#define HAK_SRCDIR "."
#endif

static size_t type_size(enum hakctl_type t) {
    switch (t) {
    case HAKCTL_BOOL: return sizeof(bool);
    case HAKCTL_U32: return 4;
    case HAKCTL_U64: return 8;
    case HAKCTL_SIZE: return sizeof(size_t);
    case HAKCTL_STRING: return sizeof(char *);
    default: return 0;
    }
}

/* Every expanded name, collected once per test process. */
struct name { char name[HAK_CTL_NAME_MAX + 1]; enum hakctl_type type; enum hakctl_access access; };
static struct name names[2048];
static unsigned nnames;
static int collect(const struct hakctl_info *i, void *arg) {
    ck_assert_uint_lt(nnames, 2048);
    strcpy(names[nnames].name, i->name);
    names[nnames].type = i->type;
    names[nnames].access = i->access;
    ck_assert_msg(i->description && i->description[0], "%s has no description", i->name);
    ck_assert_ptr_nonnull(i->range);
    nnames++;
    return 0;
}
static void collect_all(void) {
    nnames = 0;
    ck_assert_int_eq(hakctl_list(NULL, collect, NULL), 0);
}

static uint64_t read_u(const char *name) {
    unsigned char buf[8] = {0};
    size_t len = 8;
    int r = hakctl(name, buf, &len, NULL, 0);
    if (r == EINVAL) r = hakctl(name, buf, &len, NULL, 0); /* len now right */
    ck_assert_msg(r == 0, "read %s: %d", name, r);
    if (len == 1) return buf[0];
    if (len == 4) { uint32_t v; memcpy(&v, buf, 4); return v; }
    uint64_t v;
    memcpy(&v, buf, 8);
    return v;
}
static int write_u(const char *name, uint64_t v) {
    size_t len = 0;
    ck_assert_int_eq(hakctl(name, NULL, &len, NULL, 0), 0);
    unsigned char buf[8];
    if (len == 1) buf[0] = (unsigned char)v;
    else if (len == 4) { uint32_t x = (uint32_t)v; memcpy(buf, &x, 4); }
    else memcpy(buf, &v, 8);
    return hakctl(name, NULL, NULL, buf, len);
}

/* ---- the table ------------------------------------------------------------ */
START_TEST(test_names_unique_and_roundtrip) {
    /* actions run below: prof.dump writes its profile into /tmp, removed after */
    char path[64];
    snprintf(path, sizeof path, "/tmp/check_ctl.%d.heap", (int)getpid());
    const char *pp = path;
    ck_assert_int_eq(hakctl("prof.path", NULL, NULL, &pp, sizeof pp), 0);
    collect_all();
    ck_assert_uint_gt(nnames, HAK_STATS ? 800 : 100);
    /* every name's MIB, for the pairwise checks (plain compares: an assert
     * per pair would cost a message each in Check) */
    static size_t mibs[sizeof names / sizeof names[0]][HAK_CTL_DEPTH_MAX], miblens[sizeof names / sizeof names[0]];
    for (unsigned i = 0; i < nnames; i++) {
        size_t *mib = mibs[i], miblen = HAK_CTL_DEPTH_MAX;
        ck_assert_msg(hakctlnametomib(names[i].name, mib, &miblen) == 0, "%s", names[i].name);
        miblens[i] = miblen;
        for (unsigned j = 0; j < i; j++) {
            if (strcmp(names[i].name, names[j].name) == 0) ck_abort_msg("two nodes named %s", names[i].name);
            /* no two names share a MIB */
            if (miblens[j] == miblen && memcmp(mibs[j], mib, miblen * sizeof(size_t)) == 0)
                ck_abort_msg("%s and %s share a MIB", names[j].name, names[i].name);
        }
        /* the MIB leads back to the same node: same size, same value */
        size_t a = 0, b = 0; /* 0: an action runs on a size query of 0 */
        ck_assert_int_eq(hakctl(names[i].name, NULL, &a, NULL, 0), 0);
        ck_assert_int_eq(hakctlbymib(mib, miblen, NULL, &b, NULL, 0), 0);
        ck_assert_uint_eq(a, b);
        ck_assert_uint_eq(a, type_size(names[i].type));
        size_t mib2[HAK_CTL_DEPTH_MAX], miblen2 = HAK_CTL_DEPTH_MAX;
        char full[HAK_CTL_NAME_MAX + 8];
        memcpy(full, "hakmem.", 7);
        strcpy(full + 7, names[i].name);
        ck_assert_int_eq(hakctlnametomib(full, mib2, &miblen2), 0);
        ck_assert_uint_eq(miblen, miblen2);
        ck_assert_mem_eq(mib, mib2, miblen * sizeof(size_t));
    }
    ck_assert_int_eq(unlink(path), 0);
}
END_TEST

START_TEST(test_read_every_name) {
    collect_all();
    for (unsigned i = 0; i < nnames; i++) {
        const char *nm = names[i].name;
        size_t need = type_size(names[i].type);
        unsigned char buf[16];
        size_t len;
        if (names[i].access == HAKCTL_ACTION) {
            len = 8;
            ck_assert_int_eq(hakctl(nm, buf, &len, NULL, 0), EPERM);
            ck_assert_int_eq(hakctl(nm, NULL, NULL, buf, 8), EPERM);
            continue;
        }
        len = need;
        ck_assert_msg(hakctl(nm, buf, &len, NULL, 0) == 0, "%s", nm);
        ck_assert_uint_eq(len, need);
        size_t wrong[] = {0, need - 1, need + 1, 16};
        for (unsigned w = 0; w < 4; w++) {
            memset(buf, 0xAA, sizeof buf);
            len = wrong[w];
            ck_assert_msg(hakctl(nm, buf, &len, NULL, 0) == EINVAL, "%s size %zu", nm, wrong[w]);
            ck_assert_uint_eq(len, need);
            for (unsigned k = 0; k < sizeof buf; k++) ck_assert_uint_eq(buf[k], 0xAA);
        }
        ck_assert_int_eq(hakctl(nm, buf, NULL, NULL, 0), EFAULT);
        char text[300];
        ck_assert_int_eq(hak_ctl_read_text(nm, text, sizeof text), 0);
        if (names[i].access == HAKCTL_RO) {
            uint64_t v = 0;
            len = need;
            ck_assert_int_eq(hakctl(nm, NULL, &len, &v, need), EPERM);
            ck_assert_int_eq(hak_ctl_write_text(nm, "1", NULL, 0), EPERM);
        }
    }
}
END_TEST

START_TEST(test_geometry) {
    ck_assert_uint_eq(read_u("tiny.nclasses"), 20);
    ck_assert_uint_eq(read_u("tiny.max_size"), 1024);
    ck_assert_uint_eq(read_u("class.nclasses"), 48);
    ck_assert_uint_eq(read_u("small.max_size"), 131072);
    ck_assert_uint_eq(read_u("superslab.size"), 2u << 20);
    ck_assert_uint_eq(read_u("slab.page_size"), 4096);
    ck_assert_uint_eq(read_u("tiny.c0.size"), 16);
    ck_assert_uint_eq(read_u("tiny.c19.size"), 1024);
    ck_assert_uint_eq(read_u("class.c47.size"), 131072);
    ck_assert_uint_eq(read_u("config.stats"), HAK_STATS);
    ck_assert_uint_eq(read_u("config.debug"), HAK_DEBUG);
    const char *v = NULL;
    size_t len = sizeof v;
    ck_assert_int_eq(hakctl("version", &v, &len, NULL, 0), 0);
    ck_assert_str_eq(v, HAKMEM_VERSION);
}
END_TEST

/* ---- tunables ----------------------------------------------------------------- */
static const struct tunable {
    const char *name;
    uint64_t lo, hi;     /* valid range */
    bool has_above;      /* hi + 1 representable in the type */
} tunables[] = {
    {"tiny.refill_count", 1, 1024, true},
    {"tcache.capacity", 0, 4096, true},
    {"tcache.c0.capacity", 0, 4096, true},
    {"tcache.c47.capacity", 0, 4096, true},
    {"prefill.budget", 0, 16, true},
    {"warm_pool.capacity", 0, 256, true},
    {"purge.delay_ms", 0, 3600000, true},
    {"purge.decay_ms", 0, 3600000, true},
    {"purge.sparse_slabs", 0, 1, true},
    {"large.cache_max", 0, (uint64_t)1 << 40, true},
    {"limit.mapped", 0, (uint64_t)1 << 48, true},
    {"superslab.prefault", 0, 1, true},
    {"background_thread", 0, 1, true},
    {"debug.checks", 0, 1, true},
    {"stats.print_at_exit", 0, 1, true},
    {"stats.interval_ms", 0, 3600000, true},
    {"prof.active", 0, 1, true},
    {"prof.sample_bytes", 1, (uint64_t)1 << 40, true},
    {"prof.dump_at_exit", 0, 1, true},
    {"epoch", 0, UINT64_MAX, false},
};
static const char *const string_tunables[] = {"os.thp", "stats.print_opts", "stats.print_path", "prof.path"};

START_TEST(test_every_rw_name_is_tested) {
    collect_all();
    for (unsigned i = 0; i < nnames; i++) {
        if (names[i].access != HAKCTL_RW) continue;
        bool found = false;
        for (unsigned t = 0; t < sizeof tunables / sizeof tunables[0]; t++)
            found |= strcmp(tunables[t].name, names[i].name) == 0;
        for (unsigned t = 0; t < sizeof string_tunables / sizeof *string_tunables; t++)
            found |= strcmp(string_tunables[t], names[i].name) == 0;
        found |= strncmp(names[i].name, "tcache.c", 8) == 0;
        ck_assert_msg(found, "read-write name %s has no range test", names[i].name);
    }
}
END_TEST

START_TEST(test_tunable_ranges) {
    const struct tunable *t = &tunables[_i];
    if (strcmp(t->name, "epoch") == 0) return;
    uint64_t orig = read_u(t->name);
    uint64_t mid = t->lo + (t->hi - t->lo) / 2;
    uint64_t valid[] = {t->lo, t->hi, mid};
    for (unsigned k = 0; k < 3; k++) {
        ck_assert_msg(write_u(t->name, valid[k]) == 0, "%s = %llu", t->name, (unsigned long long)valid[k]);
        uint64_t got = read_u(t->name);
        if (strncmp(t->name, "tcache.c", 8) == 0) /* effective: capped by tcache.capacity, 0 = derived */
            ck_assert_uint_le(got, read_u("tcache.capacity"));
        else
            ck_assert_uint_eq(got, valid[k]);
    }
    ck_assert_int_eq(write_u(t->name, mid), 0);
    uint64_t before = read_u(t->name);
    uint64_t invalid[] = {t->hi + 1, t->hi + 1000, t->lo - 1};
    for (unsigned k = 0; k < 3; k++) {
        if (k < 2 && !t->has_above) continue;
        if (k == 2 && t->lo == 0) continue;
        ck_assert_msg(write_u(t->name, invalid[k]) == EINVAL, "%s = %llu accepted", t->name,
                      (unsigned long long)invalid[k]);
        ck_assert_uint_eq(read_u(t->name), before);
    }
    /* wrong newlen */
    uint64_t v = mid;
    size_t need = 0;
    ck_assert_int_eq(hakctl(t->name, NULL, &need, NULL, 0), 0);
    size_t len = 0;
    ck_assert_int_eq(hakctl(t->name, NULL, &len, &v, need + 1), EINVAL);
    ck_assert_uint_eq(len, need);
    ck_assert_int_eq(hakctl(t->name, NULL, NULL, &v, 0), EINVAL);
    ck_assert_int_eq(hakctl(t->name, NULL, NULL, NULL, 4), EINVAL);
    ck_assert_int_eq(write_u(t->name, orig), 0);
}
END_TEST

START_TEST(test_bool_values) {
    unsigned char two = 2;
    ck_assert_int_eq(hakctl("superslab.prefault", NULL, NULL, &two, 1), EINVAL);
    bool yes = true, old = true;
    size_t len = 1;
    ck_assert_int_eq(hakctl("superslab.prefault", &old, &len, &yes, 1), 0);
    ck_assert(!old);
    ck_assert_uint_eq(hak_load(&hak_params.prefault), 1);
}
END_TEST

START_TEST(test_class_capacity) {
    unsigned def = hak_classes[5].default_cap < 256 ? hak_classes[5].default_cap : 256;
    ck_assert_uint_eq(read_u("tcache.c5.capacity"), def);
    uint64_t e0 = hak_load(&hak_params.epoch);
    ck_assert_int_eq(write_u("tcache.c5.capacity", 10), 0);
    ck_assert_uint_gt(hak_load(&hak_params.epoch), e0);
    ck_assert_uint_eq(read_u("tcache.c5.capacity"), 10);
    ck_assert_uint_eq(hak_params.class_capacity[5], 10);
    ck_assert_uint_eq(read_u("tcache.c6.capacity"), hak_class_capacity(6));
    ck_assert_int_eq(write_u("tcache.capacity", 4), 0); /* the ceiling */
    ck_assert_uint_eq(read_u("tcache.c5.capacity"), 4);
    ck_assert_int_eq(write_u("tcache.capacity", 256), 0);
    ck_assert_int_eq(write_u("tcache.c5.capacity", 0), 0);
    ck_assert_uint_eq(read_u("tcache.c5.capacity"), def);
    ck_assert_int_eq(write_u("tcache.c5.capacity", 4097), EINVAL);
    ck_assert_uint_eq(hak_params.class_capacity[5], 0);
}
END_TEST

static const char *read_s(const char *name) {
    const char *s = NULL;
    size_t len = sizeof s;
    ck_assert_int_eq(hakctl(name, &s, &len, NULL, 0), 0);
    return s;
}

START_TEST(test_strings) {
    const char *v = "never", *old = NULL;
    size_t len = sizeof old;
    ck_assert_str_eq(read_s("os.thp"), "large");
    ck_assert_int_eq(hakctl("os.thp", &old, &len, &v, sizeof v), 0);
    ck_assert_str_eq(old, "large");
    ck_assert_str_eq(read_s("os.thp"), "never");
    ck_assert_uint_eq(hak_params.thp, HAK_THP_NEVER);
    const char *bad[] = {"sometimes", "", "Never", "never "};
    for (unsigned k = 0; k < 4; k++) {
        old = NULL;
        ck_assert_int_eq(hakctl("os.thp", &old, &len, &bad[k], sizeof bad[k]), EINVAL);
        ck_assert_ptr_null(old);
        ck_assert_str_eq(read_s("os.thp"), "never");
    }
    const char *null = NULL;
    ck_assert_int_eq(hakctl("os.thp", NULL, NULL, &null, sizeof null), EINVAL);
    ck_assert_int_eq(hakctl("stats.print_path", NULL, NULL, &null, sizeof null), EINVAL);

    /* print_* storage: a read's pointer survives the next write */
    const char *p1 = "/tmp/a", *p2 = "/tmp/b";
    ck_assert_int_eq(hakctl("stats.print_path", NULL, NULL, &p1, sizeof p1), 0);
    const char *got = read_s("stats.print_path");
    ck_assert_int_eq(hakctl("stats.print_path", NULL, NULL, &p2, sizeof p2), 0);
    ck_assert_str_eq(got, "/tmp/a");
    ck_assert_str_eq(read_s("stats.print_path"), "/tmp/b");
    ck_assert_str_eq(hak_ctl_print_conf.path, "/tmp/b");
    char longp[400];
    memset(longp, 'x', sizeof longp - 1);
    longp[sizeof longp - 1] = 0;
    const char *lp = longp;
    ck_assert_int_eq(hakctl("stats.print_path", NULL, NULL, &lp, sizeof lp), EINVAL);
    ck_assert_str_eq(read_s("stats.print_path"), "/tmp/b");
    const char *o1 = "Jc", *o2 = "Jx";
    ck_assert_int_eq(hakctl("stats.print_opts", NULL, NULL, &o1, sizeof o1), 0);
    ck_assert_int_eq(hakctl("stats.print_opts", NULL, NULL, &o2, sizeof o2), EINVAL);
    ck_assert_str_eq(read_s("stats.print_opts"), "Jc");
}
END_TEST

/* prof.*: bad values and paths are refused and change nothing. */
START_TEST(test_prof_nodes) {
    ck_assert_str_eq(read_s("prof.path"), "hakmem.%p.heap");
    const char *bad[] = {"", "/no/such/dir/x.heap", "/tmp", "/tmp/", "x.%q.heap", "x.heap%", "/etc/passwd/x"};
    for (unsigned k = 0; k < sizeof bad / sizeof *bad; k++) {
        ck_assert_msg(hakctl("prof.path", NULL, NULL, &bad[k], sizeof bad[k]) == EINVAL, "%s", bad[k]);
        ck_assert_str_eq(read_s("prof.path"), "hakmem.%p.heap");
        char err[96];
        ck_assert_int_eq(hak_ctl_write_text("prof.path", bad[k], err, sizeof err), EINVAL);
        ck_assert_str_eq(read_s("prof.path"), "hakmem.%p.heap");
    }
    const char *good = "/tmp/hk.%p.%n.heap";
    ck_assert_int_eq(hakctl("prof.path", NULL, NULL, &good, sizeof good), 0);
    ck_assert_str_eq(read_s("prof.path"), good);
    uint64_t before = read_u("prof.sample_bytes");
    ck_assert_int_eq(hak_ctl_write_text("prof.sample_bytes", "0", NULL, 0), EINVAL);
    ck_assert_int_eq(hak_ctl_write_text("prof.sample_bytes", "2T", NULL, 0), EINVAL);
    ck_assert_uint_eq(read_u("prof.sample_bytes"), before);
    ck_assert_int_eq(hak_ctl_write_text("prof.sample_bytes", "64K", NULL, 0), 0);
    ck_assert_uint_eq(read_u("prof.sample_bytes"), 65536);
    unsigned char two = 2;
    ck_assert_int_eq(hakctl("prof.active", NULL, NULL, &two, 1), EINVAL);
    ck_assert_uint_eq(read_u("prof.active"), 0);
    const char *u = read_s("prof.unwinder");
    ck_assert_msg(!strcmp(u, "libunwind") || !strcmp(u, "libgcc") || !strcmp(u, "none"), "%s", u);
    uint64_t v = 1;
    size_t len = sizeof v;
    ck_assert_int_eq(hakctl("prof.samples", NULL, &len, &v, sizeof v), EPERM);
    ck_assert_int_eq(hakctl("prof.dump", &v, &len, NULL, 0), EPERM);
    ck_assert_int_eq(write_u("prof.sample_bytes", 524288), 0);
    const char *def = "hakmem.%p.heap";
    ck_assert_int_eq(hakctl("prof.path", NULL, NULL, &def, sizeof def), 0);
}
END_TEST

START_TEST(test_swap) {
    uint32_t nv = 64, ov = 0;
    size_t len = 4;
    ck_assert_int_eq(hakctl("tiny.refill_count", &ov, &len, &nv, 4), 0);
    ck_assert_uint_eq(ov, 32);
    ck_assert_uint_eq(read_u("tiny.refill_count"), 64);
    nv = 5000, ov = 7;
    ck_assert_int_eq(hakctl("tiny.refill_count", &ov, &len, &nv, 4), EINVAL);
    ck_assert_uint_eq(ov, 7); /* nothing changed, old value not written */
    ck_assert_uint_eq(read_u("tiny.refill_count"), 64);
    /* size mismatch on the old side stops the write too */
    nv = 100, len = 8;
    ck_assert_int_eq(hakctl("tiny.refill_count", &ov, &len, &nv, 4), EINVAL);
    ck_assert_uint_eq(len, 4);
    ck_assert_uint_eq(read_u("tiny.refill_count"), 64);
    /* a read-only node refuses a swap before anything */
    len = 4;
    ck_assert_int_eq(hakctl("tiny.nclasses", &ov, &len, &nv, 4), EPERM);
}
END_TEST

/* ---- names and errors ----------------------------------------------------------- */
static const char *const bad_names[] = {
    "", ".", "..", "tiny..max_size", "tiny..x", "tiny.max_size.", ".tiny.max_size", "tiny.",
    "tiny.c999.size", "tiny.c20.size", "tiny.c-1.size", "tiny.c7x.size", "tiny.c07.size",
    "tiny.c00.size", "tiny.c+7.size", "tiny.c 7.size", "tiny.c.size", "tiny.c<N>.size",
    "tiny.C7.size", "tiny.c4294967303.size", "tiny.c99999999999999999999.size", "hakmem",
    "hakmem.", "hakmem..version", "hakmem.hakmem.version", "HAKMEM.version", "Version",
    "version.", "version.x", "stats.c7", "tiny", "thread.cache", "warm_pool.c48.hits",
    "tiny.c7.size\n", " version", "epoch ", "a.b.c.d.e.f.g.h", "stats.c7.allocs.x",
};

START_TEST(test_bad_names) {
    for (unsigned k = 0; k < sizeof bad_names / sizeof bad_names[0]; k++) {
        const char *nm = bad_names[k];
        uint64_t v = 0;
        size_t len = 8, mib[8], miblen = 8;
        ck_assert_msg(hakctl(nm, &v, &len, NULL, 0) == ENOENT, "'%s'", nm);
        ck_assert_msg(hakctl(nm, NULL, NULL, NULL, 0) == ENOENT, "'%s'", nm);
        ck_assert_msg(hakctlnametomib(nm, mib, &miblen) == ENOENT, "'%s'", nm);
        ck_assert_uint_eq(miblen, 8);
        ck_assert_int_eq(hak_ctl_write_text(nm, "1", NULL, 0), ENOENT);
        ck_assert_int_eq(hak_ctl_access(nm), -1);
    }
    /* long names: valid text padded past HAK_CTL_NAME_MAX */
    char big[5000];
    for (size_t n = 250; n < sizeof big; n = n < 300 ? n + 1 : n * 2) {
        memset(big, 'a', n);
        memcpy(big, "version", 7);
        big[n] = 0;
        size_t len = 8;
        uint64_t v;
        ck_assert_int_eq(hakctl(big, &v, &len, NULL, 0), ENOENT);
    }
    /* an existing name at the limit's edge: "hakmem." + ... can't reach 256, so
     * check a long valid-looking dotted name is merely unknown */
    memset(big, 0, sizeof big);
    for (int i = 0; i < 256; i += 2) memcpy(big + i, "a.", 2);
    big[255] = 'a';
    ck_assert_int_eq(hakctl(big, NULL, NULL, NULL, 0), ENOENT);
}
END_TEST

START_TEST(test_efault_eperm) {
    uint64_t v;
    ck_assert_int_eq(hakctl("epoch", &v, NULL, NULL, 0), EFAULT);
    ck_assert_int_eq(hakctl(NULL, NULL, NULL, NULL, 0), EFAULT);
    size_t mib[4], miblen = 4;
    ck_assert_int_eq(hakctlnametomib("epoch", NULL, &miblen), EFAULT);
    ck_assert_int_eq(hakctlnametomib("epoch", mib, NULL), EFAULT);
    ck_assert_int_eq(hakctlbymib(NULL, 2, NULL, NULL, NULL, 0), EFAULT);
    ck_assert_int_eq(hakctlnametomib("epoch", mib, &miblen), 0);
    ck_assert_int_eq(hakctlbymib(mib, miblen, &v, NULL, NULL, 0), EFAULT);
    /* read-only written, write-only (actions) read */
    uint32_t x = 3;
    ck_assert_int_eq(hakctl("tiny.nclasses", NULL, NULL, &x, 4), EPERM);
    ck_assert_int_eq(hakctl("class.c3.size", NULL, NULL, &x, 8), EPERM);
    size_t len = 8;
    ck_assert_int_eq(hakctl("purge", &v, &len, NULL, 0), EPERM);
    ck_assert_int_eq(hakctl("purge", NULL, NULL, &v, 8), EPERM);
    len = 8;
    ck_assert_int_eq(hakctl("purge", NULL, &len, NULL, 0), EPERM);
    ck_assert_int_eq(hakctl("purge", NULL, NULL, NULL, 1), EPERM);
    len = 0;
    ck_assert_int_eq(hakctl("purge", NULL, &len, NULL, 0), 0);
    ck_assert_int_eq(hakctl("thread.cache.flush", NULL, NULL, NULL, 0), 0);
#if HAK_STATS
    ck_assert_int_eq(hakctl("stats.reset", NULL, NULL, NULL, 0), 0);
#endif
    char text[8];
    ck_assert_int_eq(hak_ctl_read_text("purge", text, sizeof text), EPERM);
    ck_assert_int_eq(hak_ctl_write_text("purge", "1", NULL, 0), EPERM);
    ck_assert_int_eq(hak_ctl_access("purge"), HAKCTL_ACTION);
}
END_TEST

START_TEST(test_mib) {
    size_t mib[8], miblen = 2;
    ck_assert_int_eq(hakctlnametomib("tiny.c3.size", mib, &miblen), EINVAL);
    ck_assert_uint_eq(miblen, 3);
    ck_assert_int_eq(hakctlnametomib("tiny.c3.size", mib, &miblen), 0);
    ck_assert_uint_eq(mib[1], 3);
    for (size_t c = 0; c < 20; c++) {
        mib[1] = c;
        size_t sz, len = sizeof sz;
        ck_assert_int_eq(hakctlbymib(mib, 3, &sz, &len, NULL, 0), 0);
        ck_assert_uint_eq(sz, hak_classes[c].size);
    }
    mib[1] = 20;
    size_t sz, len = sizeof sz;
    ck_assert_int_eq(hakctlbymib(mib, 3, &sz, &len, NULL, 0), ENOENT);
    mib[1] = 3;
    ck_assert_int_eq(hakctlbymib(mib, 2, &sz, &len, NULL, 0), ENOENT);
    ck_assert_int_eq(hakctlbymib(mib, 4, &sz, &len, NULL, 0), ENOENT);
    ck_assert_int_eq(hakctlbymib(mib, 0, &sz, &len, NULL, 0), ENOENT);
    mib[0] = 999;
    ck_assert_int_eq(hakctlbymib(mib, 3, &sz, &len, NULL, 0), ENOENT);

    /* write through a MIB, patched */
    miblen = 8;
    ck_assert_int_eq(hakctlnametomib("hakmem.tcache.c0.capacity", mib, &miblen), 0);
    ck_assert_uint_eq(miblen, 3);
    mib[1] = 9;
    uint32_t cap = 3;
    ck_assert_int_eq(hakctlbymib(mib, 3, NULL, NULL, &cap, 4), 0);
    ck_assert_uint_eq(hak_params.class_capacity[9], 3);
    ck_assert_uint_eq(read_u("tcache.c9.capacity"), 3);
#if HAK_STATS
    /* the example: translate once, loop by patching the index */
    miblen = 8;
    ck_assert_int_eq(hakctlnametomib("warm_pool.c0.hits", mib, &miblen), 0);
    ck_assert_uint_eq(miblen, 3);
    ck_assert_uint_eq(mib[1], 0);
    uint64_t e = 1;
    ck_assert_int_eq(hakctl("epoch", NULL, NULL, &e, sizeof e), 0);
    for (size_t c = 0; c < HAK_NCLASSES; c++) {
        char nm[64];
        uint64_t a, b;
        len = 8;
        mib[1] = c;
        ck_assert_int_eq(hakctlbymib(mib, 3, &a, &len, NULL, 0), 0);
        snprintf(nm, sizeof nm, "warm_pool.c%zu.hits", c);
        ck_assert_int_eq(hakctl(nm, &b, &len, NULL, 0), 0);
        ck_assert_uint_eq(a, b);
    }
    mib[1] = HAK_NCLASSES;
    ck_assert_int_eq(hakctlbymib(mib, 3, &sz, &len, NULL, 0), ENOENT);
    /* under stats both c<N> and named children live: slots do not collide */
    miblen = 8;
    ck_assert_int_eq(hakctlnametomib("stats.c0.allocs", mib, &miblen), 0);
    size_t mib2[8], miblen2 = 8;
    ck_assert_int_eq(hakctlnametomib("stats.allocated", mib2, &miblen2), 0);
    ck_assert_uint_eq(mib2[0], mib[0]);
    ck_assert_uint_ge(mib2[1], HAK_NCLASSES);
#endif
}
END_TEST

#if HAK_STATS
START_TEST(test_epoch_snapshot) {
    uint64_t e0 = read_u("epoch"), e = 0;
    uint64_t a1 = read_u("stats.c3.allocs");
    void *p[64];
    for (int i = 0; i < 64; i++) p[i] = hak_malloc(48);
    ck_assert_uint_eq(read_u("stats.c3.allocs"), a1); /* same snapshot */
    ck_assert_int_eq(hakctl("epoch", NULL, NULL, &e, sizeof e), 0);
    ck_assert_uint_eq(read_u("epoch"), e0 + 1);
    uint64_t old = 0;
    size_t len = 8;
    ck_assert_int_eq(hakctl("epoch", &old, &len, &e, sizeof e), 0);
    ck_assert_uint_eq(old, e0 + 1);
    ck_assert_uint_eq(read_u("epoch"), e0 + 2);
    for (int i = 0; i < 64; i++) hak_free(p[i]);
}
END_TEST
#endif

/* ---- enumeration ------------------------------------------------------------------ */
struct seen { char first[64], last[64]; unsigned n; int stop_at; };
static int count_cb(const struct hakctl_info *i, void *arg) {
    struct seen *s = arg;
    if (s->n == 0) snprintf(s->first, sizeof s->first, "%s", i->name);
    snprintf(s->last, sizeof s->last, "%s", i->name);
    s->n++;
    return s->stop_at && (int)s->n == s->stop_at ? 42 : 0;
}

START_TEST(test_list) {
    struct seen s = {0};
    ck_assert_int_eq(hakctl_list("tiny.c1", count_cb, &s), 0);
    ck_assert_uint_eq(s.n, 1);
    ck_assert_str_eq(s.first, "tiny.c1.size");
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(hakctl_list("hakmem.tiny", count_cb, &s), 0);
    ck_assert_uint_eq(s.n, 23);
    ck_assert_str_eq(s.first, "tiny.nclasses");
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(hakctl_list("tiny.", count_cb, &s), 0);
    ck_assert_uint_eq(s.n, 23);
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(hakctl_list("purge", count_cb, &s), 0);
    ck_assert_uint_eq(s.n, 4); /* purge.delay_ms, purge.decay_ms, purge.sparse_slabs, purge */
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(hakctl_list("tin", count_cb, &s), ENOENT);
    ck_assert_int_eq(hakctl_list("nothing.here", count_cb, &s), ENOENT);
    ck_assert_uint_eq(s.n, 0);
    unsigned all = 0;
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(hakctl_list("", count_cb, &s), 0);
    all = s.n;
    const char *roots[] = {"hakmem", "hakmem."};
    for (unsigned k = 0; k < 2; k++) {
        memset(&s, 0, sizeof s);
        ck_assert_int_eq(hakctl_list(roots[k], count_cb, &s), 0);
        ck_assert_uint_eq(s.n, all);
        ck_assert_str_eq(s.first, "version");
    }
    memset(&s, 0, sizeof s);
    s.stop_at = 3;
    ck_assert_int_eq(hakctl_list("", count_cb, &s), 42);
    ck_assert_uint_eq(s.n, 3);
    ck_assert_int_eq(hakctl_list("", NULL, NULL), EFAULT);
#if HAK_STATS
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(hakctl_list("stats.c7", count_cb, &s), 0);
    ck_assert_uint_eq(s.n, 12);
    ck_assert_str_eq(s.first, "stats.c7.allocs");
    ck_assert_str_eq(s.last, "stats.c7.live");
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(hakctl_list("warm_pool", count_cb, &s), 0);
    ck_assert_uint_eq(s.n, 1 + 3 * 48);
    ck_assert_str_eq(s.last, "warm_pool.c47.prefilled");
    /* index-major order: all of c0 before c1 */
    collect_all();
    int c0_last = -1, c1_first = -1;
    for (unsigned i = 0; i < nnames; i++) {
        if (strncmp(names[i].name, "stats.c0.", 9) == 0) c0_last = (int)i;
        if (c1_first < 0 && strncmp(names[i].name, "stats.c1.", 9) == 0) c1_first = (int)i;
    }
    ck_assert_int_eq(c1_first, c0_last + 1);
#else
    ck_assert_int_eq(hakctl_list("stats.c7", count_cb, &s), ENOENT);
    ck_assert_int_eq(hakctl("stats.c7.allocs", NULL, NULL, NULL, 0), ENOENT);
    ck_assert_int_eq(hakctl("warm_pool.c0.hits", NULL, NULL, NULL, 0), ENOENT);
#endif
}
END_TEST

START_TEST(test_type_access_names) {
    ck_assert_str_eq(hakctl_type_name(HAKCTL_BOOL), "bool");
    ck_assert_str_eq(hakctl_type_name(HAKCTL_U32), "u32");
    ck_assert_str_eq(hakctl_type_name(HAKCTL_U64), "u64");
    ck_assert_str_eq(hakctl_type_name(HAKCTL_SIZE), "size");
    ck_assert_str_eq(hakctl_type_name(HAKCTL_STRING), "string");
    ck_assert_str_eq(hakctl_type_name(HAKCTL_VOID), "void");
    ck_assert_str_eq(hakctl_type_name((enum hakctl_type)99), "unknown");
    ck_assert_str_eq(hakctl_access_name(HAKCTL_RO), "read-only");
    ck_assert_str_eq(hakctl_access_name(HAKCTL_RW), "read-write");
    ck_assert_str_eq(hakctl_access_name(HAKCTL_WO), "write-only");
    ck_assert_str_eq(hakctl_access_name(HAKCTL_ACTION), "action");
    ck_assert_str_eq(hakctl_access_name((enum hakctl_access)-1), "unknown");
}
END_TEST

/* ---- text values ------------------------------------------------------------------ */
START_TEST(test_text) {
    char err[64], buf[64];
    ck_assert_int_eq(hak_ctl_write_text("large.cache_max", "64M", err, sizeof err), 0);
    ck_assert_uint_eq(hak_params.large_cache_max, 64u << 20);
    ck_assert_int_eq(hak_ctl_write_text("large.cache_max", "2k", err, sizeof err), 0);
    ck_assert_uint_eq(hak_params.large_cache_max, 2048);
    ck_assert_int_eq(hak_ctl_write_text("large.cache_max", "1G", err, sizeof err), 0);
    ck_assert_uint_eq(hak_params.large_cache_max, 1u << 30);
    const char *bad[] = {"1T", "abc", "", "-1", "+1", " 1", "1 ", "1KB", "0x10", "2048G",
                         "99999999999999999999999"};
    for (unsigned k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        ck_assert_msg(hak_ctl_write_text("large.cache_max", bad[k], err, sizeof err) == EINVAL, "%s", bad[k]);
        ck_assert_str_eq(err, "0..2^40");
    }
    ck_assert_uint_eq(hak_params.large_cache_max, 1u << 30);
    ck_assert_int_eq(hak_ctl_write_text("prefill.budget", "16K", err, sizeof err), EINVAL); /* no suffix: not a size */
    ck_assert_str_eq(err, "0..16");
    ck_assert_int_eq(hak_ctl_write_text("prefill.budget", "5", err, sizeof err), 0);
    ck_assert_int_eq(hak_ctl_read_text("prefill.budget", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "5");
    const char *yes[] = {"true", "yes", "1"}, *no[] = {"false", "no", "0"};
    for (unsigned k = 0; k < 3; k++) {
        ck_assert_int_eq(hak_ctl_write_text("background_thread", no[k], err, sizeof err), 0);
        ck_assert_uint_eq(hak_params.background_thread, 0);
        ck_assert_int_eq(hak_ctl_read_text("background_thread", buf, sizeof buf), 0);
        ck_assert_str_eq(buf, "false");
        ck_assert_int_eq(hak_ctl_write_text("background_thread", yes[k], err, sizeof err), 0);
        ck_assert_uint_eq(hak_params.background_thread, 1);
    }
    ck_assert_int_eq(hak_ctl_write_text("background_thread", "2", err, sizeof err), EINVAL);
    ck_assert_str_eq(err, "true/false");
    ck_assert_int_eq(hak_ctl_write_text("os.thp", "always", err, sizeof err), 0);
    ck_assert_int_eq(hak_ctl_read_text("os.thp", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "always");
    ck_assert_int_eq(hak_ctl_read_text("os.thp", buf, 6), EINVAL);
    ck_assert_int_eq(hak_ctl_read_text("os.thp", buf, 7), 0);
    ck_assert_int_eq(hak_ctl_write_text("tiny.nclasses", "20", err, sizeof err), EPERM);
    ck_assert_int_eq(hak_ctl_write_text("tiny.nclassez", "20", err, sizeof err), ENOENT);
    ck_assert_int_eq(hak_ctl_write_text("tcache.c3.capacity", "9", err, sizeof err), 0);
    ck_assert_uint_eq(hak_params.class_capacity[3], 9);
}
END_TEST

/* RW defaults in the table (and so in the doc) are those of params.c. */
static int default_cb(const hak_ctl_node_t *nd, void *arg) {
    char buf[64];
    if (nd->access != HAKCTL_RW || nd->limit || strcmp(nd->name, "epoch") == 0) return 0;
    if (strcmp(nd->def, "config.debug") == 0) {
        ck_assert_int_eq(hak_ctl_read_text(nd->name, buf, sizeof buf), 0);
        ck_assert_str_eq(buf, HAK_DEBUG ? "true" : "false");
        return 0;
    }
    ck_assert_int_eq(hak_ctl_read_text(nd->name, buf, sizeof buf), 0);
    size_t n = strlen(nd->def);
    uint64_t mul = 1;
    char num[64];
    if (n && nd->type == HAKCTL_SIZE && strchr("KMG", nd->def[n - 1])) {
        mul = nd->def[n - 1] == 'K' ? 1u << 10 : nd->def[n - 1] == 'M' ? 1u << 20 : 1u << 30;
        snprintf(num, sizeof num, "%llu", (unsigned long long)(strtoull(nd->def, NULL, 10) * mul));
    } else {
        snprintf(num, sizeof num, "%s", nd->def);
    }
    ck_assert_msg(strcmp(buf, num) == 0, "%s: default %s in the table, %s in fact", nd->name, num, buf);
    return 0;
}
START_TEST(test_defaults_match) { hak_ctl_walk_patterns(default_cb, NULL); }
END_TEST

/* ---- the documentation ---------------------------------------------------------- */
START_TEST(test_doc_fresh) {
#if HAK_STATS
    static char want[1 << 16], have[1 << 16];
    size_t n = ctl_doc_render(want, sizeof want);
    ck_assert_uint_lt(n, sizeof want);
    FILE *f = fopen(HAK_SRCDIR "/doc/ctl-names.md", "r");
    ck_assert_msg(f != NULL, "doc/ctl-names.md is missing: run make ctl-doc");
    size_t m = fread(have, 1, sizeof have - 1, f);
    fclose(f);
    have[m] = 0;
    ck_assert_msg(m == n && memcmp(want, have, n) == 0, "doc/ctl-names.md is stale: run make ctl-doc");
#endif
}
END_TEST

/* ---- concurrency ---------------------------------------------------------------- */
static volatile int stop_flag;
static void *writer(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    while (!__atomic_load_n(&stop_flag, __ATOMIC_RELAXED)) {
        seed = seed * 1103515245 + 12345;
        ck_assert_int_eq(write_u("tiny.refill_count", 1 + seed % 1024), 0);
        ck_assert_int_eq(write_u("tcache.c3.capacity", seed % 300), 0);
        ck_assert_int_eq(write_u("prefill.budget", seed % 17), 0);
        const char *thp = (seed & 1) ? "never" : "default";
        ck_assert_int_eq(hakctl("os.thp", NULL, NULL, &thp, sizeof thp), 0);
        const char *s = read_s("os.thp");
        ck_assert(strcmp(s, "never") == 0 || strcmp(s, "default") == 0);
        ck_assert_uint_le(read_u("tiny.refill_count"), 1024);
#if HAK_STATS
        uint64_t e = 0;
        ck_assert_int_eq(hakctl("epoch", NULL, NULL, &e, 8), 0);
        (void)read_u("stats.c3.allocs");
        (void)read_u("stats.resident");
        (void)read_u("thread.allocated");
#endif
    }
    return NULL;
}
static void *allocator(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    unsigned char *p[256] = {0};
    size_t sz[256] = {0};
    for (int it = 0; it < 100000; it++) {
        seed = seed * 1103515245 + 12345;
        unsigned k = (seed >> 8) & 255;
        if (p[k]) {
            for (size_t b = 0; b < sz[k]; b++) /* plain compare: each ck_assert is a syscall */
                if (p[k][b] != (unsigned char)(k + b)) ck_abort_msg("block %u corrupted", k);
            hak_free(p[k]);
        }
        sz[k] = 1 + (seed >> 16) % 600;
        p[k] = hak_malloc(sz[k]);
        if (!p[k]) ck_abort_msg("hak_malloc(%zu) failed", sz[k]);
        for (size_t b = 0; b < sz[k]; b++) p[k][b] = (unsigned char)(k + b);
    }
    for (unsigned k = 0; k < 256; k++) hak_free(p[k]);
    return NULL;
}
START_TEST(test_concurrent) {
    pthread_t w[3], a[4];
    stop_flag = 0;
    for (uintptr_t i = 0; i < 4; i++) pthread_create(&a[i], NULL, allocator, (void *)(i + 1));
    for (uintptr_t i = 0; i < 3; i++) pthread_create(&w[i], NULL, writer, (void *)(i + 100));
    for (int i = 0; i < 4; i++) pthread_join(a[i], NULL);
    __atomic_store_n(&stop_flag, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 3; i++) pthread_join(w[i], NULL);
}
END_TEST

/* fork while other threads are inside hakctl: the child can use the tree. */
static void *ctl_spinner(void *arg) {
    while (!__atomic_load_n(&stop_flag, __ATOMIC_RELAXED)) {
        uint64_t e = 0;
        uint32_t b = 3;
        /* no ck_assert here: Check's lock would be inherited held by a child */
        hakctl("epoch", NULL, NULL, &e, 8);
        hakctl("prefill.budget", NULL, NULL, &b, 4);
    }
    return NULL;
}
START_TEST(test_fork_during_ctl) {
    pthread_t t[2];
    stop_flag = 0;
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, ctl_spinner, NULL);
    for (int i = 0; i < 200; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            uint64_t e = 0, v = 0;
            size_t len = 8;
            int ok = hakctl("epoch", NULL, NULL, &e, 8) == 0 && hakctl("purge.delay_ms", &v, &len, NULL, 0) == 0;
            _exit(ok ? 0 : 1);
        }
        ck_assert_int_gt(pid, 0);
        int st;
        ck_assert_int_eq(waitpid(pid, &st, 0), pid);
        ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    __atomic_store_n(&stop_flag, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
}
END_TEST

/* Behaviour of the allocator under the tunables (check_ctl_core.c). */
TCase *ctl_core_tcase(void);

static Suite *ctl_suite(void) {
    Suite *s = suite_create("ctl");
    TCase *tc = tcase_create("tree");
    tcase_add_test(tc, test_names_unique_and_roundtrip);
    tcase_add_test(tc, test_read_every_name);
    tcase_add_test(tc, test_geometry);
    tcase_add_test(tc, test_every_rw_name_is_tested);
    tcase_add_loop_test(tc, test_tunable_ranges, 0, (int)(sizeof tunables / sizeof tunables[0]));
    tcase_add_test(tc, test_bool_values);
    tcase_add_test(tc, test_class_capacity);
    tcase_add_test(tc, test_strings);
    tcase_add_test(tc, test_prof_nodes);
    tcase_add_test(tc, test_swap);
    tcase_add_test(tc, test_bad_names);
    tcase_add_test(tc, test_efault_eperm);
    tcase_add_test(tc, test_mib);
#if HAK_STATS
    tcase_add_test(tc, test_epoch_snapshot);
#endif
    tcase_add_test(tc, test_list);
    tcase_add_test(tc, test_type_access_names);
    tcase_add_test(tc, test_text);
    tcase_add_test(tc, test_defaults_match);
    tcase_add_test(tc, test_doc_fresh);
    suite_add_tcase(s, tc);
    TCase *tcc = tcase_create("concurrency");
    tcase_set_timeout(tcc, 120);
    tcase_add_test(tcc, test_concurrent);
    tcase_add_test(tcc, test_fork_during_ctl);
    suite_add_tcase(s, tcc);
    suite_add_tcase(s, ctl_core_tcase());
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(ctl_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
