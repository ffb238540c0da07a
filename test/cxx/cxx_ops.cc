// cxx_ops: the replaceable C++ allocation functions under hakmem.  Built
// twice: cxx_ops_linked links libhakmem (run by make check as it is), and
// cxx_ops links only the C++ runtime (test/stress/preloaded runs it with
// libhakmem.so preloaded).  Checks that each of the twenty operators
// resolves to libhakmem, that every form allocates hakmem's blocks with the
// alignment asked (aligned new up to 64 KiB), the new-handler protocol,
// std::bad_alloc and the nothrow NULLs, and standard containers whose
// elements are created and destroyed across threads.
#include <dlfcn.h>
#include <malloc.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <condition_variable>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#ifdef CXX_OPS_LINKED
#include <hakmem.h>
#endif

static int failures;
static int checks;
#define CHECK(c)                                                                        \
    do {                                                                                \
        checks++;                                                                       \
        if (!(c)) {                                                                     \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c);  \
            failures++;                                                                 \
        }                                                                               \
    } while (0)

// hakmem's own API: linked, or found in the preloaded library.
typedef size_t (*usable_fn)(void *);
typedef int (*ctl_fn)(const char *, void *, size_t *, void *, size_t);
static usable_fn usable;
static ctl_fn ctl;

static bool find_hakmem() {
#ifdef CXX_OPS_LINKED
    usable = hak_malloc_usable_size;
    ctl = hakctl;
#else
    usable = reinterpret_cast<usable_fn>(dlsym(RTLD_DEFAULT, "hak_malloc_usable_size"));
    ctl = reinterpret_cast<ctl_fn>(dlsym(RTLD_DEFAULT, "hakctl"));
#endif
    return usable && ctl;
}

// ---- every operator is hakmem's ---------------------------------------------
static const char *const operator_names[] = {
    "_Znwm", "_Znam", "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t",
    "_ZnwmSt11align_val_t", "_ZnamSt11align_val_t",
    "_ZnwmSt11align_val_tRKSt9nothrow_t", "_ZnamSt11align_val_tRKSt9nothrow_t",
    "_ZdlPv", "_ZdaPv", "_ZdlPvm", "_ZdaPvm",
    "_ZdlPvRKSt9nothrow_t", "_ZdaPvRKSt9nothrow_t",
    "_ZdlPvSt11align_val_t", "_ZdaPvSt11align_val_t",
    "_ZdlPvmSt11align_val_t", "_ZdaPvmSt11align_val_t",
    "_ZdlPvSt11align_val_tRKSt9nothrow_t", "_ZdaPvSt11align_val_tRKSt9nothrow_t",
};

static void operators_resolve_to_hakmem() {
    static_assert(sizeof(std::size_t) == sizeof(unsigned long), "the names above mangle size_t as m");
    for (const char *name : operator_names) {
        void *sym = dlsym(RTLD_DEFAULT, name);
        Dl_info info;
        bool ok = sym && dladdr(sym, &info) && info.dli_fname && std::strstr(info.dli_fname, "libhakmem");
        if (!ok)
            std::fprintf(stderr, "%s resolves to %s\n", name,
                         sym && dladdr(sym, &info) && info.dli_fname ? info.dli_fname : "nothing");
        CHECK(ok);
    }
    // the addresses the program itself calls are those
    void *(*plain)(std::size_t) = &::operator new;
    void (*sized)(void *, std::size_t) noexcept = &::operator delete;
    CHECK(reinterpret_cast<void *>(plain) == dlsym(RTLD_DEFAULT, "_Znwm"));
    CHECK(reinterpret_cast<void *>(sized) == dlsym(RTLD_DEFAULT, "_ZdlPvm"));
}

// ---- every form, every alignment -----------------------------------------------
// usable() aborts on a block that is not hakmem's.
static void ours(void *p, std::size_t size, std::size_t align) {
    CHECK(p != nullptr);
    if (!p) return;
    CHECK(reinterpret_cast<std::uintptr_t>(p) % align == 0);
    CHECK(usable(p) >= size);
    std::memset(p, 0x5c, size);
}

