"""runner: running one benchmark program under one allocator, and the
figures and tables the bench scripts share (run-bench, sweep, scaling,
peer-suite).  Standard library only."""

import datetime
import math
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import allocators

HERE = os.path.dirname(os.path.abspath(__file__))
TIME = "/usr/bin/time"  # GNU time: the peak RSS of a program that prints none


def log(msg):
    print(msg, file=sys.stderr, flush=True)


run_cmd = allocators.run_cmd


def machine_info():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = "%.1f GiB" % (kb / 1048576.0)
    except (OSError, ValueError, IndexError):
        pass
    try:
        glibc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        glibc = ""
    if not glibc:
        glibc = run_cmd(["ldd", "--version"]).splitlines()[:1]
        glibc = glibc[0] if glibc else "unknown"
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_usable": affinity,
        "memory": mem,
        "kernel": platform.release(),
        "os": platform.platform(),
        "glibc": glibc,
        "compiler": run_cmd([os.environ.get("CC", "gcc"), "--version"]).splitlines()[:1],
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


# ---------------------------------------------------------------- building
def ensure_binaries(bindir, progs, who="run-bench"):
    """Use the programs in bindir; build missing or stale ones from bench/*.c."""
    for p in sorted(set(progs) | {"bench_pair"}):
        exe = os.path.join(bindir, p)
        src = os.path.join(HERE, p + ".c")
        hdr = os.path.join(HERE, "common.h")
        if os.access(exe, os.X_OK):
            newest = max([os.path.getmtime(f) for f in (src, hdr) if os.path.exists(f)] or [0])
            if os.path.getmtime(exe) >= newest:
                continue
            log("%s: %s is older than its source, rebuilding" % (who, exe))
        if not os.path.exists(src):
            sys.exit("%s: %s is missing and there is no %s to build it from" % (who, exe, src))
        os.makedirs(bindir, exist_ok=True)
        cc = os.environ.get("CC", "gcc")
        cmd = [cc, "-O2", "-g", "-std=gnu11", "-pthread", "-o", exe, src, "-lm"]
        log("building %s: %s" % (p, " ".join(cmd)))
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit("%s: building %s failed:\n%s" % (who, p, r.stderr))


def check_malloc_source(bindir, allocs, missing, who="run-bench"):
    """Drop allocators whose library loads but does not provide malloc
    (bench_pair names the object its malloc comes from)."""
    exe = os.path.join(bindir, "bench_pair")
    keep = []
    for a in allocs:
        env = allocators.preload_env(a)
        try:
            r = subprocess.run([exe, "10", "10"], env=env, capture_output=True, text=True, timeout=60)
            m = re.search(r"^malloc from: (.*)$", r.stderr, re.M)
            src = m.group(1).strip() if m else "?"
        except (OSError, subprocess.SubprocessError) as e:
            src = "? (%s)" % e
        if a["lib"]:
            ok = os.path.realpath(src) == os.path.realpath(a["lib"])
        else:
            ok = "libc.so" in src
        if ok:
            keep.append(a)
        else:
            missing.append((a["name"], "malloc does not come from %s but from %s"
                            % (a["lib"] or "libc", src)))
            log("%s: skipping %s: its malloc comes from %s" % (who, a["name"], src))
    return keep


RESULT_RE = re.compile(r"^RESULT\s+(\S+)\s+(\S+)\s+(\S+)\s*$")
HWM_RE = re.compile(r"^bench: VmHWM (\d+) kB", re.M)
TIMED_RE = re.compile(r"^bench: timed wall (\S+) cpu (\S+)", re.M)


