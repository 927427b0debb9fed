"""Run every benchmark module and print one table."""

from __future__ import annotations

import importlib
from pathlib import Path
import sys
import time
import traceback

from tests.bench import Row


def _format(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.1f}"


def main(selected: list[str]) -> int:
    modules = sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))
    if selected:
        modules = [m for m in modules if any(s in m for s in selected)]
    rows: list[Row] = []
    failed: list[str] = []
    for name in modules:
        started = time.perf_counter()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            rows += importlib.import_module(f"tests.bench.{name}").run()
        except Exception as err:
            # The whole traceback: a bare AssertionError alone does not say which check failed.
            traceback.print_exc(file=sys.stderr)
            failed.append(f"{name}: {err!r}")
        print(f"  {name} took {time.perf_counter() - started:.1f} s", file=sys.stderr)
    header = ("area", "metric", "value", "unit", "target")
    table = [header, *[(r.area, r.metric, _format(r.value), r.unit, r.target) for r in rows]]
    widths = [max(len(str(line[i])) for line in table) for i in range(len(header))]
    for i, line in enumerate(table):
        print(" | ".join(str(cell).ljust(widths[j]) for j, cell in enumerate(line)))
        if i == 0:
            print("-+-".join("-" * w for w in widths))
    for failure in failed:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
