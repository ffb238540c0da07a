"""hakprof show: a readable report of a dump."""

import json

from . import memory
from .common import fmt_pct, human, table
from .dumps import (BYTE_KEYS, GLOBAL_KEYS, capacities, class_derived, load, overall_hits,
                    pick_process, plain_tunables, totals)


def cmd_show(a):
    prof = load(a.file)
    proc = pick_process(prof, a.pid)
    snaps = proc["snapshots"]
    s = snaps[-1]
    tot = totals(s)
    caps = capacities(s)
    if a.json:
        classes = []
        for c in s.get("classes", []):
            row = dict(c)
            row.update(class_derived(c))
            if c["class"] in caps:
                row["tcache_capacity"] = caps[c["class"]]
            classes.append(row)
        ch, wh = overall_hits(s)
        out = {"file": a.file, "command": prof.get("command"), "exit_status": prof.get("exit_status"),
               "pid": proc["pid"], "processes": [p["pid"] for p in prof["processes"]],
               "snapshots": len(snaps), "version": s.get("version"), "uptime_ms": s.get("uptime_ms"),
               "totals": tot, "resident_peak": max(x["stats"].get("resident", 0) for x in snaps),
               "memory": {"peak": memory.breakdown(memory.peak_snapshot(snaps)),
                          "last": memory.breakdown(s), "figures": memory.figures(snaps)},
               "cache_hit_pct": ch, "warm_pool_hit_pct": wh, "classes": classes,
               "large": s.get("large"), "tunables": s.get("tunables"), "config": s.get("config")}
        print(json.dumps(out, indent=2))
        return 0
    print(f"hakmem {s.get('version', '?')} statistics from {a.file}")
    if prof.get("command"):
        print(f"command: {' '.join(prof['command'])}   exit status: {prof.get('exit_status')}")
    others = [str(p["pid"]) for p in prof["processes"] if p is not proc]
    print(f"process {proc['pid']}: {len(snaps)} snapshot{'s' if len(snaps) != 1 else ''}, "
          f"showing the last (at {s.get('uptime_ms', 0) / 1000:.3f} s)"
          + (f"; other processes in the file: {', '.join(others)} (--pid)" if others else ""))
    print()
    print(memory.report(snaps))
    print()
    print("Totals")
    rows = []
    for k in GLOBAL_KEYS + ["rss"]:
        v = tot.get(k)
        if v is None:
            continue
        rows.append([k, str(v), human(v) if k in BYTE_KEYS else ""])
    if len(snaps) > 1:
        peak = max(x["stats"].get("resident", 0) for x in snaps)
        rows.append(["resident peak", str(peak), human(peak)])
    ch, wh = overall_hits(s)
    rows.append(["cache hit", fmt_pct(ch), "mallocs served by the thread cache"])
    rows.append(["warm-pool hit", fmt_pct(wh), "warm-pool hits / (hits + misses)"])
    print(table(rows, ["", "value", ""], ["l", "r", "l"]))
    print()
    cls = s.get("classes")
    if cls is not None:
        print(f"Per-class ({len(cls)} classes with activity)")
        rows = []
        for c in cls:
            d = class_derived(c)
            rows.append([c["class"], c["size"], c.get("allocs", 0), c.get("frees", 0), c.get("live", 0),
                         c.get("refills", 0), fmt_pct(d["cache_hit_pct"]), c.get("warm_pool_hits", 0),
                         c.get("warm_pool_misses", 0), fmt_pct(d["warm_pool_hit_pct"]),
                         c.get("warm_pool_prefilled", 0), c.get("slabs", 0), c.get("remote_frees", 0),
                         caps.get(c["class"], "-")])
        print(table(rows, ["class", "size", "allocs", "frees", "live", "refills", "cache hit",
                           "wp hits", "wp misses", "wp hit", "prefilled", "slabs", "remote", "tcache cap"]))
        print()
    if "large" in s:
        lg = s["large"]
        print("Large blocks")
        rows = [[k, str(v), human(v) if k.endswith("_bytes") else ""] for k, v in lg.items()]
        print(table(rows, ["", "value", ""], ["l", "r", "l"]))
        print()
    if "tunables" in s:
        print("Tunables in effect")
        rows = [[k, json.dumps(v) if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)]
                for k, v in plain_tunables(s).items()]
        print(table(rows, ["name", "value"], ["l", "l"]))
        if caps:
            print("  (tcache.c<N>.capacity: column 'tcache cap' above)")
    return 0
