"""hakprof diff: two dumps side by side."""

from . import memory
from .common import change, fmt_pct, show_val, table
from .dumps import GLOBAL_KEYS, class_derived, load, totals

NOT_COMPARED = ("epoch", "stats.print_path")
CLASS_METRICS = ["allocs", "frees", "live", "refills", "cache_hit_pct", "cache_misses",
                 "warm_pool_hits", "warm_pool_misses", "warm_pool_hit_pct", "warm_pool_prefilled",
                 "flushes", "remote_frees", "slabs", "cached"]


def cmd_diff(a):
    pa, pb = load(a.a), load(a.b)
    sa, sb = pa["processes"][0]["snapshots"][-1], pb["processes"][0]["snapshots"][-1]
    print(f"A: {a.a} (pid {sa.get('pid')})")
    print(f"B: {a.b} (pid {sb.get('pid')})")
    print()
    ta, tb = totals(sa), totals(sb)
    print("Totals")
    rows = []
    for k in GLOBAL_KEYS + ["rss"]:
        va, vb = ta.get(k), tb.get(k)
        rows.append([k, show_val(va), show_val(vb), *change(va, vb)])
    # over the whole run, not the last snapshot: the peak and what was live then
    fa, fb = (memory.figures(p["processes"][0]["snapshots"]) for p in (pa, pb))
    for k in ("resident_peak", "live_at_peak"):
        rows.append([k.replace("_", " "), show_val(fa[k]), show_val(fb[k]), *change(fa[k], fb[k])])
    ka, kb = (memory.breakdown(memory.peak_snapshot(p["processes"][0]["snapshots"])) or {} for p in (pa, pb))
    for k in memory.PARTS:
        if k in ka or k in kb:
            rows.append([f"memory.{k} at peak", show_val(ka.get(k)), show_val(kb.get(k)),
                         *change(ka.get(k), kb.get(k))])
    for k in sorted(set(sa.get("large", {})) | set(sb.get("large", {}))):
        va, vb = sa.get("large", {}).get(k), sb.get("large", {}).get(k)
        rows.append(["large." + k, show_val(va), show_val(vb), *change(va, vb)])
    print(table(rows, ["", "A", "B", "change", "%"], ["l", "r", "r", "r", "r"]))
    print()
    tua, tub = sa.get("tunables", {}), sb.get("tunables", {})
    names = list(tua) + [k for k in tub if k not in tua]
    # the snapshot counter and hakprof's own temporary dump path say nothing
    names = [k for k in names if k not in NOT_COMPARED]
    changed = [k for k in names if tua.get(k) != tub.get(k)]
    shown = names if a.all else changed
    print(f"Tunables: {len(changed)} changed, {len(names) - len(changed)} the same"
          + ("" if a.all else " (--all lists them all)")
          + f"; not compared: {', '.join(NOT_COMPARED)}")
    if shown:
        rows = [[k, show_val(tua.get(k)), show_val(tub.get(k)), *change(tua.get(k), tub.get(k))]
                for k in shown]
        print(table(rows, ["name", "A", "B", "change", "%"], ["l", "r", "r", "r", "r"]))
    print()
    ca = {c["class"]: c for c in sa.get("classes", [])}
    cb = {c["class"]: c for c in sb.get("classes", [])}
    rows = []
    for n in sorted(set(ca) | set(cb)):
        ra, rb = dict(ca.get(n, {})), dict(cb.get(n, {}))
        ra.update(class_derived(ra))
        rb.update(class_derived(rb))
        size = ra.get("size", rb.get("size"))
        first = True
        for m in CLASS_METRICS:
            va, vb = ra.get(m, 0 if not m.endswith("_pct") else None), rb.get(m, 0 if not m.endswith("_pct") else None)
            if va == vb and not a.all:
                continue
            if m.endswith("_pct"):
                d = "" if va is None or vb is None else f"{vb - va:+.1f} pts"
                rows.append([n if first else "", size if first else "", m, fmt_pct(va), fmt_pct(vb), d, ""])
            else:
                rows.append([n if first else "", size if first else "", m, show_val(va), show_val(vb), *change(va, vb)])
            first = False
    print(f"Per-class changes ({'all metrics' if a.all else 'metrics that differ'})")
    if rows:
        print(table(rows, ["class", "size", "metric", "A", "B", "change", "%"],
                    ["r", "r", "l", "r", "r", "r", "r"]))
    else:
        print("  none")
    return 0
