"""`make demo-scenario` as a test: the whole billing cycle on the demo's real parts."""

from __future__ import annotations

from pathlib import Path

from tests.demo.scenario import STEPS, run_scenario


def test_demo_scenario_lives_the_whole_cycle(tmp_path: Path, socket_enabled: None) -> None:
    assert run_scenario(tmp_path) == list(STEPS)
