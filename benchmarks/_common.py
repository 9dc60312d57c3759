"""Helpers shared by the benchmarks: timing with warm-up, and side-by-side reports."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def best_of(fn: Callable[[], object], repeat: int = 7, warmup: int = 1) -> float:
    """The median wall time of ``fn`` in seconds over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def report(title: str, rows: list[tuple[str, float]], baseline: str) -> dict[str, float]:
    """Print times side by side with their ratio to ``baseline``; returns the ratios."""
    base = dict(rows)[baseline]
    print(f"\n{title}")
    ratios = {}
    for name, seconds in rows:
        ratios[name] = seconds / base
        print(f"  {name:<44} {seconds * 1e3:10.3f} ms   {ratios[name]:6.2f}x {baseline}")
    return ratios
