"""The compatibility step of `make test` fails, and says why, when a requirement cannot install."""

from __future__ import annotations

import json
import re

import pytest

from tests.ha_compat import MANIFEST, TARGET_PYTHON, main


def test_a_requirement_without_a_wheel_fails_the_check(capsys: pytest.CaptureFixture[str]) -> None:
    # coincurve 21.0.0 publishes no wheel for Python 3.14.
    assert main(["--requirement", "web3==8.0.0", "--requirement", "coincurve==21.0.0"]) == 1
    err = capsys.readouterr().err
    assert re.search(rf"Home Assistant \d{{4}}\.\d+\.\d+ \(Python {TARGET_PYTHON}\)", err), err
    assert "No matching distribution found for coincurve==21.0.0" in err
    assert "Requires-Python" not in err  # pip's noise about unrelated releases is left out


def test_coincurve_is_no_requirement_of_the_integration() -> None:
    names = [r.partition("==")[0] for r in json.loads(MANIFEST.read_text())["requirements"]]
    assert names == ["web3", "serialx"]
