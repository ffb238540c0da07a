/* glibc's introspection answered by hakmem: mallinfo2 and mallinfo track
 * what the program holds, malloc_info writes XML that an XML parser reads
 * (python3's xml.etree), malloc_stats prints its summary, mallopt maps
 * M_TRIM_THRESHOLD onto large.cache_max, malloc_trim purges.  The same in
 * every build, --disable-stats included.  Links the shared library, whose
 * names come before glibc's. */
#include "config.h"
#include <check.h>
#include <hakmem.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef HAK_PYTHON3
#define HAK_PYTHON3 "python3"
#endif

enum { NSMALL = 4000, SMALL = 1000, NLARGE = 8, LARGE = 1 << 20 };

/* The documented tolerance (hakmem(3)): uordblks counts whole blocks, at
 * most a quarter more than asked above 64 bytes, plus 16 bytes of canary
 * room a block under debug.checks; hblkhd counts whole mappings, a page
 * more than asked, or up to four times it when a cached mapping is reused.
 * SLACK covers what Check allocates meanwhile. */
#define SLACK (64 * 1024)

/* what the program holds, written to and seen: the compiler may drop a
 * malloc that nothing uses */
static void *volatile seen;
static void *used(void *p, size_t n) {
    if (p) memset(p, 0x5a, n);
    return seen = p;
}

START_TEST(mallinfo2_tracks_live_bytes) {
    static void *small[NSMALL], *large[NLARGE];
    ck_assert_int_eq(hakctl("purge", NULL, NULL, NULL, 0), 0); /* no cached mappings */
    struct mallinfo2 m0 = mallinfo2();
    for (int i = 0; i < NSMALL; i++) small[i] = used(malloc(SMALL), SMALL);
    for (int i = 0; i < NLARGE; i++) large[i] = used(malloc(LARGE), LARGE);
    struct mallinfo2 m1 = mallinfo2();
    size_t small_bytes = (size_t)NSMALL * SMALL, large_bytes = (size_t)NLARGE * LARGE;
    ck_assert_uint_ge(m1.uordblks - m0.uordblks, small_bytes);
    ck_assert_uint_le(m1.uordblks - m0.uordblks, small_bytes + small_bytes / 4 + NSMALL * 16 + SLACK);
    ck_assert_uint_ge(m1.hblkhd - m0.hblkhd, large_bytes);
    ck_assert_uint_le(m1.hblkhd - m0.hblkhd, large_bytes + NLARGE * 8192);
    ck_assert_uint_eq(m1.hblks - m0.hblks, NLARGE);
    /* glibc's identities */
    ck_assert_uint_eq(m1.fordblks, m1.arena - m1.uordblks);
    ck_assert_uint_ge(m1.arena, m1.uordblks);
    ck_assert_uint_eq(m1.usmblks, 0);
    ck_assert_uint_le(m1.fsmblks, m1.fordblks);
    for (int i = 0; i < NSMALL; i++) free(small[i]);
    for (int i = 0; i < NLARGE; i++) free(large[i]);
    struct mallinfo2 m2 = mallinfo2();
    ck_assert_uint_le(m2.uordblks, m0.uordblks + SLACK);
    ck_assert_uint_le(m2.hblkhd, m0.hblkhd);
    ck_assert_uint_eq(m2.hblks, m0.hblks);
    ck_assert_uint_ge(m2.fordblks, m1.fordblks); /* what was freed is held, free */
    /* the old interface says the same, in ints */
    struct mallinfo2 a = mallinfo2();
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    struct mallinfo b = mallinfo();
#pragma GCC diagnostic pop
    ck_assert_uint_eq((size_t)b.uordblks, a.uordblks);
    ck_assert_uint_eq((size_t)b.hblkhd, a.hblkhd);
    ck_assert_uint_eq((size_t)b.hblks, a.hblks);
}
END_TEST

/* malloc_info's document, read by python3's XML parser: well formed, the
 * version hakmem-<HAKMEM_VERSION>, the per-class rows consistent, the
 * totals there. */
static const char *const xml_check =
    "import sys, xml.etree.ElementTree as E\n"
    "r = E.parse(sys.argv[1]).getroot()\n"
    "assert r.tag == 'malloc', r.tag\n"
    "assert r.get('version') == 'hakmem-' + sys.argv[2], r.get('version')\n"
    "rows = r.find('classes').findall('class')\n"
    "assert rows, 'no class rows'\n"
    "live = 0\n"
    "for c in rows:\n"
    "    v = {k: int(x) for k, x in c.attrib.items()}\n"
    "    assert v['live_bytes'] == v['live'] * v['size'], c.attrib\n"
    "    live += v['live_bytes']\n"
    "t = {e.get('type'): e for e in r.findall('total')}\n"
    "assert int(t['small'].get('size')) == live, (t['small'].attrib, live)\n"
    "assert int(t['mmap'].get('count')) >= 3, t['mmap'].attrib\n"
    "assert int(t['mmap'].get('size')) >= 3 * 300000, t['mmap'].attrib\n"
    "s = {e.get('type'): int(e.get('size')) for e in r.findall('system')}\n"
    "assert s['current'] >= live, s\n"
    "st = r.find('stats')\n"
    "assert int(st.get('allocated')) >= live, st.attrib\n"
    "assert int(r.find('aspace').get('size')) == s['current']\n";

