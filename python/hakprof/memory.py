"""Where the resident memory goes: the "memory" object of a dump, and
figures over a run (peak, time-weighted means) that replace the old
single "overhead" of the last snapshot.

A dump's "memory" object has these keys, bytes, in this order: "resident"
(the process's RSS from the OS), then the parts that add up to it: "live"
(bytes in live blocks), "thread_caches" (free blocks held in thread
caches), "slab_free" (free bytes inside partly used slabs: fragmentation),
"dirty" (free pages not yet returned to the OS), "large_cache" (free
2 MiB chunks kept mapped: freed huge blocks and SuperSlabs), "metadata", and "other" (the rest: the
program's own mappings, stacks, code).  Dumps of older versions have no
such object: the breakdown is then unavailable, and the figures fall back
on stats.allocated for the live bytes."""

from .common import fmt_pct, human, pct, table

PARTS = ["live", "thread_caches", "slab_free", "dirty", "large_cache", "metadata", "other"]
LABELS = {"live": "live blocks", "thread_caches": "thread caches", "slab_free": "free in partly used slabs",
          "dirty": "free pages not yet returned", "large_cache": "free chunks cached",
          "metadata": "metadata", "other": "other (program, stacks, code)"}
COLORS = {"live": "#4472c4", "thread_caches": "#ed7d31", "slab_free": "#ffc000", "dirty": "#a5a5a5",
          "large_cache": "#70ad47", "metadata": "#7030a0", "other": "#d9d9d9"}


def breakdown(s):
    """The snapshot's memory object, or None."""
    m = s.get("memory")
    if isinstance(m, dict) and isinstance(m.get("resident"), int):
        return m
    return None


def resident(s):
    m = breakdown(s)
    return m["resident"] if m else s["stats"].get("resident", s.get("rss", 0))


def live(s):
    m = breakdown(s)
    return m.get("live", 0) if m else s["stats"].get("allocated", 0)


def peak_snapshot(snaps):
    return max(snaps, key=resident)


def figures(snaps):
    """Peak and over-time figures of a process's snapshots."""
    p = peak_snapshot(snaps)
    out = {"resident_peak": resident(p), "resident_peak_at_ms": p.get("uptime_ms"),
           "live_at_peak": live(p), "not_live_at_peak_pct": pct(resident(p) - live(p), resident(p)),
           "live_peak": max(live(s) for s in snaps)}
    if len(snaps) > 1:
        # time-weighted: each snapshot stands for the time to the next
        ts = [s.get("uptime_ms", i) for i, s in enumerate(snaps)]
        w = [max(b - a, 0) for a, b in zip(ts, ts[1:])] + [0]
        tw = sum(w) or 1
        out["resident_mean"] = sum(resident(s) * x for s, x in zip(snaps, w)) / tw
        out["live_mean"] = sum(live(s) * x for s, x in zip(snaps, w)) / tw
        out["not_live_mean_pct"] = pct(out["resident_mean"] - out["live_mean"], out["resident_mean"])
    return out


def rows(s):
    """Table rows of a snapshot's breakdown: part, bytes, readable, share."""
    m = breakdown(s)
    res = m["resident"]
    out = [["resident", str(res), human(res), "100.0%"]]
    for k in PARTS:
        if k in m:
            out.append(["  " + LABELS[k], str(m[k]), human(m[k]), f"{100.0 * m[k] / res:.1f}%" if res else "-"])
    return out


def report(snaps):
    """The lines hakprof show prints first."""
    lines = ["Where the memory goes"]
    last, peak = snaps[-1], peak_snapshot(snaps)
    if breakdown(last) is None and breakdown(peak) is None:
        lines.append("  breakdown unavailable: these dumps have no \"memory\" object (an older hakmem)")
    else:
        picks = [("at the resident peak", peak)] if len(snaps) > 1 and peak is not last else []
        picks.append(("last snapshot" if len(snaps) > 1 else "at exit" if last.get("uptime_ms") else "", last))
        for label, s in picks:
            if breakdown(s) is None:
                lines.append(f"  {label}: breakdown unavailable")
                continue
            when = f"{s.get('uptime_ms', 0) / 1000:.3f} s"
            lines.append(f"  {label} ({when})" if label else f"  at {when}")
            lines.append(table(rows(s), ["", "bytes", "", "share"], ["l", "r", "r", "r"]))
    f = figures(snaps)
    lines.append(f"  resident peak {human(f['resident_peak'])} at {(f['resident_peak_at_ms'] or 0) / 1000:.3f} s, "
                 f"{human(f['live_at_peak'])} live then: {fmt_pct(f['not_live_at_peak_pct'])} of the peak is not "
                 f"live blocks")
    if "resident_mean" in f:
        lines.append(f"  over the run (time-weighted): resident {human(f['resident_mean'])}, live "
                     f"{human(f['live_mean'])}, {fmt_pct(f['not_live_mean_pct'])} not live; live peak "
                     f"{human(f['live_peak'])}")
    return "\n".join(lines)
