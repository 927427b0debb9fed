"""Benchmarks: each `bench_<area>.py` module here exposes `run() -> list[Row]`.

`make bench` (python -m tests.bench) runs them all and prints one table. Benchmarks measure;
tests assert. Nothing here is collected by pytest.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Row:
    """One measured figure."""

    area: str
    metric: str
    value: float
    unit: str
    target: str = ""
