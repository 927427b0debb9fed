"""`make demo`: Grid Ledger on real parts until Ctrl-C."""

from __future__ import annotations

import asyncio
import signal
import sys
import threading

from tests.demo.configure import configure_home_assistant
from tests.demo.stack import HA_USER, DemoKeys, DemoStack, timeline


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
            f"  chain (anvil)   {stack.anvil.rpc_url if stack.anvil else ''}\n"
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
