"""Fixtures for the ESPHome firmware tests (defined in tests/esphome/fixtures.py)."""

from tests.esphome.fixtures import simulator, simulator_build

__all__ = ["simulator", "simulator_build"]
