"""A Home Assistant for a benchmark: the test harness's, set up the way its `hass` fixture does.

`make bench` runs every module in one process, so one Home Assistant follows another. Two
things must not leak from one to the next, and the pytest harness sees to both for its tests:

- the frame helper, which Home Assistant code uses to report misuse, is set up for the
  instance and cleared after it;
- the shared aiohttp session resolves names without zeroconf. A real zeroconf instance wraps
  the process-wide `zeroconf.Zeroconf` class so that every later instance is the first one
  (Home Assistant runs one instance per process); the next benchmark's Home Assistant then got
  that stopped instance, through a report that needs the frame helper: "Frame helper not set
  up". The harness replaces the resolver for every test for the same reason; so does this.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
import tempfile
from typing import TYPE_CHECKING
from unittest.mock import patch

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant


@asynccontextmanager
async def bench_home_assistant() -> AsyncIterator[HomeAssistant]:
    from aiohttp import ThreadedResolver
    from homeassistant import loader
    from homeassistant.helpers import frame
    from pytest_homeassistant_custom_component.common import async_test_home_assistant

    resolver = ThreadedResolver()
    resolver.real_close = resolver.close  # type: ignore[attr-defined]  # HA closes it by this
    with (
        tempfile.TemporaryDirectory(prefix="gl-bench-") as config_dir,
        patch("homeassistant.helpers.aiohttp_client._async_make_resolver", return_value=resolver),
    ):
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            # Our custom_components package, not the harness's testing_config one.
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
            frame.async_setup(hass)
            try:
                yield hass
            finally:
                frame.async_setup(None)
