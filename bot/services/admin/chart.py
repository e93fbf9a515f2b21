"""The 30-day chart: orders per day (bars, left axis) and revenue (line, right axis), drawn with Pillow.

A real font (DejaVu Sans when installed: Latin and Cyrillic, the Docker image has it; Pillow's own
font otherwise), a title, both axes labelled, a legend, and a "no data" picture for a quiet month.
The words come in the admin's language (`ChartLabels`, built by bot/views/admin.py).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 900, 460
LEFT, RIGHT, TOP, BOTTOM = 80, 90, 70, 70
FONT_FILE = "DejaVuSans.ttf"  # Pillow finds it in the system's font folders

WHITE = (255, 255, 255)
GRID = (226, 230, 236)
AXIS = (90, 96, 105)
TEXT = (60, 64, 72)
BAR = (76, 120, 168)
LINE = (245, 133, 24)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@dataclass(frozen=True)
class ChartLabels:
    """Every word on the picture, already translated."""

    title: str
    orders: str  # the left axis and the bars' legend entry
    revenue: str  # the right axis and the line's legend entry
    days: str  # the bottom axis
    no_data: str


@cache
def font(size: int) -> Font:
    try:
        return ImageFont.truetype(FONT_FILE, size)
    except OSError:  # no DejaVu on this machine: Pillow's bundled font (Latin only)
        return ImageFont.load_default(size)


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


def render_chart(
    days: Sequence[date], orders: Sequence[int], revenue: Sequence[Decimal], labels: ChartLabels
) -> bytes:
    """The PNG: one bar per day (orders), a line with dots (revenue), axes, title and legend."""
    image = Image.new("RGB", (WIDTH, HEIGHT), WHITE)
    draw = ImageDraw.Draw(image)
    draw.text((WIDTH // 2, 22), labels.title, fill=TEXT, font=font(20), anchor="mm")
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    base = TOP + plot_h
    if not days or (not any(orders) and not any(revenue)):
        draw.rectangle((LEFT, TOP, LEFT + plot_w, base), outline=GRID)
        draw.text((WIDTH // 2, TOP + plot_h // 2), labels.no_data, fill=AXIS, font=font(18), anchor="mm")
        return _png(image)

    _legend(draw, labels)
    lines = 4
    # Whole orders per grid line; revenue may step by fractions.
    orders_max = Decimal(math.ceil(nice_ceiling(Decimal(max(orders, default=0)) / lines))) * lines
    revenue_max = nice_ceiling(max(revenue, default=Decimal(0)) / lines) * lines
    small = font(12)
    for i in range(lines + 1):
        y = base - round(plot_h * i / lines)
        draw.line((LEFT, y, LEFT + plot_w, y), fill=GRID if i else AXIS)
        draw.text((LEFT - 8, y), axis_label(orders_max * i / lines), fill=BAR, font=small, anchor="rm")
        draw.text(
            (LEFT + plot_w + 8, y), axis_label(revenue_max * i / lines), fill=LINE, font=small, anchor="lm"
        )
    draw.line((LEFT, TOP, LEFT, base), fill=AXIS)
    draw.line((LEFT + plot_w, TOP, LEFT + plot_w, base), fill=AXIS)
    axis_font = font(13)
    _vertical_text(image, (20, TOP + plot_h // 2), labels.orders, BAR, axis_font, angle=90)
    _vertical_text(image, (WIDTH - 20, TOP + plot_h // 2), labels.revenue, LINE, axis_font, angle=270)
    draw.text((LEFT + plot_w // 2, HEIGHT - 14), labels.days, fill=TEXT, font=axis_font, anchor="mm")

    slot = plot_w / len(days)
    bar_w = max(2, int(slot * 0.6))
    points: list[tuple[int, int]] = []
    for i, day in enumerate(days):
        centre = LEFT + round(slot * i + slot / 2)
        height = round(plot_h * orders[i] / float(orders_max)) if orders[i] else 0
        if height:
            draw.rectangle(
                (centre - bar_w // 2, base - height, centre - bar_w // 2 + bar_w - 1, base - 1), fill=BAR
            )
        points.append((centre, base - round(plot_h * float(revenue[i] / revenue_max))))
        if i % 5 == (len(days) - 1) % 5:  # label every fifth day, always the last one (today)
            draw.line((centre, base, centre, base + 5), fill=AXIS)
            draw.text(
                (centre, base + 16), f"{day.day:02d}.{day.month:02d}", fill=TEXT, font=small, anchor="mm"
            )
    if len(points) > 1:
        draw.line(points, fill=LINE, width=3, joint="curve")
    for x, y in points:
        draw.ellipse((x - 4, y - 4, x + 4, y + 4), fill=LINE)
    return _png(image)


def _legend(draw: ImageDraw.ImageDraw, labels: ChartLabels) -> None:
    legend_font = font(13)
    x, y = LEFT, 48
    draw.rectangle((x, y - 6, x + 14, y + 6), fill=BAR)
    draw.text((x + 20, y), labels.orders, fill=TEXT, font=legend_font, anchor="lm")
    x += 40 + round(draw.textlength(labels.orders, font=legend_font))
    draw.line((x, y, x + 18, y), fill=LINE, width=3)
    draw.ellipse((x + 5, y - 4, x + 13, y + 4), fill=LINE)
    draw.text((x + 24, y), labels.revenue, fill=TEXT, font=legend_font, anchor="lm")


def _vertical_text(
    image: Image.Image,
    centre: tuple[int, int],
    text: str,
    colour: tuple[int, int, int],
    face: Font,
    *,
    angle: int,
) -> None:
    """An axis title along the axis: drawn on its own strip, turned, pasted centred at `centre`."""
    left, top, right, bottom = face.getbbox(text)
    strip = Image.new("RGB", (int(right - left) + 4, int(bottom - top) + 4), WHITE)
    ImageDraw.Draw(strip).text((2 - left, 2 - top), text, fill=colour, font=face)
    turned = strip.rotate(angle, expand=True)
    image.paste(turned, (centre[0] - turned.width // 2, centre[1] - turned.height // 2))


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
