"""A pytest plugin (loaded from pyproject's addopts) that keeps test output to pytest's own.

Home Assistant's test harness turns SQLAlchemy's engine logger up to INFO when it is imported,
so every recorder test printed each SQL statement it ran. Set back once every plugin is loaded.
"""

from __future__ import annotations

import logging

import pytest


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
