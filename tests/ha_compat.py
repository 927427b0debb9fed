"""Would the integration install on the newest Home Assistant? Checked without installing it.

Households run the newest release (on its own Python), not the one the tests pin. This asks
pip to resolve `manifest.json`'s requirements from wheels only, for that Python, under that
release's `package_constraints.txt` — what Home Assistant does when it installs a custom
integration. The release's wheel is downloaded once and only its constraints file is kept,
cached per release outside the clone.

    python -m tests.ha_compat [--requirement SPEC ...]

Exit status 0: every requirement resolves; 1: one does not (the message says which and why).
It needs the package registry, as set-up does.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
import json
import os
from pathlib import Path
import re
import subprocess
import sys
import tempfile
import zipfile

REPO = Path(__file__).resolve().parent.parent
MANIFEST = REPO / "custom_components" / "grid_ledger" / "manifest.json"
# The Python of the newest Home Assistant release (2026.11 requires >= 3.14.2).
TARGET_PYTHON = "3.14.5"
CACHE = Path(os.environ.get("GRID_LEDGER_CACHE", Path.home() / ".cache" / "grid-ledger"))
CONSTRAINTS_MEMBER = "homeassistant/package_constraints.txt"
_PIP = (sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input")
_NEWEST = re.compile(r"^homeassistant \(([^)]+)\)", re.MULTILINE)


class CompatError(Exception):
    """The check could not be made, or a requirement does not resolve."""


@dataclass(frozen=True, slots=True)
class Release:
    version: str
    constraints: Path


def manifest_requirements() -> list[str]:
    return list(json.loads(MANIFEST.read_text())["requirements"])


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*_PIP, *args], capture_output=True, text=True, check=False)


def newest_version() -> str:
    """The newest `homeassistant` release with a wheel for the target Python."""
    found = _pip(
        "index",
        "versions",
        "homeassistant",
        "--python-version",
        TARGET_PYTHON,
        "--only-binary=:all:",
    )
    match = _NEWEST.search(found.stdout)
    if found.returncode != 0 or match is None:
        raise CompatError(f"cannot ask the package registry for Home Assistant:\n{found.stderr}")
    return match.group(1)


def release_constraints(version: str) -> Release:
    """The release's `package_constraints.txt`, from the cache or from its wheel."""
    cached = CACHE / f"homeassistant-{version}" / "package_constraints.txt"
    if cached.is_file():
        return Release(version, cached)
    with tempfile.TemporaryDirectory(prefix="grid-ledger-ha-") as download:
        fetched = _pip(
            "download",
            "--no-deps",
            "--python-version",
            TARGET_PYTHON,
            "--only-binary=:all:",
            "--dest",
            download,
            f"homeassistant=={version}",
        )
        wheels = list(Path(download).glob("homeassistant-*.whl"))
        if fetched.returncode != 0 or not wheels:
            raise CompatError(f"cannot download Home Assistant {version}:\n{fetched.stderr}")
        with zipfile.ZipFile(wheels[0]) as wheel:
            text = wheel.read(CONSTRAINTS_MEMBER).decode()
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(".partial")
    partial.write_text(text)
    partial.replace(cached)  # a half-written file is never taken for the release's
    return Release(version, cached)


def unresolved(requirements: list[str], release: Release) -> str | None:
    """None when pip resolves every requirement from wheels; else pip's own explanation."""
    with tempfile.TemporaryDirectory(prefix="grid-ledger-compat-") as target:
        resolved = _pip(
            "install",
            "--dry-run",
            "--ignore-installed",
            "--python-version",
            TARGET_PYTHON,
            "--only-binary=:all:",
            "--target",
            target,
            "-c",
            str(release.constraints),
            *requirements,
        )
    if resolved.returncode == 0:
        return None
    lines = [
        line
        for line in resolved.stderr.splitlines()
        if line.startswith("ERROR") and not line.startswith("ERROR: Ignored")
    ]
    return "\n".join(lines) or resolved.stderr.strip()


def check(requirements: list[str], version: str | None = None) -> Release:
    """Raise `CompatError` unless every requirement installs on `version` (default: newest)."""
    release = release_constraints(version or newest_version())
    failure = unresolved(requirements, release)
    if failure is not None:
        raise CompatError(
            f"Home Assistant {release.version} (Python {TARGET_PYTHON}) cannot install "
            f"{' '.join(requirements)} from wheels under its package constraints:\n{failure}"
        )
    return release


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requirement",
        action="append",
        default=None,
        help="check this requirement instead of manifest.json's (repeatable)",
    )
    parser.add_argument("--version", help="a Home Assistant release (default: the newest)")
    args = parser.parse_args(argv)
    requirements = args.requirement or manifest_requirements()
    try:
        release = check(requirements, args.version)
    except CompatError as err:
        print(f"ha-compat: FAIL: {err}", file=sys.stderr)
        return 1
    print(
        f"ha-compat: {' '.join(requirements)} install from wheels on Home Assistant "
        f"{release.version} (Python {TARGET_PYTHON})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
