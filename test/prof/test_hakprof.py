#!/usr/bin/env python3
"""Tests of hak_stats_print() and bin/hakprof, run by "make check".

Environment (set by test/prof/local.mk): HAKMEM_LIB (the build tree's
libhakmem.so), HAKPROF (bin/hakprof), PROF_PRINT (test/prof/prof_print).
Real programs run under hakprof: sort(1), the Python interpreter itself."""

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
PROF_PRINT = os.environ.get("PROF_PRINT") or os.path.join(HERE, "prof_print")
PY = sys.executable
QUIET = "background_thread:0"  # nothing purges while the helper compares dumps


sys.path.insert(0, os.path.join(os.path.dirname(HAKPROF), os.pardir, "python"))
from hakprof.dumps import strict_loads as strict  # noqa: E402  (duplicate keys are errors)


def run(argv, env=None, **kw):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run(argv, env=e, capture_output=True, text=True, timeout=300, **kw)


def helper(*args, conf=QUIET):
    """prof_print with the library preloaded (the libtool wrapper would find
    it too, but preloading is how real programs use it)."""
    r = run([PROF_PRINT, *args], env={"LD_PRELOAD": LIB, "HAKMEM_CONF": conf})
    return r


def read_json(path):
    with open(path) as f:
        return strict(f.read())


def hakprof(*args, env=None):
    return run([PY, HAKPROF, *args], env=env)


_NAMES = None


def names():
    """The control tree, from hakprof names --json (the library itself)."""
    global _NAMES
    if _NAMES is None:
        r = hakprof("names", "--json", "--default")
        assert r.returncode == 0, r.stderr
        _NAMES = json.loads(r.stdout)
    return _NAMES


def parse_text(text):
    """The text dump as {section: {key: number}} and the class table rows."""
    sections, rows, header, cur = {"": {}}, [], None, ""
    for line in text.splitlines():
        if line.startswith("___"):
            continue
        if not line.startswith(" "):
            m = re.match(r"^(\w+):\s*(.*)$", line)
            if m and m.group(2) and m.group(1) != "classes":
                sections[""][m.group(1)] = m.group(2).split(" (")[0]
                cur = ""
            else:
                cur = m.group(1) if m else line
                sections.setdefault(cur, {})
            continue
        if cur == "classes":
            cells = line.split()
            if header is None:
                header = cells
            else:
                rows.append(dict(zip(header, (int(c) for c in cells))))
            continue
        m = re.match(r"^\s+(\S+): ?(.*)$", line)
        if m:
            sections[cur][m.group(1)] = m.group(2).split(" (")[0]
    return sections, rows


class TmpDirCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="test_hakprof.")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def write(self, name, text):
        """A file of the case's directory with text in it; its path."""
        with open(self.path(name), "w") as f:
            f.write(text)
        return self.path(name)


class PrinterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        r = helper("pair")
        assert r.returncode == 0, r.stderr
        parts = re.split(r"^=== (\w+)\n", r.stdout, flags=re.M)
        cls.sec = dict(zip(parts[1::2], parts[2::2]))

    def test_json_strict_and_complete(self):
        text = self.sec["json"]
        self.assertEqual(text.count("\n"), 1, "JSON dump is one line")
        d = strict(text)
        self.assertEqual(d["format"], 1)
        for k in ("version", "pid", "config", "tunables", "stats", "classes", "large", "rss"):
            self.assertIn(k, d)
        self.assertEqual(d["version"], next(n["value"] for n in names() if n["name"] == "version"))
        self.assertIsInstance(d["config"]["debug"], bool)
        rw = [n["name"] for n in names() if n["access"] == "read-write"]
        self.assertGreater(len(rw), 10)
        self.assertEqual(sorted(d["tunables"]), sorted(rw), "tunables = every read-write node")
        for n in names():
            if n["access"] == "read-write":
                v = d["tunables"][n["name"]]
                want = {"bool": bool, "string": str}.get(n["type"], int)
                self.assertIsInstance(v, want, n["name"])
        self.assertEqual(d["tunables"]["prefill.budget"], 0)
        self.assertIs(d["tunables"]["background_thread"], False)  # from HAKMEM_CONF

    def test_json_matches_nodes(self):
        """Every stats node has its JSON key, with the same value."""
        d = strict(self.sec["json"])
        if not d["config"]["stats"]:
            self.skipTest("built with --disable-stats: no stats nodes")
        nodes = dict(l.split("=") for l in self.sec["nodes"].splitlines())
        nodes = {k: int(v) for k, v in nodes.items()}
        by_class = {c["class"]: c for c in d["classes"]}
        self.assertGreater(len(by_class), 5)
        checked = 0
        for name, v in nodes.items():
            m = re.match(r"^stats\.c(\d+)\.(\w+)$", name) or re.match(r"^warm_pool\.c(\d+)\.(\w+)$", name)
            if m:
                n, key = int(m.group(1)), m.group(2)
                if name.startswith("warm_pool."):
                    key = "warm_pool_" + key
                if n in by_class:
                    self.assertEqual(by_class[n][key], v, name)
                else:
                    self.assertEqual(v, 0, f"{name}: class left out but active")
                checked += 1
            elif name.startswith("stats.large."):
                self.assertEqual(d["large"][name[len("stats.large."):]], v, name)
                checked += 1
            elif name.startswith("stats.memory."):
                key = name[len("stats.memory."):]
                if key == "other":  # the rest of the resident set, which moves between reads
                    self.assertLess(abs(d["memory"][key] - v), 1 << 20, name)
                else:
                    self.assertEqual(d["memory"][key], v, name)
                checked += 1
            elif name.startswith("stats."):
                key = name[len("stats."):]
                if key == "resident":
                    self.assertLess(abs(d["stats"][key] - v), 1 << 20, name)
                else:
                    self.assertEqual(d["stats"][key], v, name)
                checked += 1
            elif re.match(r"^class\.c(\d+)\.size$", name):
                n = int(name.split(".")[1][1:])
                if n in by_class:
                    self.assertEqual(by_class[n]["size"], v)
        self.assertGreater(checked, 48 * 15)

    def test_text_agrees_with_json(self):
        d = strict(self.sec["json"])
        secs, rows = parse_text(self.sec["text"])
        self.assertEqual(int(secs[""]["pid"]), d["pid"])
        self.assertEqual(secs[""]["version"], d["version"])
        for k, v in d["stats"].items():
            if k == "resident":
                self.assertLess(abs(int(secs["stats"][k]) - v), 1 << 20)
            else:
                self.assertEqual(int(secs["stats"][k]), v, k)
        for k, v in d["large"].items():
            self.assertEqual(int(secs["large"][k]), v, k)
        for k, v in d["tunables"].items():
            t = secs["tunables"][k]
            self.assertEqual(t, str(v).lower() if isinstance(v, bool) else str(v), k)
        for k, v in d["config"].items():
            self.assertEqual(secs["config"][k], str(v).lower() if isinstance(v, bool) else str(v), k)
        self.assertEqual(len(rows), len(d["classes"]))
        for tr, jr in zip(rows, d["classes"]):
            self.assertEqual(tr, jr)

    def test_opts_leave_sections_out(self):
        r = helper("opts", "Jgtcl")
        d = strict(r.stdout)
        for k in ("config", "tunables", "classes", "large"):
            self.assertNotIn(k, d)
        self.assertIn("stats", d)
        r = helper("opts", "c")
        self.assertIn("tunables:", r.stdout)
        self.assertNotRegex(r.stdout, r"(?m)^classes:")
        self.assertRegex(r.stdout, r"(?m)^large:")

    def test_strings_escaped(self):
        odd = 'we"ird\\pa\tth\u00e9'
        r = helper("opts", "J", conf=f"{QUIET},stats.print_path:{odd}")
        d = strict(r.stdout)
        got = d["tunables"]["stats.print_path"]
        # bytes >= 0x80 come out as \u00XX: the UTF-8 bytes of e-acute read as Latin-1
        self.assertEqual(got, odd.encode().decode("latin-1"))

    def test_no_malloc_while_printing(self):
        r = helper("noalloc")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"mallocs before (\d+) after \1")

    def test_threads(self):
        r = helper("threads", conf="")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 100)
        for l in lines:
            strict(l)

    def test_null_callback_writes_stderr(self):
        r = helper("stderr", "")
        self.assertIn("___ Begin hakmem statistics ___", r.stderr)
        self.assertIn("allocated:", r.stderr)
        r = helper("stderr", "J")
        strict(r.stderr)

    def test_dump_at_exit_to_file(self):
        tmp = tempfile.mkdtemp()
        try:
            conf = f"stats.print_at_exit:1,stats.print_opts:J,stats.print_path:{tmp}/d.%p.json"
            r = run([PY, "-c", "import os; os.fork() or os._exit(0); os.wait()"],
                    env={"LD_PRELOAD": LIB, "HAKMEM_CONF": conf})
            self.assertEqual(r.returncode, 0, r.stderr)
            files = os.listdir(tmp)
            # the parent dumps; the child left with _exit and does not
            self.assertEqual(len(files), 1, files)
            with open(os.path.join(tmp, files[0])) as f:
                d = strict(f.read())
            self.assertEqual(files[0], f"d.{d['pid']}.json")
        finally:
            shutil.rmtree(tmp)