START_TEST(malloc_info_writes_xml) {
    char dir[] = "/tmp/hakmem-info.XXXXXX", path[64], cmd[512];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/info.xml", dir);
    void *keep[3];
    for (int i = 0; i < 3; i++) keep[i] = used(malloc(300000), 300000);
    void *smalls = used(malloc(100), 100);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(malloc_info(0, f), 0);
    ck_assert_int_eq(fclose(f), 0);
    snprintf(cmd, sizeof cmd, "%s/check.py", dir);
    f = fopen(cmd, "w");
    fputs(xml_check, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s %s/check.py %s %s", HAK_PYTHON3, dir, path, HAKMEM_VERSION);
    int rc = system(cmd);
    ck_assert_msg(rc == 0, "malloc_info's XML failed the parser's checks (%s, exit %d)", path, rc);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
    for (int i = 0; i < 3; i++) free(keep[i]);
    free(smalls);
    /* as glibc: options must be 0 */
    errno = 0;
    ck_assert_int_eq(malloc_info(1, stdout), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(malloc_info(0, NULL), -1);
}
END_TEST

START_TEST(malloc_stats_prints_a_summary) {
    char tmpl[] = "/tmp/hakmem-stats.XXXXXX";
    int fd = mkstemp(tmpl);
    ck_assert_int_ge(fd, 0);
    unlink(tmpl);
    int saved = dup(2);
    dup2(fd, 2);
    void *p = used(malloc(500000), 500000);
    malloc_stats();
    free(p);
    dup2(saved, 2);
    close(saved);
    char out[2048] = "";
    ck_assert_int_gt(pread(fd, out, sizeof out - 1, 0), 0);
    close(fd);
    ck_assert_msg(strncmp(out, "hakmem " HAKMEM_VERSION "\n", strlen("hakmem " HAKMEM_VERSION "\n")) == 0,
                  "%s", out);
    unsigned long sys, inuse, regions;
    const char *s = strstr(out, "system bytes     =");
    ck_assert_msg(s && sscanf(s, "system bytes     = %lu", &sys) == 1, "%s", out);
    s = strstr(out, "in use bytes     =");
    ck_assert_msg(s && sscanf(s, "in use bytes     = %lu", &inuse) == 1, "%s", out);
    s = strstr(out, "mmap regions     =");
    ck_assert_msg(s && sscanf(s, "mmap regions     = %lu", &regions) == 1, "%s", out);
    ck_assert_uint_ge(inuse, 500000);
    ck_assert_uint_ge(sys, inuse);
    ck_assert_uint_ge(regions, 1);
}
END_TEST

static size_t cache_max(void) {
    size_t v = 0, len = sizeof v;
    ck_assert_int_eq(hakctl("large.cache_max", &v, &len, NULL, 0), 0);
    return v;
}

START_TEST(mallopt_maps_what_means_something) {
    ck_assert_int_eq(mallopt(M_TRIM_THRESHOLD, 12345678), 1);
    ck_assert_uint_eq(cache_max(), 12345678);
    ck_assert_int_eq(mallopt(M_TRIM_THRESHOLD, -1), 1); /* never trim: the most the tree allows */
    ck_assert_uint_eq(cache_max(), (size_t)1 << 40);
    ck_assert_int_eq(mallopt(M_TRIM_THRESHOLD, 0), 1);
    ck_assert_uint_eq(cache_max(), 0);
    /* the options with no meaning here, and unknown ones: 1, as glibc
     * answers for an option it does not support, and nothing changes */
    int others[] = {M_MXFAST, M_TOP_PAD, M_MMAP_THRESHOLD, M_MMAP_MAX, M_CHECK_ACTION, M_PERTURB,
                    M_ARENA_TEST, M_ARENA_MAX, 12345};
    for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
        ck_assert_int_eq(mallopt(others[i], 2), 1);
        ck_assert_uint_eq(cache_max(), 0);
    }
}
END_TEST

START_TEST(malloc_trim_purges) {
    void *p[4];
    for (int i = 0; i < 4; i++) p[i] = used(malloc(3 << 20), 3 << 20);
    for (int i = 0; i < 4; i++) free(p[i]);
    struct mallinfo2 before = mallinfo2();
    ck_assert_uint_ge(before.keepcost, 3 << 20); /* the cached mappings */
    ck_assert_int_eq(malloc_trim(0), 1);
    struct mallinfo2 after = mallinfo2();
    ck_assert_uint_le(after.arena + after.hblkhd, before.arena + before.hblkhd - (3 << 20));
    ck_assert_uint_lt(after.keepcost, before.keepcost);
}
END_TEST

Suite *glibc_suite(void) {
    Suite *s = suite_create("glibc");
    TCase *tc = tcase_create("introspection");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, mallinfo2_tracks_live_bytes);
    tcase_add_test(tc, malloc_info_writes_xml);
    tcase_add_test(tc, malloc_stats_prints_a_summary);
    tcase_add_test(tc, mallopt_maps_what_means_something);
    tcase_add_test(tc, malloc_trim_purges);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(glibc_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
