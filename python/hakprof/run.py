"""hakprof run: run a command under hakmem and collect its dumps."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from .common import PROG, HakprofError, fmt_pct, human, warn
from .dumps import FILE_FORMAT, load, overall_hits
from .library import find_lib


def summary(prof, out):
    procs = prof["processes"]
    main = procs[0]
    s = main["snapshots"][-1]
    st = s["stats"]
    peak = max(x["stats"].get("resident", 0) for x in main["snapshots"])
    nsnap = sum(len(p["snapshots"]) for p in procs)
    lines = [f"{PROG}: wrote {out}: {len(procs)} process{'es' if len(procs) != 1 else ''}, "
             f"{nsnap} snapshot{'s' if nsnap != 1 else ''}; pid {main['pid']}:"]
    lines.append(f"  allocated {human(st.get('allocated'))} at exit, resident peak {human(peak)}, "
                 f"mapped {human(st.get('mapped'))}")
    top = sorted(s.get("classes", []), key=lambda c: -c.get("allocs", 0))[:5]
    if top:
        lines.append("  top classes by allocs: " + ", ".join(
            f"{c['size']} B ({c.get('allocs', 0)})" for c in top))
    ch, wh = overall_hits(s)
    lines.append(f"  thread-cache hit {fmt_pct(ch)}, warm-pool hit {fmt_pct(wh)}")
    return "\n".join(lines)


def heap_name(out, pid=None):
    base = out[:-5] if out.endswith(".json") else out
    return f"{base}.heap" if pid is None else f"{base}.{pid}.heap"


def move_heaps(tmp, out, main_pid):
    """The heap profiles of the run's processes, beside the statistics:
    OUT.heap for the command itself (its last: the one at exit),
    OUT.<pid>.heap for the others; a profile the program dumped earlier
    (prof.dump) gets its number too, OUT[.<pid>].<n>.heap.  Returns
    {pid: the last profile}."""
    found = {}
    for name in os.listdir(tmp):
        m = re.match(r"^heap\.(\d+)\.(\d+)$", name)
        if m:
            found.setdefault(int(m.group(1)), []).append(int(m.group(2)))
    moved = {}
    for pid, ns in sorted(found.items()):
        ns.sort()
        for n in ns:
            base = heap_name(out, None if pid == main_pid else pid)
            dest = base if n == ns[-1] else f"{base[:-5]}.{n}.heap"
            try:
                shutil.move(os.path.join(tmp, f"heap.{pid}.{n}"), dest)
            except OSError as e:
                raise HakprofError(f"cannot write {dest}: {e.strerror}")
        moved[pid] = base
    return moved


def heap_summary(heaps, main_pid):
    if not heaps:
        return (f"{PROG}: no heap profile was written (the command did not exit normally, or did "
                f"not load hakmem)")
    main = heaps.get(main_pid)
    others = [p for pid, p in sorted(heaps.items()) if pid != main_pid]
    line = f"{PROG}: heap profile{'s' if len(heaps) > 1 else ''}: " + ", ".join(([main] if main else []) + others)
    return line + f"\n  read with: {PROG} heap {main or others[0]}"


def cmd_run(a):
    cmd = a.cmd
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise HakprofError("no command given (hakprof run [options] -- CMD [ARGS...])", 2)
    lib = find_lib(a.lib)
    out = a.output or f"hakprof.{os.path.basename(cmd[0])}.json"
    for c in a.conf:
        if ":" not in c or "," in c:
            raise HakprofError(f"bad --conf '{c}' (expected NAME:VALUE, no commas)", 2)
    tmp = tempfile.mkdtemp(prefix="hakprof.")
    try:
        conf = ["stats.print_at_exit:1", "stats.print_opts:J",
                f"stats.print_path:{os.path.join(tmp, 'dump.%p.json')}"]
        if a.interval:
            conf.append(f"stats.interval_ms:{a.interval}")
        if a.sample_bytes is not None and not a.heap:
            raise HakprofError("--sample-bytes goes with --heap", 2)
        if a.heap:
            conf += ["prof.active:true", "prof.dump_at_exit:true",
                     f"prof.path:{os.path.join(tmp, 'heap.%p.%n')}"]
            if a.sample_bytes is not None:
                conf.append(f"prof.sample_bytes:{a.sample_bytes}")
        env = dict(os.environ)
        user = env.get("HAKMEM_CONF")
        env["HAKMEM_CONF"] = ",".join(([user] if user else []) + conf + list(a.conf))
        env["LD_PRELOAD"] = lib + (":" + env["LD_PRELOAD"] if env.get("LD_PRELOAD") else "")
        try:
            child = subprocess.Popen(cmd, env=env)
        except FileNotFoundError:
            raise HakprofError(f"cannot run '{cmd[0]}': command not found", 127)
        except PermissionError:
            raise HakprofError(f"cannot run '{cmd[0]}': permission denied", 126)
        except OSError as e:
            raise HakprofError(f"cannot run '{cmd[0]}': {e.strerror}", 126)
        while True:
            try:
                rc = child.wait()
                break
            except KeyboardInterrupt:
                continue  # the child got the SIGINT too; wait for it
        status = rc if rc >= 0 else 128 - rc
        heaps = move_heaps(tmp, out, child.pid) if a.heap else {}
        procs = []
        for name in os.listdir(tmp):
            try:
                p = load(os.path.join(tmp, name))["processes"]
            except HakprofError as e:
                warn(str(e))
                continue
            procs.extend(p)
        procs.sort(key=lambda p: (p["pid"] != child.pid, p["pid"]))
        if not procs:
            warn(f"no statistics were dumped (the command did not exit normally, "
                 f"or did not load {lib}: a static or setuid program?)")
            return status
        prof = {"hakprof": FILE_FORMAT, "command": cmd, "exit_status": status, "library": lib,
                "conf": env["HAKMEM_CONF"], "processes": procs}
        if heaps:
            prof["heap_profiles"] = {str(pid): path for pid, path in heaps.items()}
        try:
            with open(out, "w") as f:
                json.dump(prof, f)
                f.write("\n")
        except OSError as e:
            raise HakprofError(f"cannot write {out}: {e.strerror}")
        print(summary(prof, out), file=sys.stderr)
        if a.heap:
            print(heap_summary(heaps, child.pid), file=sys.stderr)
        return status
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