static void every_form() {
    const std::size_t sizes[] = {0, 1, 24, 100, 1000, 4096, 20000, 200000, 3u << 20};
    for (std::size_t n : sizes) {
        void *p = ::operator new(n); ours(p, n, 16); ::operator delete(p);
        p = ::operator new(n); ours(p, n, 16); ::operator delete(p, n);
        p = ::operator new[](n); ours(p, n, 16); ::operator delete[](p);
        p = ::operator new[](n); ours(p, n, 16); ::operator delete[](p, n);
        p = ::operator new(n, std::nothrow); ours(p, n, 16); ::operator delete(p, std::nothrow);
        p = ::operator new[](n, std::nothrow); ours(p, n, 16); ::operator delete[](p, std::nothrow);
    }
    for (std::size_t a = 1; a <= 65536; a *= 2) {
        std::align_val_t al{a};
        const std::size_t asizes[] = {1, 24, a - 1 ? a - 1 : 1, a, a + 1, 3 * a + 5, 200000};
        for (std::size_t n : asizes) {
            void *p = ::operator new(n, al); ours(p, n, a); ::operator delete(p, al);
            p = ::operator new(n, al); ours(p, n, a); ::operator delete(p, n, al);
            p = ::operator new[](n, al); ours(p, n, a); ::operator delete[](p, al);
            p = ::operator new[](n, al); ours(p, n, a); ::operator delete[](p, n, al);
            p = ::operator new(n, al, std::nothrow); ours(p, n, a); ::operator delete(p, al, std::nothrow);
            p = ::operator new[](n, al, std::nothrow); ours(p, n, a);
            ::operator delete[](p, al, std::nothrow);
        }
    }
    // new-expressions pick the forms themselves (sized and aligned delete)
    struct alignas(4096) Page { char b[4096]; };
    struct alignas(64) Line { char b[40]; };
    Page *pg = new Page; ours(pg, sizeof *pg, 4096); delete pg;
    Line *ln = new Line[7]; ours(ln, 7 * sizeof *ln, 64); delete[] ln;
    std::string *s = new std::string(100, 'x'); CHECK(usable(s) >= sizeof *s); delete s;
    int *ints = new int[1000](); CHECK(ints[999] == 0); delete[] ints;
}

// ---- failure: bad_alloc, nothrow, the new-handler -------------------------------
// f returns what it allocated: kept in a volatile, so that the compiler
// cannot drop the allocation as unused
static void *volatile sink;
template <typename F> static bool throws_bad_alloc(F f) {
    try {
        sink = f();
    } catch (const std::bad_alloc &) {
        return true;
    }
    return false;
}

static const std::size_t huge = SIZE_MAX / 2;

static void failures_throw_or_return_null() {
    std::align_val_t al{64};
    CHECK(throws_bad_alloc([] { return ::operator new(huge); }));
    CHECK(throws_bad_alloc([] { return ::operator new[](huge); }));
    CHECK(throws_bad_alloc([&] { return ::operator new(huge, al); }));
    CHECK(throws_bad_alloc([&] { return ::operator new[](huge, al); }));
    CHECK(::operator new(huge, std::nothrow) == nullptr);
    CHECK(::operator new[](huge, std::nothrow) == nullptr);
    CHECK(::operator new(huge, al, std::nothrow) == nullptr);
    CHECK(::operator new[](huge, al, std::nothrow) == nullptr);
    // an alignment that is not a power of two never succeeds (hakmem(3))
    CHECK(throws_bad_alloc([] { return ::operator new(64, std::align_val_t{48}); }));
    CHECK(::operator new(64, std::align_val_t{48}, std::nothrow) == nullptr);
    // NULL is deletable by every form
    ::operator delete(nullptr);
    ::operator delete(nullptr, std::size_t{8});
    ::operator delete[](nullptr, al);
}

static int handler_calls;
static void set_limit(std::size_t bytes) { CHECK(ctl("limit.mapped", nullptr, nullptr, &bytes, sizeof bytes) == 0); }
static void lift_limit_on_third_call() {
    if (++handler_calls == 3) set_limit(0);
}
static void give_up_on_second_call() {
    if (++handler_calls == 2) std::set_new_handler(nullptr);
}
static void throw_at_once() {
    handler_calls++;
    throw std::bad_alloc();
}

static std::size_t mapped_now() {
    struct mallinfo2 m = mallinfo2(); // hakmem's: arena + hblkhd = stats.mapped
    return m.arena + m.hblkhd;
}

static void the_new_handler_loop() {
    const std::size_t big = 64u << 20;
    // the handler frees up memory (lifts limit.mapped): new succeeds after it
    for (int nothrow = 0; nothrow < 2; nothrow++) {
        handler_calls = 0;
        CHECK(ctl("purge", nullptr, nullptr, nullptr, 0) == 0); /* no cached mapping to reuse */
        set_limit(mapped_now() + (1u << 20));
        std::set_new_handler(lift_limit_on_third_call);
        void *p = nothrow ? ::operator new(big, std::nothrow) : ::operator new(big);
        std::set_new_handler(nullptr);
        CHECK(handler_calls == 3);
        ours(p, big, 16);
        ::operator delete(p, big);
    }
    // the handler gives up (removes itself): bad_alloc, or NULL
    handler_calls = 0;
    std::set_new_handler(give_up_on_second_call);
    CHECK(throws_bad_alloc([] { return ::operator new(huge); }));
    CHECK(handler_calls == 2);
    handler_calls = 0;
    std::set_new_handler(give_up_on_second_call);
    CHECK(::operator new[](huge, std::align_val_t{256}, std::nothrow) == nullptr);
    CHECK(handler_calls == 2);
    // a handler's own bad_alloc goes through new to the caller
    handler_calls = 0;
    std::set_new_handler(throw_at_once);
    CHECK(throws_bad_alloc([] { return ::operator new[](huge); }));
    CHECK(handler_calls == 1);
    std::set_new_handler(nullptr);
}

