"""Every device YAML validates with `esphome config`, offline, against the example secrets: the
household meters with the permit logic, the transformer (feeder) meter simulator without it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from tests.esphome.simulator import CONFIG_DIR, esphome_executable

# Feeder meters sign a register only: no relay, no permit.
FEEDER_FILES = ["transformer-simulator.yaml"]
DEVICE_FILES = sorted(
    path.name
    for path in CONFIG_DIR.glob("*.yaml")
    if path.name != "secrets.example.yaml" and path.name not in FEEDER_FILES
)
# Meters that return energy to the grid: they carry the export register as well.
BIDIRECTIONAL = {"grid-ledger-atm90e32.yaml", "grid-ledger-dsmr-p1.yaml", "simulator.yaml"}
IMPORT_REGISTER = "Energy"
EXPORT_REGISTER = "Energy exported"


def test_every_required_device_has_a_config() -> None:
    assert {
        "grid-ledger-pzem-din.yaml",
        "grid-ledger-shelly-plus-1pm.yaml",
        "grid-ledger-athom-plug-v2.yaml",
        "grid-ledger-sonoff-pow-r2.yaml",
        "simulator.yaml",
    } | BIDIRECTIONAL <= set(DEVICE_FILES)


@pytest.fixture(scope="module")
def config_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The configs with secrets.example.yaml as secrets.yaml, leaving the real ones alone."""
    target = tmp_path_factory.mktemp("esphome_configs")
    for name in DEVICE_FILES + FEEDER_FILES:
        shutil.copy(CONFIG_DIR / name, target / name)
    shutil.copytree(CONFIG_DIR / "packages", target / "packages")
    shutil.copy(CONFIG_DIR / "secrets.example.yaml", target / "secrets.yaml")
    return target


class _TaggedLoader(yaml.SafeLoader):
    """Reads the validated config ESPHome prints, keeping `!lambda`/`!secret` as text."""


_TaggedLoader.add_multi_constructor("!", lambda loader, _tag, node: loader.construct_scalar(node))


@dataclass(frozen=True)
class Validated:
    """What `esphome config` printed: its logs and the validated configuration."""

    output: str
    config: dict[str, Any]


@pytest.fixture(scope="module")
def esphome_config(config_copy: Path) -> Callable[[str], Validated]:
    """`esphome config <device>`, run once per device for the whole module."""
    results: dict[str, Validated] = {}

    def run(device: str) -> Validated:
        if device not in results:
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
            # The configuration goes to stdout, the log lines to stderr.
            config = yaml.load(result.stdout, Loader=_TaggedLoader)  # noqa: S506
            results[device] = Validated(output, config)
        return results[device]

    return run