def cpu_busy_s():
    """Seconds of CPU time all CPUs have spent not idle (incl. steal), or None."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return (sum(v[:8]) - idle) / float(os.sysconf("SC_CLK_TCK"))


def run_one(exe, argv, alloc, timeout, env_extra=None, stdin=None, cwd=None, use_time=False):
    """Run exe argv once under alloc (LD_PRELOAD) and return its record:
    exit status, wall and CPU seconds, load, the CPU share other processes
    took meanwhile, peak RSS, and the RESULT figures it printed.  env_extra
    adds environment variables (HAKMEM_CONF, ...); stdin names a file for
    standard input.  With use_time the program runs under GNU time, whose
    figure is the peak RSS of a program that prints no VmHWM of its own:
    wait4() on a child of this process also counts the Python image that
    exec() replaced (~14 MiB)."""
    env = allocators.preload_env(alloc)
    env.update(env_extra or {})
    load = os.getloadavg()[0]
    tfile = None
    cmd = [exe] + list(argv)
    if use_time:
        fd, tfile = tempfile.mkstemp(prefix="bench-time.")
        os.close(fd)
        cmd = [TIME, "-o", tfile, "-f", "bench-time: %M"] + cmd
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            open(stdin or os.devnull, "rb") as inp:
        busy0 = cpu_busy_s()
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdin=inp, stdout=out, stderr=err, env=env, cwd=cwd,
                             start_new_session=True)
        timed_out = []

        def kill():
            timed_out.append(True)
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            while True:
                try:
                    _, status, ru = os.wait4(p.pid, 0)
                    break
                except InterruptedError:
                    continue
        finally:
            timer.cancel()
        wall = time.monotonic() - t0
        busy1 = cpu_busy_s()
        p.returncode = os.waitstatus_to_exitcode(status)  # Popen must not reap again
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    # CPU time that other processes (or the hypervisor: steal) took while the
    # program ran, as a share of all CPUs: the interference it suffered.
    own = ru.ru_utime + ru.ru_stime
    foreign = None
    if busy0 is not None and busy1 is not None and wall > 0:
        ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        foreign = round(max(0.0, (busy1 - busy0) - own) / (wall * ncpu), 3)
    rec = {"rc": p.returncode, "wall_s": round(wall, 3), "loadavg1": load,
           "cpu_s": round(own, 3), "foreign_cpu_share": foreign,
           "maxrss_kib": ru.ru_maxrss, "metrics": {}, "status": "ok",
           "stderr_tail": stderr[-600:]}
    m = HWM_RE.search(stderr)
    rec["hwm_kib"] = int(m.group(1)) if m else None
    if tfile:
        try:
            with open(tfile) as f:
                m = re.search(r"^bench-time: (\d+)", f.read(), re.M)
            if m and rec["hwm_kib"] is None:
                rec["hwm_kib"] = int(m.group(1))
        except OSError:
            pass
        os.unlink(tfile)
    rec["stdout_tail"] = stdout[-4000:]
    # ru_maxrss also counts the image exec() replaced (this Python process);
    # the program's own VmHWM is exact, so prefer it.
    rec["peak_rss_kib"] = rec["hwm_kib"] if rec["hwm_kib"] is not None else ru.ru_maxrss
    for line in stdout.splitlines():
        m = RESULT_RE.match(line.strip())
        if m:
            try:
                rec["metrics"][m.group(1)] = (float(m.group(2)), m.group(3))
            except ValueError:
                pass
    m = TIMED_RE.search(stderr)
    if m:
        rec["timed_wall_s"], rec["timed_cpu_s"] = float(m.group(1)), float(m.group(2))
    if timed_out:
        rec["status"] = "TIMEOUT"
    elif p.returncode != 0 or "FAILED" in stdout:
        rec["status"] = "FAILED"
    elif "cannot be preloaded" in stderr:
        rec["status"] = "FAILED"  # ran, but without the allocator
    return rec


def why(rec):
    """The line of a run's stderr that best says what went wrong."""
    lines = [l for l in rec["stderr_tail"].strip().splitlines() if not HWM_RE.match(l)]
    for l in lines:
        if "FAILED" in l or "cannot be preloaded" in l:
            return l.strip()
    return lines[-1].strip() if lines else ""


def median(xs):
    return statistics.median(xs) if xs else None


def fmt(v, unit=""):
    if v is None:
        return "—"
    if abs(v) >= 100:
        s = "%.0f" % v
    elif abs(v) >= 10:
        s = "%.1f" % v
    else:
        s = "%.2f" % v
    return s


def fmt_ratio(r):
    return "—" if r is None else "%.2f×" % r


def text_table(rows):
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for k, r in enumerate(rows):
        lines.append("  ".join(str(c).rjust(widths[i]) if i else str(c).ljust(widths[i])
                               for i, c in enumerate(r)))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def md_table(rows, left_cols=1):
    out = ["| " + " | ".join(str(c) for c in rows[0]) + " |",
           "|" + "|".join("---" if i < left_cols else "---:" for i in range(len(rows[0]))) + "|"]
    for r in rows[1:]:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def paired_ratio(runs, metric, a, b):
    """Median over rounds of figure(a) / figure(b), pairing runs of the same
    round: the allocators of a round ran minutes apart at most, so a ratio
    within a round is far less disturbed by load drift on a shared machine
    than the ratio of two medians."""
    by = {}
    for r in runs:
        if r["status"] == "ok" and metric in r["metrics"] and r["alloc"] in (a, b):
            by.setdefault(r["round"], {})[r["alloc"]] = r["metrics"][metric][0]
    xs = [d[a] / d[b] for d in by.values() if a in d and b in d and d[b]]
    return median(xs)


def load_note(runs, info):
    loads = [r["loadavg1"] for r in runs if "loadavg1" in r]
    if not loads:
        return ""
    cores = info.get("cores_usable") or info.get("cores") or 1
    s = "1-minute load average before each run: %.2f–%.2f (%s cores)" % (min(loads), max(loads), cores)
    fs = sorted(r["foreign_cpu_share"] for r in runs if r.get("foreign_cpu_share") is not None)
    if fs:
        s += ("; CPU taken by other processes during a run: median %.0f %%, max %.0f %% of the machine"
              % (100 * median(fs), 100 * fs[-1]))
    # our own runs add up to ~1 (larson: 4 threads); more means other work competed
    if max(loads) > cores + 1 or (fs and median(fs) > 0.10):
        s += ". WARNING: other work competed for the CPUs; figures are unreliable"
    return s


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def ncpus():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