// ---- containers across threads ------------------------------------------------------
struct Item {
    int owner, seq;
    std::string text;
    std::vector<int> values;
};

static std::string text_of(int owner, int seq) {
    return std::to_string(owner) + ":" + std::to_string(seq) + std::string(seq % 90, 'a' + owner % 26);
}

// a bounded queue per thread; items are made by one thread and destroyed by another
struct Queue {
    std::mutex m;
    std::condition_variable cv;
    std::deque<std::unique_ptr<Item>> q;
};

static const int nthreads = 8, per_thread = 4000;

static std::uint64_t work(int t, Queue *queues) {
    std::uint64_t sum = 0;
    std::map<std::string, std::vector<int>> tree;
    std::unordered_map<int, std::shared_ptr<std::string>> hash;
    std::list<std::string> list;
    Queue &out = queues[(t + 1) % nthreads], &in = queues[t];
    for (int i = 0; i < per_thread; i++) {
        tree[text_of(t, i % 500)].push_back(i);
        hash[i % 700] = std::make_shared<std::string>(text_of(t, i));
        list.push_back(text_of(t, i));
        if (list.size() > 300) list.pop_front();
        auto item = std::make_unique<Item>();
        item->owner = t;
        item->seq = i;
        item->text = text_of(t, i);
        item->values.assign(static_cast<std::size_t>(i % 37), i);
        {
            std::lock_guard<std::mutex> g(out.m);
            out.q.push_back(std::move(item));
        }
        out.cv.notify_one();
        std::unique_ptr<Item> got;
        {
            std::unique_lock<std::mutex> g(in.m);
            in.cv.wait(g, [&] { return !in.q.empty(); });
            got = std::move(in.q.front());
            in.q.pop_front();
        }
        int from = (t + nthreads - 1) % nthreads;
        CHECK(got->owner == from && got->seq == i && got->text == text_of(from, i) &&
              got->values.size() == static_cast<std::size_t>(i % 37));
        sum += static_cast<std::uint64_t>(got->text.size()) + got->values.size();
    } // got's are destroyed here, by the thread that did not make them
    for (auto &kv : tree) sum += kv.first.size() * kv.second.size();
    for (auto &kv : hash) sum += kv.second->size();
    for (auto &s : list) sum += s.size();
    return sum;
}

static void containers_under_threads() {
    std::vector<Queue> queues(nthreads);
    std::vector<std::uint64_t> sums(nthreads);
    std::vector<std::thread> threads;
    std::mutex check_lock; // CHECK's counters are plain ints
    for (int t = 0; t < nthreads; t++)
        threads.emplace_back([&, t] {
            std::uint64_t s = work(t, queues.data());
            std::lock_guard<std::mutex> g(check_lock);
            sums[static_cast<std::size_t>(t)] = s;
        });
    for (auto &th : threads) th.join();
    // the same work, measured once more on one thread's terms: every item's
    // text and values have known sizes
    for (int t = 0; t < nthreads; t++) {
        std::uint64_t want = 0;
        int from = (t + nthreads - 1) % nthreads;
        for (int i = 0; i < per_thread; i++) want += text_of(from, i).size() + static_cast<std::uint64_t>(i % 37);
        std::map<std::string, std::size_t> tree;
        for (int i = 0; i < per_thread; i++) tree[text_of(t, i % 500)]++;
        for (auto &kv : tree) want += kv.first.size() * kv.second;
        for (int k = 0; k < 700 && k < per_thread; k++) {
            int last = k + (per_thread - 1 - k) / 700 * 700;
            want += text_of(t, last).size();
        }
        for (int i = per_thread - 300; i < per_thread; i++) want += text_of(t, i).size();
        CHECK(sums[static_cast<std::size_t>(t)] == want);
    }
}

int main() {
    if (!find_hakmem()) {
        std::fprintf(stderr, "cxx_ops: hakmem is not loaded (run it with LD_PRELOAD=libhakmem.so)\n");
        return 1;
    }
    operators_resolve_to_hakmem();
    every_form();
    failures_throw_or_return_null();
    the_new_handler_loop();
    containers_under_threads();
    if (failures) {
        std::printf("cxx_ops: FAILED: %d of %d checks\n", failures, checks);
        return 1;
    }
    std::printf("cxx_ops: ok: %d checks (20 operators, aligned new to 64 KiB, bad_alloc, "
                "new-handler, %d threads)\n", checks, nthreads);
    return 0;
}
