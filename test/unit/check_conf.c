/* HAKMEM_CONF: each case runs this program again with the variable set, so
 * the library constructor parses it, and compares the child's stderr with
 * the golden text exactly and its view of the tree (printed on stdout). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "ctl.h"
#include "params.h"

/* Values the child reports: enough to see which entries were applied. */
static const char *const watched[] = {
    "prefill.budget", "tiny.refill_count", "large.cache_max", "os.thp",
    "background_thread", "tcache.c3.capacity", "purge.delay_ms", "stats.print_path",
};
#define NWATCHED (sizeof watched / sizeof watched[0])

static int child_main(void) {
    char buf[300];
    for (unsigned i = 0; i < NWATCHED; i++) {
        int r = hak_ctl_read_text(watched[i], buf, sizeof buf);
        printf("%s=%s\n", watched[i], r ? "?" : buf);
    }
    return 0;
}

static char self[4096];

/* Runs the child with HAKMEM_CONF=conf (unset if NULL); collects its
 * stdout and stderr (small enough for the pipes' buffers). */
static void run_child(const char *conf, char *out, size_t outlen, char *err, size_t errlen) {
    int po[2], pe[2];
    ck_assert_int_eq(pipe(po), 0);
    ck_assert_int_eq(pipe(pe), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]), close(pe[0]), close(po[1]), close(pe[1]);
        if (conf) setenv("HAKMEM_CONF", conf, 1); else unsetenv("HAKMEM_CONF");
        execl(self, self, "--conf-child", (char *)NULL);
        _exit(127);
    }
    close(po[1]), close(pe[1]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ssize_t n = read(po[0], out, outlen - 1);
    out[n > 0 ? n : 0] = 0;
    n = read(pe[0], err, errlen - 1);
    err[n > 0 ? n : 0] = 0;
    close(po[0]), close(pe[0]);
}

/* The child's value of one watched name. */
static const char *value_of(const char *out, const char *name, char *buf) {
    char key[80];
    snprintf(key, sizeof key, "\n%s=", name);
    char *text = malloc(strlen(out) + 2);
    text[0] = '\n';
    strcpy(text + 1, out);
    char *p = strstr(text, key);
    ck_assert_msg(p != NULL, "%s not reported", name);
    p += strlen(key);
    size_t n = strcspn(p, "\n");
    memcpy(buf, p, n);
    buf[n] = 0;
    free(text);
    return buf;
}

static const struct conf_case {
    const char *conf;
    const char *stderr_golden;
    const char *expect[NWATCHED]; /* NULL: the default */
} cases[] = {
    {NULL, "", {0}},
    {"", "", {0}},
    {"prefill.budget:0,tiny.refill_count:64", "", {"0", "64"}},
    {"hakmem.prefill.budget:7", "", {"7"}},
    {"prefil.budget:3", "hakmem: HAKMEM_CONF: unknown name 'prefil.budget'\n", {0}},
    {"tiny.nclasses:3", "hakmem: HAKMEM_CONF: 'tiny.nclasses' is read-only\n", {0}},
    {"prefill.budget:abc",
     "hakmem: HAKMEM_CONF: bad value 'abc' for 'prefill.budget' (expected 0..16)\n", {0}},
    {"prefill.budget:17",
     "hakmem: HAKMEM_CONF: bad value '17' for 'prefill.budget' (expected 0..16)\n", {0}},
    {"foo", "hakmem: HAKMEM_CONF: malformed entry 'foo' (expected name:value)\n", {0}},
    {":5", "hakmem: HAKMEM_CONF: malformed entry ':5' (expected name:value)\n", {0}},
    {"purge:1", "hakmem: HAKMEM_CONF: 'purge' is an action, not a setting\n", {0}},
    {"tcache.c07.capacity:3", "hakmem: HAKMEM_CONF: unknown name 'tcache.c07.capacity'\n", {0}},
    {"a:1,,b:2",
     "hakmem: HAKMEM_CONF: unknown name 'a'\n"
     "hakmem: HAKMEM_CONF: unknown name 'b'\n", {0}},
    {",,,", "", {0}},
    {" prefill.budget : 3 , tiny.refill_count:100 ", "", {"3", "100"}},
    {"tiny.refill_count:100,,foo,prefil.budget:1,prefill.budget:5,large.cache_max:1G,"
     "os.thp:never,background_thread:no,tcache.c3.capacity:7,purge.delay_ms:99999999,"
     "os.thp:sometimes,stats.print_path:/tmp/x:y",
     "hakmem: HAKMEM_CONF: malformed entry 'foo' (expected name:value)\n"
     "hakmem: HAKMEM_CONF: unknown name 'prefil.budget'\n"
     "hakmem: HAKMEM_CONF: bad value '99999999' for 'purge.delay_ms' (expected 0..3600000)\n"
     "hakmem: HAKMEM_CONF: bad value 'sometimes' for 'os.thp' (expected default/never/always/large)\n",
     {"5", "100", "1073741824", "never", "false", "7", NULL, "/tmp/x:y"}},
    {"large.cache_max:4K,prefill.budget:", 
     "hakmem: HAKMEM_CONF: bad value '' for 'prefill.budget' (expected 0..16)\n", {NULL, NULL, "4096"}},
    {"tiny.refill_count:0", "hakmem: HAKMEM_CONF: bad value '0' for 'tiny.refill_count' (expected 1..1024)\n", {0}},
    {"background_thread:maybe",
     "hakmem: HAKMEM_CONF: bad value 'maybe' for 'background_thread' (expected true/false)\n", {0}},
    {"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx:1",
     "hakmem: HAKMEM_CONF: unknown name "
     "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'\n", {0}},
    {"stats.print_path:/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx,"
     "prefill.budget:1",
     "hakmem: HAKMEM_CONF: bad value '/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' for "
     "'stats.print_path' (expected up to 255 bytes)\n", {"1"}},
    {"os.thp:al\x01ways", "hakmem: HAKMEM_CONF: bad value 'al?ways' for 'os.thp' (expected default/never/always/large)\n", {0}},
};

