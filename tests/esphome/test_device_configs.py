"""Every device YAML validates with `esphome config`, offline, against the example secrets."""

from __future__ import annotations

from pathlib import Path
import shutil
import subprocess

import pytest

from tests.esphome.simulator import CONFIG_DIR, esphome_executable

DEVICE_FILES = sorted(
    path.name for path in CONFIG_DIR.glob("*.yaml") if path.name != "secrets.example.yaml"
)


def test_every_required_device_has_a_config() -> None:
    assert {
        "grid-ledger-pzem-din.yaml",
        "grid-ledger-shelly-plus-1pm.yaml",
        "grid-ledger-athom-plug-v2.yaml",
        "grid-ledger-sonoff-pow-r2.yaml",
        "simulator.yaml",
    } <= set(DEVICE_FILES)


@pytest.fixture(scope="module")
def config_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The configs with secrets.example.yaml as secrets.yaml, leaving the real ones alone."""
    target = tmp_path_factory.mktemp("esphome_configs")
    for name in DEVICE_FILES:
        shutil.copy(CONFIG_DIR / name, target / name)
    shutil.copytree(CONFIG_DIR / "packages", target / "packages")
    shutil.copy(CONFIG_DIR / "secrets.example.yaml", target / "secrets.yaml")
    return target


@pytest.mark.parametrize("device", DEVICE_FILES)
def test_device_config_is_valid(config_copy: Path, device: str) -> None:
    result = subprocess.run(
        [str(esphome_executable()), "config", device],
        cwd=config_copy,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "Configuration is valid!" in output
    # The package's logic and entities are in every device, not only in some.
    for fragment in ("set_permit_until", "gl_enforce", "total_increasing", "restore_mode"):
        assert fragment in output, f"{fragment} missing from {device}"


def test_credentials_only_through_secrets() -> None:
    for name in DEVICE_FILES:
        text = (CONFIG_DIR / name).read_text()
        for key in ("password:", "key:", "ssid:"):
            for line in text.splitlines():
                if line.strip().startswith(key):
                    assert "!secret" in line, f"{name}: {line.strip()}"
    base = (CONFIG_DIR / "packages" / "device_base.yaml").read_text()
    assert base.count("!secret") >= 4
