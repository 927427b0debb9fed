"""The gas budgets of the hot paths hold on real receipts (a fresh anvil, the benchmark's steps)."""

from __future__ import annotations

import pytest

from tests.anvil import Anvil
from tests.bench.bench_gas import TARGETS, measure


@pytest.mark.usefixtures("socket_enabled")
def test_hot_paths_within_gas_budget() -> None:
    with Anvil() as anvil:
        gas = measure(anvil)
    assert set(gas) == set(TARGETS)
    over = {
        metric: (gas[metric], target[0])
        for metric, target in TARGETS.items()
        if target is not None and gas[metric] > target[0]
    }
    assert not over, over
