"""`make demo`: Grid Ledger on real parts until Ctrl-C."""

from __future__ import annotations

import asyncio
import signal
import sys
import threading

from tests.demo.configure import configure_home_assistant
from tests.demo.stack import (
    AUTO_BID_CEILING,
    AUTO_SELL_FLOOR,
    FEEDER_LOSS_TOLERANCE_BPS,
    HA_USER,
    PERIOD_LENGTH,
    TAP_POWER_W,
    TECHNICAL_LOSS_PERCENT,
    DemoKeys,
    DemoStack,
    timeline,
)


def main() -> int:
    stack = DemoStack()
    stack.check_ports()
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stack.state_dir.mkdir(exist_ok=True)
        keys = DemoKeys.load_or_create(stack.state_dir / "keys.json")
        stack.start(keys)
        asyncio.run(configure_home_assistant(stack, keys))
        assert stack.hass is not None
        print(
            f"\nGrid Ledger demo is running.\n"
            f"  Home Assistant  {stack.hass.url}/grid-ledger/0\n"
            f"  login           {HA_USER['username']} / {HA_USER['password']}\n"
            f"  transformer     {stack.hass.url}/grid-ledger/2 (feeder 1, its settlement)\n"
            f"  energy market   {stack.hass.url}/grid-ledger/3\n"
            f"  chain (anvil)   {stack.anvil.rpc_url if stack.anvil else ''}\n"
            f"The transformer's meter sees the households' import and its technical loss "
            f"({TECHNICAL_LOSS_PERCENT} %), under the feeder's tolerance "
            f"({FEEDER_LOSS_TOLERANCE_BPS / 100:g} %). Switch its illegal tap on "
            f"({TAP_POWER_W} W): the ledger checks a period when the feeder's first reading two "
            f"periods later arrives, so the loss alert comes within three periods and a reading "
            f"({3 * PERIOD_LENGTH // 60 + 1} minutes), usually two ({2 * PERIOD_LENGTH // 60}); "
            f"the period's settlement then pays the distributor a lower markup.\n"
            f"The prosumer offers its tokens in the energy market from {AUTO_SELL_FLOOR:g} per "
            f"kWh, the consumer bids up to {AUTO_BID_CEILING:g}: the lot ends a period later "
            f"and the bought tokens pay the consumer's next bill first.\n"
            f"Press Ctrl-C to stop.\n",
            flush=True,
        )
        while not stop.wait(1):
            pass
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    timeline("starting the Grid Ledger demo")
    sys.exit(main())
