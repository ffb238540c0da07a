"""A small SVG writer, axis helpers, and the PNG conversion."""

import math
import os
import shutil
import subprocess
from xml.sax.saxutils import escape as xml_escape

from .common import HakprofError, warn


class Svg:
    def __init__(self, width, height):
        self.w, self.h = width, height
        self.parts = []

    def add(self, s):
        self.parts.append(s)

    def text(self, x, y, s, size=12, anchor="start", weight="normal", rotate=None, color="#222"):
        tr = f' transform="rotate({rotate} {x:.1f} {y:.1f})"' if rotate is not None else ""
        self.add(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
                 f'font-weight="{weight}" fill="{color}"{tr}>{xml_escape(str(s))}</text>')

    def line(self, x1, y1, x2, y2, color="#999", width=1, dash=None):
        d = f' stroke-dasharray="{dash}"' if dash else ""
        self.add(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{color}" '
                 f'stroke-width="{width}"{d}/>')

    def rect(self, x, y, w, h, color, title=None):
        t = f"<title>{xml_escape(title)}</title>" if title else ""
        self.add(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" '
                 f'fill="{color}">{t}</rect>')

    def polyline(self, pts, color, width=2):
        p = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        self.add(f'<polyline points="{p}" fill="none" stroke="{color}" stroke-width="{width}"/>')

    def polygon(self, pts, color, title=None):
        t = f"<title>{xml_escape(title)}</title>" if title else ""
        p = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        self.add(f'<polygon points="{p}" fill="{color}" stroke="none">{t}</polygon>')

    def circle(self, x, y, r, color):
        self.add(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{color}"/>')

    def legend(self, x, y, items):
        """One row of swatches and labels, left to right from x."""
        for label, color in items:
            self.rect(x, y - 10, 12, 12, color)
            self.text(x + 18, y, label, 12)
            x += 18 + 7.2 * len(label) + 24

    def render(self):
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
                f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.w}" height="{self.h}" '
                f'viewBox="0 0 {self.w} {self.h}" font-family="DejaVu Sans, Arial, sans-serif">\n'
                f'<rect x="0" y="0" width="{self.w}" height="{self.h}" fill="white"/>\n'
                + "\n".join(self.parts) + "\n</svg>\n")


def size_label(n):
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024}K"
    if n >= 1024:
        return f"{n / 1024:.1f}K"
    return str(n)


def nice_ticks(vmax, n=5):
    if vmax <= 0:
        return [0, 1]
    raw = vmax / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    ticks, t = [], 0.0
    while t < vmax + step * 0.5:
        ticks.append(t)
        t += step
    return ticks


def fmt_tick(v):
    return f"{v:g}" if v < 1e6 else f"{v:.3g}"


def panel_frame(svg, x0, y0, w, h, title, ylabel, xlabel):
    svg.text(x0 + w / 2, y0 - 34, title, 15, "middle", "bold")
    svg.line(x0, y0 + h, x0 + w, y0 + h, "#333")
    svg.line(x0, y0, x0, y0 + h, "#333")
    svg.text(x0 - 58, y0 + h / 2, ylabel, 12, "middle", rotate=-90)
    svg.text(x0 + w / 2, y0 + h + 52, xlabel, 12, "middle")


def find_converter():
    if shutil.which("rsvg-convert"):
        return ("rsvg-convert", lambda s, p: ["rsvg-convert", "-b", "white", "-o", p, s])
    if shutil.which("convert"):
        try:
            r = subprocess.run(["convert", "-version"], capture_output=True, text=True, timeout=10)
            if "ImageMagick" in r.stdout:
                return ("ImageMagick convert", lambda s, p: ["convert", s, p])
        except (OSError, subprocess.SubprocessError):
            pass
    return None


def fit_text(s, chars):
    """s cut to at most chars characters (an ellipsis marks the cut); "" if
    not even three fit."""
    chars = int(chars)
    if len(s) <= chars:
        return s
    return s[:chars - 1] + "\u2026" if chars >= 3 else ""


def write_svg(out, text, png=True):
    """Writes OUT.svg (out, or out with .svg for its extension) and, if a
    converter is there, the PNG beside it; says what it wrote."""
    svg_path = out if out.endswith(".svg") else os.path.splitext(out)[0] + ".svg"
    try:
        with open(svg_path, "w") as f:
            f.write(text)
    except OSError as e:
        raise HakprofError(f"cannot write {svg_path}: {e.strerror}")
    print(f"wrote {svg_path}")
    if not png:
        return
    png_path = out if out.endswith(".png") else os.path.splitext(svg_path)[0] + ".png"
    conv = find_converter()
    if not conv:
        print("no PNG: neither rsvg-convert nor ImageMagick's convert was found")
        return
    name, argv = conv
    r = subprocess.run(argv(svg_path, png_path), capture_output=True, text=True)
    if r.returncode != 0:
        warn(f"{name} failed: {r.stderr.strip()}; the SVG is fine")
    else:
        print(f"wrote {png_path} ({name})")