static const char *default_text(unsigned i, char *buf) {
    ck_assert_int_eq(hak_ctl_read_text(watched[i], buf, 300), 0); /* this process: no HAKMEM_CONF */
    return buf;
}

START_TEST(test_conf_golden) {
    const struct conf_case *c = &cases[_i];
    static char out[8192], err[8192];
    char got[300], want[300];
    run_child(c->conf, out, sizeof out, err, sizeof err);
    ck_assert_msg(strcmp(err, c->stderr_golden) == 0, "HAKMEM_CONF=\"%s\"\nstderr:\n%s\nexpected:\n%s",
                  c->conf ? c->conf : "(unset)", err, c->stderr_golden);
    for (unsigned i = 0; i < NWATCHED; i++) {
        const char *exp = c->expect[i] ? c->expect[i] : default_text(i, want);
        ck_assert_msg(strcmp(value_of(out, watched[i], got), exp) == 0, "HAKMEM_CONF=\"%s\": %s=%s, expected %s",
                      c->conf, watched[i], got, exp);
    }
}
END_TEST

/* Values and names longer than any buffer: cut, still invalid, shown cut. */
START_TEST(test_conf_long_tokens) {
    static char conf[12000], out[8192], err[8192], want[512], got[300];
    char zeros[65];
    memset(zeros, '0', 64);
    zeros[64] = 0;
    strcpy(conf, "prefill.budget:");
    memset(conf + strlen(conf), '0', 3000); /* 000...0001: a 1 past the buffer */
    strcat(conf, "1,");
    size_t at = strlen(conf);
    memset(conf + at, 'n', 5000);
    strcpy(conf + at + 5000, ":1,tiny.refill_count:50");
    run_child(conf, out, sizeof out, err, sizeof err);
    snprintf(want, sizeof want,
             "hakmem: HAKMEM_CONF: bad value '%s...' for 'prefill.budget' (expected 0..16)\n"
             "hakmem: HAKMEM_CONF: unknown name '%.64s...'\n", zeros, conf + at);
    ck_assert_str_eq(err, want);
    ck_assert_str_eq(value_of(out, "tiny.refill_count", got), "50");
    ck_assert_str_eq(value_of(out, "prefill.budget", got), default_text(0, want));
}
END_TEST

/* In process: hak_conf_apply() on a string. */
START_TEST(test_conf_apply_direct) {
    hak_conf_apply("prefill.budget:9,warm_pool.capacity:200,limit.mapped:2G");
    ck_assert_uint_eq(hak_params.prefill_budget, 9);
    ck_assert_uint_eq(hak_params.warm_capacity, 200);
    ck_assert_uint_eq(hak_params.mapped_limit, 2ull << 30);
    hak_conf_apply(NULL);
    hak_conf_apply("limit.mapped:0");
    ck_assert_uint_eq(hak_params.mapped_limit, 0);
}
END_TEST

static Suite *conf_suite(void) {
    Suite *s = suite_create("conf");
    TCase *tc = tcase_create("conf");
    tcase_add_loop_test(tc, test_conf_golden, 0, (int)(sizeof cases / sizeof cases[0]));
    tcase_add_test(tc, test_conf_long_tokens);
    tcase_add_test(tc, test_conf_apply_direct);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--conf-child") == 0) return child_main();
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return 99;
    self[n] = 0;
    if (getenv("HAKMEM_CONF")) {
        fprintf(stderr, "check_conf: unset HAKMEM_CONF to run the tests\n");
        return 77; /* skip */
    }
    SRunner *sr = srunner_create(conf_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
