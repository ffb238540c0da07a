"""hakprof plot: SVG (and PNG) charts of a dump."""

import math
import os

from .common import HakprofError
from .dumps import class_derived, load, overall_hits, pick_process
from . import memory
from .svg import Svg, fit_text, fmt_tick, nice_ticks, panel_frame, size_label, write_svg

PALETTE = {"allocs": "#4472c4", "cache": "#ed7d31", "warm": "#70ad47", "resident": "#c00000",
           "allocated": "#4472c4", "mapped": "#7f7f7f"}


def plot_class_bars(svg, x0, y0, w, h, classes):
    panel_frame(svg, x0, y0, w, h, "Allocations per size class (last snapshot)",
                "malloc calls (log scale)", "size class (block size in bytes)")
    vmax = max([c.get("allocs", 0) for c in classes] + [1])
    top = 10 ** math.ceil(math.log10(max(vmax, 10)))
    ly = lambda v: y0 + h - (math.log10(v) / math.log10(top)) * h if v >= 1 else y0 + h
    e = 0
    while 10 ** e <= top:
        y = ly(10 ** e)
        svg.line(x0, y, x0 + w, y, "#ddd", dash="3,3")
        svg.text(x0 - 6, y + 4, fmt_tick(10 ** e), 11, "end")
        e += 1
    n = max(len(classes), 1)
    bw = w / n
    for i, c in enumerate(classes):
        v = c.get("allocs", 0)
        x = x0 + i * bw
        svg.rect(x + bw * 0.15, ly(v), bw * 0.7, y0 + h - ly(v), PALETTE["allocs"],
                 f"class {c['class']} ({c['size']} B): {v} allocations")
        svg.text(x + bw / 2, y0 + h + 14, size_label(c["size"]), 10, "end", rotate=-45)
    svg.legend(x0, y0 - 10, [("malloc calls of the class", PALETTE["allocs"])])


def plot_class_hits(svg, x0, y0, w, h, classes):
    panel_frame(svg, x0, y0, w, h, "Hit rates per size class (last snapshot)",
                "hit rate (%)", "size class (block size in bytes)")
    for t in range(0, 101, 20):
        y = y0 + h - t / 100 * h
        svg.line(x0, y, x0 + w, y, "#ddd", dash="3,3")
        svg.text(x0 - 6, y + 4, f"{t}%", 11, "end")
    n = max(len(classes), 1)
    bw = w / n
    for i, c in enumerate(classes):
        d = class_derived(c)
        x = x0 + i * bw
        for j, (key, color, label) in enumerate([("cache_hit_pct", PALETTE["cache"], "thread-cache hit"),
                                                 ("warm_pool_hit_pct", PALETTE["warm"], "warm-pool hit")]):
            v = d[key]
            if v is None:
                continue
            bh = v / 100 * h
            svg.rect(x + bw * (0.1 + 0.4 * j), y0 + h - bh, bw * 0.38, bh, color,
                     f"class {c['class']} ({c['size']} B): {label} {v:.1f}%")
        svg.text(x + bw / 2, y0 + h + 14, size_label(c["size"]), 10, "end", rotate=-45)
    svg.legend(x0, y0 - 10, [("thread-cache hits / mallocs", PALETTE["cache"]),
                             ("warm-pool hits / (hits + misses) on refills", PALETTE["warm"])])


def y_axis(svg, x0, y0, w, h, top, ticks, ytick=None):
    """Grid lines and labels of the y axis; returns its top value."""
    top = max(top, ticks[-1])
    for t in ticks:
        y = y0 + h - t / top * h
        svg.line(x0, y, x0 + w, y, "#ddd", dash="3,3")
        svg.text(x0 - 6, y + 4, ytick(t) if ytick else fmt_tick(t), 11, "end")
    return top


def time_axis(svg, x0, y0, w, h, tmax):
    for t in nice_ticks(tmax, 6):
        if t > tmax * 1.001:
            break
        x = x0 + t / tmax * w
        svg.line(x, y0 + h, x, y0 + h + 4, "#333")
        svg.text(x, y0 + h + 18, f"{t:g}", 11, "middle")


def plot_series(svg, x0, y0, w, h, snaps, series, title, ylabel, ymax=None, ytick=None):
    ts = [s.get("uptime_ms", i) / 1000.0 for i, s in enumerate(snaps)]
    tmax = max(ts[-1], 1e-3)
    panel_frame(svg, x0, y0, w, h, title, ylabel, "time since start (s)")
    vals = [v for _, _, f in series for s in snaps for v in [f(s)] if v is not None]
    top = ymax if ymax is not None else max(vals + [1]) * 1.05
    ticks = nice_ticks(top) if ymax is None else list(range(0, int(ymax) + 1, 20))
    top = y_axis(svg, x0, y0, w, h, top, ticks, ytick)
    time_axis(svg, x0, y0, w, h, tmax)
    for label, color, f in series:
        pts = [(x0 + t / tmax * w, y0 + h - f(s) / top * h) for t, s in zip(ts, snaps) if f(s) is not None]
        if len(pts) > 1:
            svg.polyline(pts, color)
        for x, y in pts:
            svg.circle(x, y, 2.5, color)
    svg.legend(x0, y0 - 10, [(label, color) for label, color, _ in series])


