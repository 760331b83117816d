"""Level tables per band: tone curves (`curve_`, thumbor's curve()), points made into 256-level
tables as thumbor 7.8 makes them, so the same URL gives the same levels, and thumbor's
colorize() (`colorize_`).

A curve is a natural cubic spline through its points (second derivative 0 at both ends),
solved as a tridiagonal system, evaluated at each whole level from the first point's x to the
last one's and rounded half away from zero into 0..255; levels below the first point take its
y, levels from the last point on take the last y. One point is a constant. The arithmetic
follows thumbor's C step by step (same operations, same order), since a level that lands on .5
rounds by the last bit.
"""

from __future__ import annotations

import math
from functools import lru_cache

from transforms.options import IDENTITY_CURVE, Curve, Points

LEVELS = 256


def _second_derivatives(points: Points) -> list[float]:
    """The spline's second derivative at each point: Gaussian elimination of the tridiagonal
    system whose first and last rows pin them to 0."""
    n = len(points)
    lower = [0.0] * n
    diagonal = [0.0] * n
    upper = [0.0] * n
    rhs = [0.0] * n
    diagonal[0] = 1.0
    for i in range(1, n - 1):
        (x0, y0), (x1, y1), (x2, y2) = points[i - 1], points[i], points[i + 1]
        lower[i] = (x1 - x0) / 6
        diagonal[i] = (x2 - x0) / 3
        upper[i] = (x2 - x1) / 6
        rhs[i] = (y2 - y1) / (x2 - x1) - (y1 - y0) / (x1 - x0)
    diagonal[n - 1] = 1.0
    for i in range(1, n):
        k = lower[i] / diagonal[i - 1]
        diagonal[i] -= k * upper[i - 1]
        lower[i] = 0.0
        rhs[i] -= k * rhs[i - 1]
    for i in range(n - 2, -1, -1):
        k = upper[i] / diagonal[i + 1]
        diagonal[i] -= k * lower[i + 1]
        upper[i] = 0.0
        rhs[i] -= k * rhs[i + 1]
    return [rhs[i] / diagonal[i] for i in range(n)]


@lru_cache(maxsize=256)
def table(points: Points) -> tuple[int, ...]:
    """The 256-level table of one curve (points with x strictly increasing, 0..255)."""
    levels = [points[0][1]] * LEVELS
    if len(points) > 1:
        derivatives = _second_derivatives(points)
        for i in range(len(points) - 1):
            (x0, y0), (x1, y1) = points[i], points[i + 1]
            h = x1 - x0
            for x in range(x0, x1):
                b = (x - x0) / h
                a = 1 - b
                y = (a * y0 + b * y1
                     + (h * h / 6) * ((a * a * a - a) * derivatives[i]
                                      + (b * b * b - b) * derivatives[i + 1]))
                levels[x] = min(255, max(0, _round_half_away(y)))
    last_x, last_y = points[-1]
    for x in range(last_x, LEVELS):
        levels[x] = last_y
    return tuple(levels)


def _round_half_away(value: float) -> int:
    # C's round(): halves away from zero (Python's round() goes to even).
    return math.floor(abs(value) + 0.5) * (1 if value >= 0 else -1)


def band_tables(curve: Curve) -> tuple[tuple[int, ...], ...]:
    """The red, green and blue tables as applied: each band's own curve, then `all`."""
    overall = table(curve.all)
    return tuple(tuple(overall[v] for v in table(points))
                 for points in (curve.red, curve.green, curve.blue))


def colorize_tables(red: int, green: int, blue: int, colour: str) -> tuple[tuple[int, ...], ...]:
    """thumbor's colorize(): each band `percent` of the way from its level to the colour's,
    cut down to a whole level (its C's int assignment; the numerator is whole, so exact)."""
    fill = [int(colour[i:i + 2], 16) for i in (0, 2, 4)]
    return tuple(tuple(min(255, (level * (100 - pct) + f * pct) // 100) for level in range(LEVELS))
                 for pct, f in zip((red, green, blue), fill, strict=True))


def is_identity(points: Points) -> bool:
    """Whether the curve leaves every level as it is."""
    return points == IDENTITY_CURVE or table(points) == tuple(range(LEVELS))
