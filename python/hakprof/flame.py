"""A flame graph of a heap profile, as SVG: the program's call tree from
the bottom (all stacks) up to the allocating functions, each box as wide as
the bytes allocated below it (in use, or allocated with --alloc)."""

import zlib

from .common import human
from .svg import Svg, fit_text

ROW = 18
FONT = 11
CHAR_W = 6.4  # average advance of an 11 px sans-serif character


class Node:
    __slots__ = ("name", "detail", "bytes", "blocks", "children")

    def __init__(self, name, detail=""):
        self.name, self.detail = name, detail
        self.bytes = self.blocks = 0.0
        self.children = {}


def tree(items):
    """items: (frames innermost first, bytes, blocks)."""
    root = Node("all")
    for frames, nbytes, blocks in items:
        if nbytes <= 0:
            continue
        root.bytes += nbytes
        root.blocks += blocks
        node = root
        for fr in reversed(frames):
            key = fr.key()
            child = node.children.get(key)
            if child is None:
                child = node.children[key] = Node(fr.function, fr.where())
            child.bytes += nbytes
            child.blocks += blocks
            node = child
    return root


MIN_W = 1.5        # narrower boxes are not drawn
MIN_ROW_SHARE = 0.05  # rows above the last one that holds 5% of the bytes are left out


def depth(root):
    """Rows drawn: up to the last level whose boxes hold MIN_ROW_SHARE of the
    bytes, so that narrow, deep stacks do not make the picture tall
    and empty (their tops are in hakprof heap --stacks)."""
    level, nodes, rows = 0, [root], 1
    while nodes:
        if sum(n.bytes for n in nodes) >= MIN_ROW_SHARE * root.bytes:
            rows = level + 1
        nodes = [c for n in nodes for c in n.children.values()]
        level += 1
    return rows


def color(name):
    """A warm colour from the name, stable across runs (flamegraph.pl's 'hot')."""
    h = zlib.crc32(name.encode())
    r = 205 + h % 50
    g = 80 + (h >> 8) % 150
    b = (h >> 16) % 55
    return f"#{r:02x}{g:02x}{b:02x}"


def render(root, title, subtitle, width=1200):
    x0, usable = 10, width - 20
    total = root.bytes or 1.0
    rows = depth(root)
    top = 70
    height = top + rows * ROW + 40
    svg = Svg(width, height)
    svg.text(width / 2, 26, fit_text(title, (width - 40) / 8.4), 16, "middle", "bold")
    svg.text(width / 2, 46, fit_text(subtitle, (width - 40) / CHAR_W), 12, "middle", color="#555")

    def draw(node, x, level):
        w = usable * node.bytes / total
        if w < MIN_W or level >= rows:
            return
        y = top + (rows - 1 - level) * ROW
        where = f" {node.detail}" if node.detail else ""
        tip = (f"{node.name}{where}: {human(node.bytes)} ({100 * node.bytes / total:.1f}%), "
               f"{node.blocks:.0f} blocks" + (", and deeper frames" if level == rows - 1 and node.children else ""))
        svg.rect(x, y, w - 0.5, ROW - 1, "#dddddd" if node is root else color(node.name), tip)
        label = fit_text(node.name + where, (w - 6) / CHAR_W)
        if label:
            svg.text(x + 3, y + ROW - 5, label, FONT)
        cx = x
        for child in sorted(node.children.values(), key=lambda c: (-c.bytes, c.name)):
            draw(child, cx, level + 1)
            cx += usable * child.bytes / total

    draw(root, x0, 0)
    svg.text(width - 10, height - 14, "width: bytes; bottom: all stacks; top: the allocating functions",
             11, "end", color="#555")
    return svg.render()