class HakprofRunTest(TmpDirCase):
    def sort_input(self):
        p = self.path("nums.txt")
        with open(p, "w") as f:
            x = 12345
            for _ in range(100000):
                x = (x * 1103515245 + 12345) % 2**31
                f.write(f"{x}\n")
        return p

    def test_run_show_sort(self):
        out = self.path("sort.json")
        r = hakprof("run", "-o", out, "--", "sort", "-n", self.sort_input(), "-o", self.path("sorted"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("top classes by allocs", r.stderr)
        self.assertIn("warm-pool hit", r.stderr)
        prof = read_json(out)
        self.assertEqual(prof["command"][0], "sort")
        self.assertEqual(prof["exit_status"], 0)
        s = hakprof("show", out)
        self.assertEqual(s.returncode, 0, s.stderr)
        self.assertIn("1 snapshot", s.stdout)
        self.assertNotIn("overhead", s.stdout)
        self.assertRegex(s.stdout, r"resident peak [\d.]+ \w?i?B at [\d.]+ s, [\d.]+ \w?i?B live then: [\d.]+% of the "
                                   r"peak is not live blocks")
        if "memory" not in read_json(out)["processes"][0]["snapshots"][-1]:
            self.assertIn("breakdown unavailable", s.stdout)
        rows = re.findall(r"^\s+(\d+)\s+(\d+)\s+(\d+)\s+\d+\s+\d+\s+\d+\s+[\d.]+%", s.stdout, re.M)
        self.assertGreater(len(rows), 3, s.stdout)
        self.assertRegex(s.stdout, r"prefill\.budget\s+0")
        j = json.loads(hakprof("show", out, "--json").stdout)
        self.assertEqual(len(j["classes"]), len(rows))
        self.assertEqual(j["snapshots"], 1)

    def test_run_python_series_plot(self):
        out = self.path("py.json")
        prog = ("import time\nx=[]\nfor i in range(6):\n"
                "    x.append([str(j)*3 for j in range(30000)]); time.sleep(0.06)\n")
        r = hakprof("run", "-o", out, "--interval", "40", "--", PY, "-c", prog,
                    env={"PYTHONMALLOC": "malloc"})
        self.assertEqual(r.returncode, 0, r.stderr)
        prof = read_json(out)
        snaps = prof["processes"][0]["snapshots"]
        self.assertGreaterEqual(len(snaps), 3)
        ups = [s["uptime_ms"] for s in snaps]
        self.assertEqual(ups, sorted(ups))
        self.assertGreater(max(s["stats"]["resident"] for s in snaps), 4 << 20)
        s = hakprof("show", out)
        self.assertIn(f"{len(snaps)} snapshots", s.stdout)
        self.assertIn("resident peak", s.stdout)
        svg = self.path("py.svg")
        p = hakprof("plot", out, "-o", svg)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("wrote " + svg, p.stdout)
        root = ET.parse(svg).getroot()
        texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
        self.assertIn("Memory over time", texts)
        self.assertIn("Hit rates over time", texts)
        self.assertIn("time since start (s)", texts)
        titles = " ".join(t.text for t in root.iter("{http://www.w3.org/2000/svg}title"))
        for c in snaps[-1]["classes"]:
            self.assertIn(f"class {c['class']} ({c['size']} B): {c['allocs']} allocations", titles)
        self.assertTrue(os.path.exists(self.path("py.png")) or "no PNG" in p.stdout)

    def test_plot_single_snapshot(self):
        out = self.path("one.json")
        hakprof("run", "-o", out, "--", "sort", self.sort_input(), "-o", self.path("s"))
        svg = self.path("one.svg")
        p = hakprof("plot", out, "-o", svg, "--no-png")
        self.assertEqual(p.returncode, 0, p.stderr)
        texts = [t.text for t in ET.parse(svg).getroot().iter("{http://www.w3.org/2000/svg}text")]
        self.assertIn("Allocations per size class (last snapshot)", texts)
        self.assertNotIn("Memory over time", texts)
        # the smallest class the program used is labelled with its block size
        last = read_json(out)["processes"][0]["snapshots"][-1]
        used = [c["size"] for c in last["classes"] if c["allocs"] > 0]
        self.assertTrue(used)
        self.assertIn(str(min(used)), texts)

    def test_diff_prefill_budget(self):
        a, b = self.path("a.json"), self.path("b.json")
        # bursts that free all they took: emptied slabs fill the reserve
        prog = "for i in range(10):\n    x = [bytes(600) for _ in range(20000)]\n    del x\n"
        for f, budget in ((a, 2), (b, 8)):
            r = hakprof("run", "-o", f, "--conf", f"prefill.budget:{budget}", "--", PY, "-c", prog)
            self.assertEqual(r.returncode, 0, r.stderr)
        d = hakprof("diff", a, b)
        self.assertEqual(d.returncode, 0, d.stderr)
        self.assertRegex(d.stdout, r"prefill\.budget\s+2\s+8\s+\+6\s+\+300\.0%")
        self.assertIn("Tunables: 1 changed", d.stdout)
        self.assertRegex(d.stdout, r"allocated\s+\d+\s+\d+")
        self.assertRegex(d.stdout, r"warm_pool_prefilled\s+\d+\s+\d+\s+\+\d+")

    def test_live_prefill_budget_via_hakctl(self):
        out = self.path("live.json")
        r = hakprof("run", "-o", out, "--", PROF_PRINT, "live", "9")
        self.assertEqual(r.returncode, 0, r.stderr)
        d = read_json(out)["processes"][0]["snapshots"][-1]
        self.assertEqual(d["tunables"]["prefill.budget"], 9)

    def test_children_and_exit_status(self):
        out = self.path("sh.json")
        inp = self.sort_input()
        r = hakprof("run", "-o", out, "--", "sh", "-c",
                    f"sort {inp} > /dev/null; sort -r {inp} > /dev/null; exit 3")
        self.assertEqual(r.returncode, 3, r.stderr)
        prof = read_json(out)
        pids = [p["pid"] for p in prof["processes"]]
        # the two sorts; dash leaves with _exit(2), which dumps nothing
        self.assertGreaterEqual(len(pids), 2, "one file per process")
        self.assertEqual(len(set(pids)), len(pids))
        self.assertEqual(prof["exit_status"], 3)
        s = hakprof("show", out, "--pid", str(pids[1]))
        self.assertEqual(s.returncode, 0, s.stderr)
        self.assertIn(f"process {pids[1]}", s.stdout)

    def test_default_output_name(self):
        r = run([PY, HAKPROF, "run", "--", "true"], cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(self.path("hakprof.true.json")))


def snapshot(uptime_ms, resident, parts, pid=4242):
    """A hand-written dump with a "memory" object (parts in its key order)."""
    keys = ["live", "thread_caches", "slab_free", "dirty", "large_cache", "metadata", "other"]
    mem = {"resident": resident}
    mem.update(zip(keys, parts))
    assert sum(parts) == resident
    return {"format": 1, "version": "0.1.0", "pid": pid, "time_ms": 1700000000000 + uptime_ms,
            "uptime_ms": uptime_ms,
            "stats": {"allocated": parts[0], "active": parts[0] + parts[2], "resident": resident,
                      "mapped": resident, "metadata": parts[5], "superslabs": 1, "superslabs_pooled": 0,
                      "heaps": 1, "heaps_abandoned": 0, "purged": 0},
            "classes": [{"class": 3, "size": 64, "allocs": 1000, "frees": 10, "cache_hits": 990,
                         "cache_misses": 10, "refills": 10, "warm_pool_hits": 9, "warm_pool_misses": 1,
                         "live": 990}],
            "large": {"allocs": 0, "frees": 0, "active": 0, "active_bytes": 0, "cached": 0, "cached_bytes": 0},
            "memory": mem, "rss": resident}


class MemoryBreakdownTest(TmpDirCase):
    """The "memory" object of a dump (the parts of the resident memory), from
    hand-written dumps: hakprof show prints it at the top for the peak and
    the last snapshot, and figures over the run; hakprof plot stacks it."""

    MiB = 1 << 20

    def series(self):
        M = self.MiB
        snaps = [snapshot(100, 10 * M, [6 * M, M, M, 0, 0, M, M]),
                 snapshot(300, 40 * M, [30 * M, 2 * M, 3 * M, 2 * M, M, M, M]),  # the peak
                 snapshot(700, 20 * M, [2 * M, M, 4 * M, 8 * M, 2 * M, M, 2 * M])]
        path = self.path("series.jsonl")
        with open(path, "w") as f:
            for x in snaps:
                f.write(json.dumps(x) + "\n")
        return path

    def test_show_breakdown(self):
        r = hakprof("show", self.series())
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout
        top = out.index("Where the memory goes")
        self.assertLess(top, out.index("Totals"), "the breakdown comes first")
        peak = out.index("at the resident peak (0.300 s)")
        last = out.index("last snapshot (0.700 s)")
        self.assertLess(peak, last)
        self.assertRegex(out[peak:last], r"live blocks\s+31457280\s+30\.0 MiB\s+75\.0%")
        self.assertRegex(out[last:], r"free pages not yet returned\s+8388608\s+8\.0 MiB\s+40\.0%")
        self.assertRegex(out[last:], r"other \(program, stacks, code\)\s+2097152\s+2\.0 MiB\s+10\.0%")
        self.assertIn("resident peak 40.0 MiB at 0.300 s, 30.0 MiB live then: 25.0% of the peak is not live", out)
        # time-weighted over [100, 300) and [300, 700): resident (10*200 + 40*400) / 600 = 30 MiB,
        # live (6*200 + 30*400) / 600 = 22 MiB
        self.assertIn("over the run (time-weighted): resident 30.0 MiB, live 22.0 MiB, 26.7% not live; "
                      "live peak 30.0 MiB", out)
        self.assertNotIn("overhead", out)
        j = json.loads(hakprof("show", self.series(), "--json").stdout)
        self.assertEqual(j["memory"]["peak"]["resident"], 40 * self.MiB)
        self.assertEqual(j["memory"]["last"]["dirty"], 8 * self.MiB)
        self.assertAlmostEqual(j["memory"]["figures"]["not_live_mean_pct"], 100 * 8 / 30, places=6)

    def test_old_dumps_say_unavailable(self):
        path = self.path("old.jsonl")
        with open(path, "w") as f:
            for t in (100, 200):
                x = snapshot(t, 4 * self.MiB, [self.MiB, self.MiB, self.MiB, 0, 0, 0, self.MiB])
                del x["memory"]
                f.write(json.dumps(x) + "\n")
        r = hakprof("show", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("breakdown unavailable", r.stdout)
        self.assertIn("resident peak 4.0 MiB at 0.100 s, 1.0 MiB live then: 75.0%", r.stdout)
        p = hakprof("plot", path, "-o", self.path("old.svg"), "--no-png")
        self.assertEqual(p.returncode, 0, p.stderr)
        texts = [t.text for t in ET.parse(self.path("old.svg")).getroot().iter("{http://www.w3.org/2000/svg}text")]
        self.assertIn("Memory over time", texts)
        self.assertNotIn("Where the resident memory goes over time", texts)
        self.assertTrue(any("memory breakdown unavailable" in (t or "") for t in texts))

    def test_plot_stacks_the_parts(self):
        svg = self.path("mem.svg")
        r = hakprof("plot", self.series(), "-o", svg, "--no-png")
        self.assertEqual(r.returncode, 0, r.stderr)
        root = ET.parse(svg).getroot()
        ns = "{http://www.w3.org/2000/svg}"
        texts = [t.text for t in root.iter(ns + "text")]
        self.assertIn("Where the resident memory goes over time", texts)
        polys = {p.find(ns + "title").text.split(":")[0]: p for p in root.iter(ns + "polygon")}
        self.assertEqual(list(polys), ["live blocks", "thread caches", "free in partly used slabs",
                                       "free pages not yet returned", "free chunks cached", "metadata",
                                       "other (program, stacks, code)"])
        # stacked: the top edge of the last part is the resident line, at the peak 40 of the axis' top
        def ys(p):
            return [float(xy.split(",")[1]) for xy in p.get("points").split()]
        top = ys(polys["other (program, stacks, code)"])[:3]
        bottom = ys(polys["live blocks"])[3:]
        self.assertTrue(all(b >= t for b, t in zip(bottom[::-1], top)))
        h = [b - t for b, t in zip(bottom[::-1], top)]
        self.assertAlmostEqual(h[1] / h[0], 4.0, places=2)  # 40 MiB against 10 MiB
        self.assertAlmostEqual(h[2] / h[0], 2.0, places=2)

    def test_plot_title_fits(self):
        path = self.path("long.json")
        long_cmd = ["python3", "-c", "import time\nx = []\n" + "x.append(1); " * 60]
        prof = {"hakprof": 1, "command": long_cmd, "exit_status": 0,
                "processes": [{"pid": 1, "snapshots": [snapshot(100, 4 * self.MiB, [self.MiB] * 4 + [0, 0, 0])]}]}
        with open(path, "w") as f:
            json.dump(prof, f)
        svg = self.path("long.svg")
        r = hakprof("plot", path, "-o", svg, "--no-png")
        self.assertEqual(r.returncode, 0, r.stderr)
        root = ET.parse(svg).getroot()
        title = next(t for t in root.iter("{http://www.w3.org/2000/svg}text") if t.get("font-size") == "18")
        width = float(root.get("width"))
        # 18 px bold: under 10.5 px a character; centred, so it must fit the picture
        self.assertLessEqual(len(title.text) * 10.5, width - 40, title.text)
        self.assertNotIn("\n", title.text)
        self.assertTrue(title.text.endswith("\u2026"))


class HakprofNamesTest(unittest.TestCase):
    def test_names(self):
        r = hakprof("names", "prefill")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"prefill\.budget\s+u32\s+read-write\s+0\s+\S")
        all_ = names()
        stats = any(n["name"] == "config.stats" and n["value"] for n in all_)
        if stats:
            r = hakprof("names", "warm_pool.c3")
            self.assertEqual(len(r.stdout.splitlines()), 4)  # header + hits, misses, prefilled
            self.assertIn("stats.allocated", [x["name"] for x in all_])
        for n in ("tcache.c47.capacity", "stats.print_path", "class.c0.size"):
            self.assertIn(n, [x["name"] for x in all_])
        r = hakprof("names", "prefill.budget", env={"HAKMEM_CONF": "prefill.budget:5"})
        self.assertRegex(r.stdout, r"prefill\.budget\s+u32\s+read-write\s+5\s")


class ErrorTest(TmpDirCase):
    def expect_error(self, *args, status=None, msg=None, env=None):
        r = hakprof(*args, env=env)
        self.assertNotEqual(r.returncode, 0, (args, r.stdout))
        if status is not None:
            self.assertEqual(r.returncode, status, r.stderr)
        self.assertTrue(r.stderr.strip(), "an error message")
        if msg:
            self.assertIn(msg, r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()) <= 3 or "usage" in r.stderr, True, r.stderr)
        return r

    def test_errors(self):
        bad = self.path("bad.json")
        with open(bad, "w") as f:
            f.write('{"format": 1, "stats": {"allocated": 1}\n{"format": 1,,}\n')
        notdump = self.path("notdump.json")
        with open(notdump, "w") as f:
            f.write('{"hello": 1}\n')
        dup = self.path("dup.json")
        with open(dup, "w") as f:
            f.write('{"format": 1, "format": 1, "stats": {}}\n')
        empty = self.path("empty.json")
        open(empty, "w").close()
        missing = self.path("missing.json")
        good = self.path("good.json")
        r = hakprof("run", "-o", good, "--", "true")
        self.assertEqual(r.returncode, 0, r.stderr)
        forms = [lambda f: ["show", f], lambda f: ["show", f, "--json"],
                 lambda f: ["plot", f, "-o", self.path("x.svg")],
                 lambda f: ["diff", f, good], lambda f: ["diff", good, f]]
        for form in forms:
            self.expect_error(*form(missing), status=1, msg="cannot read")
            self.expect_error(*form(bad), status=1, msg="malformed JSON")
            self.expect_error(*form(notdump), status=1, msg="not a hakmem statistics dump")
            self.expect_error(*form(empty), status=1, msg="empty")
        self.expect_error("show", dup, status=1, msg="duplicate key")
        self.expect_error("run", "--", "/no/such/program", status=127, msg="command not found")
        self.expect_error("run", "--", self.tmp, status=126, msg="cannot run")
        self.expect_error("run", status=2, msg="no command")
        self.expect_error("run", "--lib", "/no/lib.so", "--", "true", status=1, msg="libhakmem.so not found")
        self.expect_error("names", "--lib", "/no/lib.so", status=1, msg="not found")
        self.expect_error("names", "no.such.prefix", status=1, msg="no node")
        self.expect_error("frobnicate", status=2, msg="invalid choice")
        self.expect_error(status=2)
        self.expect_error("plot", bad, status=2, msg="required")
        self.assertFalse(os.path.exists(self.path("x.svg")))

    def test_help(self):
        for sub in ("run", "show", "diff", "plot", "names", "heap"):
            r = hakprof(sub, "--help")
            self.assertEqual(r.returncode, 0)
            self.assertIn(f"usage: hakprof {sub}", r.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
