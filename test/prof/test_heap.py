#!/usr/bin/env python3
"""Tests of the heap profiler (prof.*) and hakprof heap, run by "make check".

test/prof/heap_sites has allocation sites of known sizes in functions of
their own (-O2 -g, no frame pointers); it runs with libhakmem.so preloaded
and a small sampling period, and the profiles it writes are read with
hakprof heap (and google-pprof, which CI installs).  Environment (set by
test/prof/local.mk): HAKMEM_LIB, HAKPROF, HEAP_SITES, STRESS_DLOPEN, DLMOD,
GOOGLE_PPROF."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
LIB = os.environ.get("HAKMEM_LIB") or os.path.join(HERE, "..", "..", ".libs", "libhakmem.so")
HAKPROF = os.environ.get("HAKPROF") or os.path.join(HERE, "..", "..", "bin", "hakprof")
SITES = os.environ.get("HEAP_SITES") or os.path.join(HERE, "heap_sites")
PPROF = os.environ.get("GOOGLE_PPROF") or shutil.which("google-pprof")
MiB = 1 << 20
PERIOD = 4096  # prof.sample_bytes of these tests
sys.path.insert(0, os.path.join(os.path.dirname(HAKPROF), os.pardir, "python"))
from hakprof import heapfile  # noqa: E402
from test_hakprof import TmpDirCase  # noqa: E402


def run(argv, conf=None, env=None, **kw):
    e = dict(os.environ)
    e["LD_PRELOAD"] = LIB
    e["HAKMEM_CONF"] = conf if conf is not None else f"prof.active:true,prof.sample_bytes:{PERIOD}"
    e.update(env or {})
    return subprocess.run(argv, env=e, capture_output=True, text=True, timeout=600, **kw)


def hakprof(*args):
    e = dict(os.environ)
    e.pop("LD_PRELOAD", None)
    return subprocess.run([sys.executable, HAKPROF, *args], env=e, capture_output=True, text=True,
                          timeout=600)


_CLASSES = None


def usable(size):
    """The bytes a small request of size is counted for: its class size (with
    debug checks on, that of size + 16, the canary's room: alloc.c)."""
    global _CLASSES
    if _CLASSES is None:
        r = hakprof("names", "--json", "--default")
        assert r.returncode == 0, r.stderr
        nodes = {n["name"]: n["value"] for n in json.loads(r.stdout)}
        sizes = sorted(v for k, v in nodes.items() if re.match(r"^class\.c\d+\.size$", k))
        _CLASSES = (sizes, 16 if nodes["config.debug"] or nodes["debug.checks"] else 0)
    sizes, room = _CLASSES
    return next(c for c in sizes if c >= size + room)


def live_bytes(size, total):
    """What a site keeping total bytes in blocks of size is counted for."""
    return total // size * usable(size)


def values(out):
    return {k: int(v) for k, v in re.findall(r"^(\w+)=(\d+)$", out, re.M)}


def sites(path, *opts):
    """hakprof heap --json, and its sites summed by function."""
    r = hakprof("heap", path, "--json", "--top", "1000", *opts)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    by = {}
    for s in d["sites"]:
        f = by.setdefault(s["function"], {"bytes": 0.0, "blocks": 0.0, "where": s["where"]})
        f["bytes"] += s["bytes"]
        f["blocks"] += s["blocks"]
    return d, by


class Case(TmpDirCase):
    def near(self, got, want, rel, what):
        self.assertLess(abs(got - want), rel * want, f"{what}: {got:.0f} estimated, {want:.0f} true")


class SitesTest(Case):
    """keep_big keeps 6 MiB (3072-byte blocks), keep_small 2 MiB (64-byte
    blocks, the fast path's), churn allocates 64 MiB and frees it all."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="test_heap.")
        cls.file = os.path.join(cls.dir, "sites.heap")
        r = run([SITES, "sites", cls.file])
        assert r.returncode == 0, r.stderr
        cls.vals = values(r.stdout)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_in_use_split(self):
        d, s = sites(self.file)
        big, small = s["keep_big"]["bytes"], s["keep_small"]["bytes"]
        self.near(big, live_bytes(3072, 6 * MiB), 0.2, "keep_big")
        self.near(small, live_bytes(64, 2 * MiB), 0.2, "keep_small")
        share = 100 * big / (big + small)
        want = 100 * live_bytes(3072, 6 * MiB) / (live_bytes(3072, 6 * MiB) + live_bytes(64, 2 * MiB))
        self.assertLess(abs(share - want), 5, f"keep_big holds {share:.1f}% of the two, not {want:.1f}%")
        self.assertNotIn("churn", s, "churn freed everything: nothing of it is in use")
        self.near(s["keep_small"]["blocks"], 2 * MiB / 64, 0.2, "keep_small blocks")
        self.assertRegex(s["keep_big"]["where"], r"^heap_sites\.c:\d+$")
        self.assertEqual(d["sites"][0]["function"], "keep_big")
        self.assertEqual(self.vals["samples_live"], d["live_samples"])
        self.assertGreater(self.vals["samples"], 1000)
        self.assertGreater(self.vals["memory"], 0)

    def test_allocated_view(self):
        d, s = sites(self.file, "--alloc")
        self.assertEqual(d["sites"][0]["function"], "churn", d["sites"][:3])
        self.near(s["churn"]["bytes"], live_bytes(256, 64 * MiB), 0.1, "churn allocated")
        self.near(s["keep_big"]["bytes"], live_bytes(3072, 6 * MiB), 0.2, "keep_big allocated")
        self.assertEqual(self.vals["samples"], d["samples"])

    def test_text_report(self):
        r = hakprof("heap", self.file, "--stacks", "2")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        top = next(l for l in lines if "keep_" in l)
        self.assertRegex(top, r"^\s+[\d.]+ MiB\s+[\d.]+%\s+[\d.]+%\s+\d+\s+keep_big\s+heap_sites\.c:\d+$")
        self.assertRegex(r.stdout, r"<- main heap_sites\.c:\d+")
        self.assertIn("one sample per 4.0 KiB", r.stdout)
        pcts = [float(m) for m in re.findall(r"^\s+\S+ \S+\s+[\d.]+%\s+([\d.]+)%", r.stdout, re.M)]
        self.assertEqual(pcts, sorted(pcts), "cumulative % rises")
        self.assertAlmostEqual(pcts[-1], 100.0, delta=0.2)

    @unittest.skipUnless(PPROF, "google-pprof not installed (Debian: google-perftools)")
    def test_google_pprof(self):
        r = subprocess.run([PPROF, "--text", SITES, self.file], capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Heap version 2", r.stderr)
        rows = {m.group(2): float(m.group(1)) for m in
                re.finditer(r"^\s*([\d.]+)\s+[\d.]+%\s+[\d.]+%\s+[\d.]+\s+[\d.]+%\s+(\w+)", r.stdout, re.M)}
        self.assertIn("keep_big", rows, r.stdout)
        self.assertIn("keep_small", rows, r.stdout)
        self.near(rows["keep_big"], live_bytes(3072, 6 * MiB) / MiB, 0.2, "google-pprof keep_big (MiB)")
        r = subprocess.run([PPROF, "--text", "--alloc_space", SITES, self.file], capture_output=True,
                           text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        first = next(l for l in r.stdout.splitlines() if re.match(r"^\s*[\d.]+\s+[\d.]+%", l))
        self.assertTrue(first.rstrip().endswith("churn"), r.stdout)

    def test_flame_graph(self):
        svg = self.path("flame.svg")
        r = hakprof("heap", self.file, "--svg", svg)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("wrote " + svg, r.stdout)
        root = ET.parse(svg).getroot()
        ns = "{http://www.w3.org/2000/svg}"
        widths = {}
        for rect in root.iter(ns + "rect"):
            t = rect.find(ns + "title")
            if t is not None:
                widths[t.text.split(" ")[0].rstrip(":")] = float(rect.get("width"))
        self.assertIn("main", widths)
        ratio = widths["keep_big"] / widths["keep_small"]
        self.assertLess(abs(ratio - 3), 0.6, f"keep_big is {ratio:.2f} times as wide as keep_small")
        texts = [t.text for t in root.iter(ns + "text")]
        self.assertTrue(any(t and t.startswith("Heap profile, in use") for t in texts), texts[:3])
        self.assertTrue(os.path.exists(self.path("flame.png")) or "no PNG" in r.stdout)


class ProcessesTest(Case):
    def test_threads_and_remote_frees(self):
        f = self.path("threads.heap")
        r = run([SITES, "threads", f])
        self.assertEqual(r.returncode, 0, r.stderr)
        _, s = sites(f)
        self.near(s["thread_keep"]["bytes"], 4 * live_bytes(128, MiB) + 4 * usable(MiB // 128 * 8), 0.2,
                  "thread_keep (4 threads)")
        self.assertNotIn("handoff", s, "freed by the consumer thread: not in use")
        _, a = sites(f, "--alloc")
        self.near(a["handoff"]["bytes"], live_bytes(512, 8 * MiB), 0.2, "handoff allocated")
        self.assertEqual(values(r.stdout)["samples_live"],
                         sum(e.raw[0] for e in heapfile.Profile(f).entries))

    def test_fork_child_writes_its_own(self):
        conf = (f"prof.active:true,prof.sample_bytes:{PERIOD},prof.dump_at_exit:true,"
                f"prof.path:{self.tmp}/fork.%p.heap")
        r = run([SITES, "fork"], conf=conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        v = values(r.stdout)
        files = sorted(os.listdir(self.tmp))
        self.assertEqual(files, sorted([f"fork.{v['parent']}.heap", f"fork.{v['child']}.heap"]))
        _, child = sites(self.path(f"fork.{v['child']}.heap"))
        _, parent = sites(self.path(f"fork.{v['parent']}.heap"))
        self.near(child["child_keep"]["bytes"], live_bytes(256, 2 * MiB), 0.2, "child_keep in the child")
        self.near(child["parent_keep"]["bytes"], live_bytes(1024, 2 * MiB), 0.2, "parent_keep, inherited")
        self.near(parent["parent_keep"]["bytes"], live_bytes(1024, 2 * MiB), 0.2, "parent_keep in the parent")
        self.assertNotIn("child_keep", parent)

    def test_dumps_while_threads_allocate(self):
        f = self.path("d")
        r = run([SITES, "dumps", f])
        self.assertEqual(r.returncode, 0, r.stderr)
        profs = [heapfile.Profile(f"{f}.{i}") for i in range(40)]
        self.assertTrue(all(p.maps for p in profs), "every profile has its maps")
        counts = [sum(e.raw[2] for e in p.entries) for p in profs]
        self.assertEqual(counts, sorted(counts), "samples only accumulate")
        self.assertGreater(counts[-1], counts[0])
        _, a = sites(f"{f}.39", "--alloc")
        self.assertIn("busy_round", a)

    def test_realloc_keeps_the_accounting(self):
        f = self.path("grow.heap")
        r = run([SITES, "realloc", f])
        self.assertEqual(r.returncode, 0, r.stderr)
        _, s = sites(f)
        self.near(s["grow_small"]["bytes"], 4000 * usable(5000), 0.2, "grow_small after realloc")
        self.near(s["grow_large"]["bytes"], 8 * 8 * MiB, 0.05, "grow_large after realloc")
        self.near(s["grow_small"]["blocks"], 4000, 0.2, "grow_small blocks")
        d, freed = sites(f + ".freed")
        self.assertNotIn("grow_small", freed, "all freed")
        self.assertNotIn("grow_large", freed, "all freed")
        # what else lives (the background thread's TLS, say) is in the file too
        self.assertEqual(values(r.stdout)["samples_live"], d["live_samples"])
        self.assertLess(d["live_samples"], 5)

    def test_off_takes_no_samples(self):
        r = run([SITES, "off"], conf=f"prof.sample_bytes:{PERIOD}")
        self.assertEqual(r.returncode, 0, r.stderr)
        v = values(r.stdout)
        self.assertEqual(v["off_samples"], 0)
        self.assertGreater(v["on_samples"], 1000)
        self.assertEqual(v["off_again_samples"], v["on_samples"])

    def test_dump_without_profiling(self):
        f = self.path("never.heap")
        r = run([SITES, "sites", f], conf="")
        self.assertEqual(r.returncode, 0, r.stderr)
        p = heapfile.Profile(f)
        self.assertEqual(p.entries, [])
        self.assertEqual(p.period, 524288)
        self.assertEqual(values(r.stdout)["samples"], 0)
        self.assertIn("no samples", hakprof("heap", f).stdout)

    def test_bad_conf_changes_nothing(self):
        conf = "prof.sample_bytes:0,prof.path:/no/such/dir/x.heap,prof.path:bad%q,prof.active:maybe"
        r = run([SITES, "off"], conf=conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        for name in ("prof.sample_bytes", "prof.path", "prof.active"):
            self.assertIn(f"bad value", r.stderr)
            self.assertIn(f"'{name}'", r.stderr)
        self.assertEqual(len(re.findall("bad value", r.stderr)), 4, r.stderr)
        self.assertEqual(values(r.stdout)["off_samples"], 0)


class RealProgramsTest(Case):
    def test_python(self):
        f = self.path("py.%p.%n.heap")
        prog = ("import ctypes, threading, json\n"
                "def work(n):\n"
                "    d = {str(i): [i] * (i % 50) for i in range(n)}\n"
                "    return len(json.dumps(d))\n"
                "ts = [threading.Thread(target=work, args=(20000,)) for _ in range(4)]\n"
                "[t.start() for t in ts]; [t.join() for t in ts]\n"
                "keep = [bytearray(1000) for _ in range(5000)]\n"
                "print(work(30000))\n"
                "assert ctypes.CDLL(None).hakctl(b'prof.dump', None, None, None, 0) == 0\n")
        r = run([sys.executable, "-c", prog], env={"PYTHONMALLOC": "malloc"},
                conf=f"prof.active:true,prof.sample_bytes:65536,prof.dump_at_exit:true,prof.path:{f}")
        self.assertEqual(r.returncode, 0, r.stderr)
        files = sorted(os.listdir(self.tmp))
        self.assertEqual([re.sub(r"\d+", "N", x) for x in files], ["py.N.N.heap"] * 2, files)
        dumped, heap = (self.path(x) for x in sorted(files, key=lambda x: int(x.split(".")[2])))
        d, _ = sites(heap, "--alloc")  # at exit
        self.assertGreater(d["samples"], 50)
        self.assertGreater(d["bytes"], 10 * MiB)
        live, _ = sites(dumped)
        self.assertGreater(live["bytes"], 4 * MiB, "the 5000 kept bytearrays, at least")
        if PPROF:
            r = subprocess.run([PPROF, "--text", os.path.realpath(sys.executable), heap], capture_output=True,
                               text=True, timeout=300)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("Total:", r.stdout)

    def test_dlopen(self):
        prog, mod = os.environ.get("STRESS_DLOPEN"), os.environ.get("DLMOD")
        if not (prog and mod and os.path.exists(prog) and os.path.exists(mod)):
            self.fail("stress_dlopen or its module not built")
        f = self.path("dl.heap")
        r = run([prog, mod], conf=f"prof.active:true,prof.sample_bytes:{PERIOD},prof.dump_at_exit:true,prof.path:{f}")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        p = heapfile.Profile(f)
        self.assertGreater(sum(e.raw[2] for e in p.entries), 1000)


class HakprofHeapTest(Case):
    def test_run_heap(self):
        out = self.path("run.json")
        r = hakprof("run", "--heap", "--sample-bytes", str(PERIOD), "-o", out, "--", SITES, "exit")
        self.assertEqual(r.returncode, 0, r.stderr)
        heap = self.path("run.heap")
        self.assertIn(f"heap profile: {heap}", r.stderr)
        self.assertIn(f"wrote {out}", r.stderr)
        _, s = sites(heap)
        self.near(s["keep_big"]["bytes"], live_bytes(3072, 6 * MiB), 0.2, "keep_big, via hakprof run --heap")
        with open(out) as fh:
            stats = json.load(fh)
        self.assertEqual(stats["heap_profiles"], {str(stats["processes"][0]["pid"]): heap})
        self.assertNotEqual(hakprof("run", "--sample-bytes", "4096", "--", "true").returncode, 0)

    def test_diff_shows_growth(self):
        f = self.path("ph")
        r = run([SITES, "phases", f])
        self.assertEqual(r.returncode, 0, r.stderr)
        r = hakprof("heap", "--diff", f + ".a", f + ".b", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        d = json.loads(r.stdout)
        self.assertEqual(d["sites"][0]["function"], "keep_big")
        self.near(d["sites"][0]["change"], live_bytes(3072, 6 * MiB), 0.2, "keep_big growth")
        small = next(s for s in d["sites"] if s["function"] == "keep_small")
        self.assertLess(abs(small["change"]), 0.05 * MiB, "keep_small did not grow")
        t = hakprof("heap", "--diff", f + ".a", f + ".b")
        self.assertRegex(t.stdout, r"(?m)^\s+\+[\d.]+ MiB\s+new\s+0 B\s+[\d.]+ MiB\s+\+\d+\s+keep_big")

    def test_errors(self):
        missing = self.path("missing.heap")
        head = "heap profile: 1: 64 [1: 64] @ heap_v2/4096\n"
        garbage = self.write("garbage.heap", "hello\n")
        bad_line = self.write("badline.heap", head + "1: 64 [1 64] @ 0x1234\n\nMAPPED_LIBRARIES:\n")
        cut = self.write("cut.heap", head + "1: 64 [1: 64] @ 0x1234\n")
        nobin = self.write("nobin.heap", head + "1: 64 [1: 64] @ 0x401234 0x401300\n\nMAPPED_LIBRARIES:\n"
                           "00400000-00500000 r-xp 00000000 08:01 1234 /no/such/binary\n")
        for f, msg in ((missing, "cannot read"), (garbage, "not a heap profile"), (bad_line, "malformed line"),
                       (cut, "no MAPPED_LIBRARIES"), (nobin, "cannot symbolize")):
            for extra in ([], ["--alloc"], ["--svg", self.path("x.svg")]):
                r = hakprof("heap", f, *extra)
                self.assertEqual(r.returncode, 1, (f, extra, r.stdout))
                self.assertIn(msg, r.stderr)
        self.assertNotEqual(hakprof("heap", "--diff", nobin).returncode, 0)
        self.assertEqual(hakprof("heap", "--diff", garbage, missing).returncode, 1)
        self.assertFalse(os.path.exists(self.path("x.svg")))


if __name__ == "__main__":
    unittest.main(verbosity=2)
