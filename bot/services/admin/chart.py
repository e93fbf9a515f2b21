"""A PNG chart of orders (bars, left axis) and revenue (line, right axis) per day, drawn by hand.

No plotting library: an RGB canvas, a 3×5 pixel font for the numbers, and the PNG container written
with zlib and struct. It keeps the bot free of a large native dependency (matplotlib pulls numpy,
pillow and fonts) for one picture, starts instantly, and cannot break on a headless server. The
words (title, legend) go in the photo's caption, in the admin's language.
"""

from __future__ import annotations

import itertools
import math
import struct
import zlib
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

WIDTH, HEIGHT = 900, 460
LEFT, RIGHT, TOP, BOTTOM = 70, 80, 30, 60
SCALE = 2  # font pixel size

WHITE = (255, 255, 255)
GRID = (226, 230, 236)
AXIS = (90, 96, 105)
TEXT = (60, 64, 72)
BAR = (76, 120, 168)
LINE = (245, 133, 24)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_FONT = {
    "0": ("111", "101", "101", "101", "111"),
    "1": ("010", "110", "010", "010", "111"),
    "2": ("111", "001", "111", "100", "111"),
    "3": ("111", "001", "111", "001", "111"),
    "4": ("101", "101", "111", "001", "001"),
    "5": ("111", "100", "111", "001", "111"),
    "6": ("111", "100", "111", "101", "111"),
    "7": ("111", "001", "001", "001", "001"),
    "8": ("111", "101", "111", "101", "111"),
    "9": ("111", "101", "111", "001", "111"),
    ".": ("000", "000", "000", "000", "010"),
    "-": ("000", "000", "111", "000", "000"),
    "k": ("100", "101", "110", "101", "101"),
    "M": ("101", "111", "111", "101", "101"),
    " ": ("000", "000", "000", "000", "000"),
}


class Canvas:
    def __init__(self, width: int, height: int, background: tuple[int, int, int] = WHITE) -> None:
        self.width = width
        self.height = height
        self.pixels = bytearray(bytes(background) * (width * height))

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: tuple[int, int, int]) -> None:
        """Fill [x0, x1) × [y0, y1), clipped to the canvas."""
        x0, x1 = max(0, min(x0, x1)), min(self.width, max(x0, x1))
        y0, y1 = max(0, min(y0, y1)), min(self.height, max(y0, y1))
        if x0 >= x1:
            return
        span = bytes(color) * (x1 - x0)
        for y in range(y0, y1):
            start = (y * self.width + x0) * 3
            self.pixels[start : start + len(span)] = span

    def line(self, x0: int, y0: int, x1: int, y1: int, color: tuple[int, int, int], width: int = 1) -> None:
        steps = max(abs(x1 - x0), abs(y1 - y0), 1)
        half = width // 2
        for i in range(steps + 1):
            x = round(x0 + (x1 - x0) * i / steps)
            y = round(y0 + (y1 - y0) * i / steps)
            self.rect(x - half, y - half, x - half + width, y - half + width, color)

    def text(
        self, x: int, y: int, text: str, color: tuple[int, int, int] = TEXT, *, align: str = "left"
    ) -> None:
        advance = 4 * SCALE
        if align == "right":
            x -= len(text) * advance - SCALE
        elif align == "center":
            x -= (len(text) * advance - SCALE) // 2
        for char in text:
            glyph = _FONT.get(char, _FONT[" "])
            for row, bits in enumerate(glyph):
                for col, bit in enumerate(bits):
                    if bit == "1":
                        px, py = x + col * SCALE, y + row * SCALE
                        self.rect(px, py, px + SCALE, py + SCALE, color)
            x += advance

    def png(self) -> bytes:
        stride = self.width * 3
        raw = b"".join(
            b"\x00" + bytes(self.pixels[y * stride : (y + 1) * stride]) for y in range(self.height)
        )
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            PNG_SIGNATURE
            + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(raw, 9))
            + _chunk(b"IEND", b"")
        )


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def nice_ceiling(value: Decimal) -> Decimal:
    """The smallest of 1, 2, 2.5, 5 × 10^k that is >= value (1 for nothing)."""
    if value <= 0:
        return Decimal(1)
    exponent = Decimal(10) ** math.floor(math.log10(float(value)))
    for step in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10)):
        if step * exponent >= value:
            return step * exponent
    return Decimal(10) * exponent  # pragma: no cover - the loop always returns


def axis_label(value: Decimal) -> str:
    if value >= 1_000_000:
        return f"{(value / 1_000_000).normalize():f}M"
    if value >= 10_000:
        return f"{(value / 1000).normalize():f}k"
    if value == value.to_integral_value():
        return str(int(value))
    return f"{value.normalize():f}"


def render_chart(days: Sequence[date], orders: Sequence[int], revenue: Sequence[Decimal]) -> bytes:
    """The PNG: one bar per day (orders), a line with dots (revenue), both axes labelled."""
    canvas = Canvas(WIDTH, HEIGHT)
    count = max(len(days), 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    base = TOP + plot_h
    lines = 4
    # Whole orders per grid line; revenue may step by fractions.
    orders_max = Decimal(math.ceil(nice_ceiling(Decimal(max(orders, default=0)) / lines))) * lines
    revenue_max = nice_ceiling(max(revenue, default=Decimal(0)) / lines) * lines
    for i in range(lines + 1):
        y = base - round(plot_h * i / lines)
        canvas.rect(LEFT, y, LEFT + plot_w, y + 1, GRID if i else AXIS)
        canvas.text(LEFT - 8, y - 5, axis_label(orders_max * i / lines), BAR, align="right")
        canvas.text(LEFT + plot_w + 8, y - 5, axis_label(revenue_max * i / lines), LINE)
    canvas.rect(LEFT, TOP, LEFT + 1, base + 1, AXIS)
    canvas.rect(LEFT + plot_w, TOP, LEFT + plot_w + 1, base + 1, AXIS)

    slot = plot_w / count
    bar_w = max(2, int(slot * 0.6))
    points: list[tuple[int, int]] = []
    for i, day in enumerate(days):
        centre = LEFT + round(slot * i + slot / 2)
        height = round(plot_h * orders[i] / float(orders_max)) if orders[i] else 0
        if height:
            canvas.rect(centre - bar_w // 2, base - height, centre - bar_w // 2 + bar_w, base, BAR)
        points.append((centre, base - round(plot_h * float(revenue[i] / revenue_max))))
        if i % 5 == (len(days) - 1) % 5:  # label every fifth day, always the last one (today)
            canvas.rect(centre, base, centre + 1, base + 5, AXIS)
            canvas.text(centre, base + 12, f"{day.day:02d}.{day.month:02d}", TEXT, align="center")
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        canvas.line(x0, y0, x1, y1, LINE, width=3)
    for x, y in points:
        canvas.rect(x - 3, y - 3, x + 4, y + 4, LINE)
    return canvas.png()
