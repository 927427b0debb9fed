"""The gas budgets of the hot paths hold on real receipts (a fresh anvil, the benchmark's steps).

The test compares; only `make bench` rewrites the committed snapshot.
"""

from __future__ import annotations

import pytest

from tests.bench.bench_gas import TARGETS, load_snapshot, measure, pinned_anvil

# How much dearer than the committed snapshot a hot path may get before the test fails.
REGRESSION = 1.05


@pytest.mark.usefixtures("socket_enabled")
def test_hot_paths_within_gas_budget() -> None:
    with pinned_anvil() as anvil:
        gas = measure(anvil)
    assert set(gas) == set(TARGETS)
    over = {
        metric: (gas[metric], target[0])
        for metric, target in TARGETS.items()
        if target is not None and gas[metric] > target[0]
    }
    assert not over, over
    snapshot = load_snapshot()
    assert set(snapshot) == set(gas)
    dearer = {
        metric: (gas[metric], snapshot[metric])
        for metric, target in TARGETS.items()
        if target is not None and gas[metric] > snapshot[metric] * REGRESSION
    }
    assert not dearer, f"dearer than the committed snapshot (make bench rewrites it): {dearer}"
