"""Print the pinned PyPI requirements of the integrations the demo loads, and their dependencies.

`make demo` installs them under Home Assistant's constraints before starting it, and starts HA
with `--skip-pip`, so the server never installs packages into the environment at run time.
"""

from __future__ import annotations

import json
from pathlib import Path
import sys

import homeassistant

COMPONENTS = Path(homeassistant.__file__).parent / "components"
DEMO_DOMAINS = (
    "api",
    "config",
    "energy",
    "esphome",
    "frontend",
    "history",
    "http",
    "logbook",
    "logger",
    "lovelace",
    "onboarding",
)


def requirements(domains: tuple[str, ...]) -> list[str]:
    seen: set[str] = set()
    pending = list(domains)
    found: set[str] = set()
    while pending:
        domain = pending.pop()
        if domain in seen:
            continue
        seen.add(domain)
        manifest = COMPONENTS / domain / "manifest.json"
        if not manifest.exists():
            continue
        data = json.loads(manifest.read_text())
        found.update(data.get("requirements", []))
        pending += data.get("dependencies", []) + data.get("after_dependencies", [])
    return sorted(found)


if __name__ == "__main__":
    print("\n".join(requirements(DEMO_DOMAINS)))
    sys.exit(0)