def named_sensors(config: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [sensor for sensor in config["sensor"] if sensor.get("name") == name]


def is_restored(config: dict[str, Any], register: dict[str, Any]) -> bool:
    """An integration restores itself; a template register returns restored globals."""
    if register["platform"] == "integration":
        return register["restore"] is True
    restored = {g["id"] for g in config.get("globals", []) if g["restore_value"] is True}
    used = set(re.findall(r"id\((\w+)\)", register["lambda"]))
    return bool(used) and used <= restored


@pytest.mark.parametrize("device", DEVICE_FILES)
def test_device_config_is_valid(esphome_config: Callable[[str], Validated], device: str) -> None:
    output = esphome_config(device).output
    assert "Configuration is valid!" in output
    # The package's logic and entities are in every device, not only in some.
    for fragment in ("set_permit_until", "gl_enforce", "total_increasing", "restore_mode"):
        assert fragment in output, f"{fragment} missing from {device}"


@pytest.mark.parametrize("device", DEVICE_FILES)
def test_registers_follow_the_meters_direction(
    esphome_config: Callable[[str], Validated], device: str
) -> None:
    config = esphome_config(device).config
    expected = [IMPORT_REGISTER, EXPORT_REGISTER] if device in BIDIRECTIONAL else [IMPORT_REGISTER]
    assert not named_sensors(config, EXPORT_REGISTER) or device in BIDIRECTIONAL
    for name in expected:
        (register,) = named_sensors(config, name)
        assert register["unit_of_measurement"] == "Wh", name
        assert register["device_class"] == "energy", name
        assert register["state_class"] == "total_increasing", name
        assert is_restored(config, register), f"{name} of {device} is not restored"


def named(config: dict[str, Any], domain: str, name: str) -> dict[str, Any]:
    (entity,) = (entity for entity in config[domain] if entity.get("name") == name)
    return entity


def test_transformer_simulator_is_a_feeder_meter(
    esphome_config: Callable[[str], Validated],
) -> None:
    """Its one register is restored and integrates its power; Home Assistant sets what the
    households draw below it and switches the tap; nothing in it cuts a supply."""
    validated = esphome_config("transformer-simulator.yaml")
    assert "Configuration is valid!" in validated.output
    config = validated.config
    (register,) = named_sensors(config, IMPORT_REGISTER)
    assert register["platform"] == "integration"
    assert register["sensor"] == "feeder_power"
    assert (register["unit_of_measurement"], register["device_class"]) == ("Wh", "energy")
    assert register["state_class"] == "total_increasing"
    assert is_restored(config, register)
    assert named_sensors(config, EXPORT_REGISTER) == []
    downstream = named(config, "number", "Downstream power")
    assert (downstream["min_value"], downstream["unit_of_measurement"]) == (0, "W")
    tap = named(config, "switch", "Illegal tap")
    assert tap["restore_mode"] == "RESTORE_DEFAULT_OFF"  # a tap is never on after flashing
    assert float(named(config, "number", "Illegal tap power")["initial_value"]) == 800
    # The loss is a share of what enters the feeder, as the ledger's loss % is.
    (power,) = named_sensors(config, "Power")
    assert "delivered / kept" in power["lambda"]
    assert "tap" in power["lambda"]
    for fragment in ("set_permit_until", "gl_enforce", "relay"):
        assert fragment not in validated.output, fragment


def counter_followers(config: dict[str, Any]) -> dict[str, str]:
    """Counter id -> the lambda that adds its growth to a register."""
    return {
        sensor["source_id"]: sensor["on_value"][0]["then"][0]["lambda"]
        for sensor in config["sensor"]
        if sensor["platform"] == "copy" and "on_value" in sensor
    }


@pytest.mark.parametrize("device", ["grid-ledger-atm90e32.yaml", "grid-ledger-dsmr-p1.yaml"])
def test_counting_meters_keep_no_power_integration(
    esphome_config: Callable[[str], Validated], device: str
) -> None:
    """The meter's own counters feed both registers; sampled power feeds none."""
    config = esphome_config(device).config
    assert "integration" not in {sensor["platform"] for sensor in config["sensor"]}
    followers = counter_followers(config)
    assert "gl_import_wh" in followers["meter_import_counter"]
    assert "gl_export_wh" in followers["meter_export_counter"]


def test_atm90e32_forward_and_reverse_energy_feed_import_and_export(
    esphome_config: Callable[[str], Validated],
) -> None:
    config = esphome_config("grid-ledger-atm90e32.yaml").config
    (chip,) = (sensor for sensor in config["sensor"] if sensor["platform"] == "atm90e32")
    assert chip["phase_a"]["forward_active_energy"]["id"] == "meter_import_counter"
    assert chip["phase_a"]["reverse_active_energy"]["id"] == "meter_export_counter"
    # The chip's counters restart with the board: no stale baseline may survive a reboot.
    assert config["substitutions"]["meter_counters_survive_reboot"] == "false"


def test_dsmr_delivered_and_returned_tariffs_feed_import_and_export(
    esphome_config: Callable[[str], Validated],
) -> None:
    config = esphome_config("grid-ledger-dsmr-p1.yaml").config
    (p1,) = (sensor for sensor in config["sensor"] if sensor["platform"] == "dsmr")
    counters = {sensor.get("id"): sensor for sensor in config["sensor"]}
    for counter, direction in (
        ("meter_import_counter", "delivered"),
        ("meter_export_counter", "returned"),
    ):
        tariffs = [p1[f"energy_{direction}_tariff{n}"] for n in (1, 2)]
        lambda_ = counters[counter]["lambda"]
        for tariff in tariffs:
            assert f"id({tariff['id']})" in lambda_
            # Every telegram's tariff readings refresh the sum.
            assert tariff["on_value"][0]["then"][0]["component.update"]["id"] == counter
        # Nothing until both tariffs are known: a tariff-1-only baseline would later count
        # tariff 2's lifetime total as energy.
        assert "return {};" in lambda_
    # The utility meter keeps counting while the reader is off: its baseline is kept.
    assert config["substitutions"]["meter_counters_survive_reboot"] == "true"


def test_credentials_only_through_secrets() -> None:
    for name in DEVICE_FILES + FEEDER_FILES:
        text = (CONFIG_DIR / name).read_text()
        for key in ("password:", "key:", "ssid:"):
            for line in text.splitlines():
                if line.strip().startswith(key):
                    assert "!secret" in line, f"{name}: {line.strip()}"
    base = (CONFIG_DIR / "packages" / "device_base.yaml").read_text()
    assert base.count("!secret") >= 4