def plot_breakdown(svg, x0, y0, w, h, snaps):
    """Where the resident memory goes: the parts stacked, over time (one
    bar for a single snapshot).  Snapshots without the breakdown are left
    out."""
    mib = 1024.0 * 1024.0
    have = [x for x in snaps if memory.breakdown(x)]
    series = len(have) > 1
    panel_frame(svg, x0, y0, w, h, "Where the resident memory goes" + (" over time" if series else ""),
                "memory (MiB)", "time since start (s)" if series else "")
    top = max(memory.breakdown(x)["resident"] for x in have) / mib * 1.05 or 1
    top = y_axis(svg, x0, y0, w, h, top, nice_ticks(top))
    ts = [x.get("uptime_ms", i) / 1000.0 for i, x in enumerate(have)]
    span = max(ts[-1], 1e-3)
    xs = [x0 + t / span * w for t in ts] if series else [x0 + w * 0.3, x0 + w * 0.7]
    base = [0.0] * len(have)
    for part in memory.PARTS:
        vals = [memory.breakdown(x).get(part, 0) / mib for x in have]
        upper = [b + v for b, v in zip(base, vals)]
        if not series:
            base, upper, vals = base * 2, upper * 2, vals * 2
        pts = [(x, y0 + h - u / top * h) for x, u in zip(xs, upper)] + \
              [(x, y0 + h - b / top * h) for x, b in reversed(list(zip(xs, base)))]
        svg.polygon(pts, memory.COLORS[part], f"{memory.LABELS[part]}: {vals[-1]:.1f} MiB (last)")
        base = upper[:len(have)]
    if series:
        time_axis(svg, x0, y0, w, h, span)
    res = [(x, y0 + h - memory.breakdown(s)["resident"] / mib / top * h) for x, s in zip(xs, have * (1 if series else 2))]
    svg.polyline(res, "#c00000", 1.5)
    items = [(memory.LABELS[p], memory.COLORS[p]) for p in memory.PARTS] + [("resident (RSS)", "#c00000")]
    svg.legend(x0, y0 + h + 76, items[:4])
    svg.legend(x0, y0 + h + 96, items[4:])


def cmd_plot(a):
    prof = load(a.file)
    proc = pick_process(prof, a.pid)
    snaps = proc["snapshots"]
    last = snaps[-1]
    classes = last.get("classes", [])
    if not classes:
        raise HakprofError(f"{a.file}: the dump has no per-class table (printed with opts 'c'?)")
    series = len(snaps) > 1
    parts = any(memory.breakdown(x) for x in snaps)
    W = 1000
    ph, gap = 260, 140
    H = 110 + (ph + gap) * ((4 if series else 2) + parts) + 50 * parts
    svg = Svg(W, H)
    cmd = " ".join(prof["command"]) if prof.get("command") else os.path.basename(a.file)
    svg.text(W / 2, 28, fit_text("hakmem profile: " + " ".join(cmd.split()), (W - 40) / 10.5), 18,
             "middle", "bold")
    svg.text(W / 2, 48, f"pid {proc['pid']}, {len(snaps)} snapshot{'s' if len(snaps) != 1 else ''}, "
                        f"hakmem {last.get('version', '?')}"
                        + ("" if parts else "; memory breakdown unavailable (no \"memory\" object)"),
             12, "middle", color="#555")
    x0, pw = 90, W - 130
    y = 120
    if parts:
        plot_breakdown(svg, x0, y, pw, ph, snaps)
        y += ph + gap + 50  # its legend has two rows, below it
    plot_class_bars(svg, x0, y, pw, ph, classes)
    y += ph + gap
    plot_class_hits(svg, x0, y, pw, ph, classes)
    if series:
        mib = 1024.0 * 1024.0
        y += ph + gap
        plot_series(svg, x0, y, pw, ph, snaps,
                    [("resident (RSS)", PALETTE["resident"], lambda s: s["stats"].get("resident", 0) / mib),
                     ("mapped by hakmem", PALETTE["mapped"], lambda s: s["stats"].get("mapped", 0) / mib),
                     ("allocated (live blocks)", PALETTE["allocated"], lambda s: s["stats"].get("allocated", 0) / mib)],
                    "Memory over time", "memory (MiB)")
        y += ph + gap
        plot_series(svg, x0, y, pw, ph, snaps,
                    [("thread-cache hit rate (cumulative)", PALETTE["cache"], lambda s: overall_hits(s)[0]),
                     ("warm-pool hit rate (cumulative)", PALETTE["warm"], lambda s: overall_hits(s)[1])],
                    "Hit rates over time", "hit rate (%)", ymax=100, ytick=lambda t: f"{t:g}%")
    write_svg(a.output, svg.render(), png=not a.no_png)
    return 0
