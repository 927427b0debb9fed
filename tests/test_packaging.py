"""HACS and hassfest rules for the files that make the integration installable."""

from __future__ import annotations

from importlib.metadata import version
import json
from pathlib import Path
import re

from homeassistant.const import __version__ as ha_version

REPO = Path(__file__).resolve().parent.parent
COMPONENT = REPO / "custom_components" / "grid_ledger"
MANIFEST = json.loads((COMPONENT / "manifest.json").read_text())
HACS = json.loads((REPO / "hacs.json").read_text())


def test_manifest_key_order_follows_hassfest() -> None:
    keys = list(MANIFEST)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])


def test_manifest_has_what_hacs_and_hassfest_require() -> None:
    assert MANIFEST["domain"] == COMPONENT.name
    for key in ("name", "codeowners", "documentation", "issue_tracker", "version"):
        assert MANIFEST[key], key
    assert re.fullmatch(r"\d+\.\d+\.\d+", MANIFEST["version"])
    assert all(owner.startswith("@") for owner in MANIFEST["codeowners"])
    assert MANIFEST["config_flow"] is True
    assert MANIFEST["iot_class"] in {
        "assumed_state",
        "cloud_polling",
        "cloud_push",
        "local_polling",
        "local_push",
        "calculated",
    }
    assert MANIFEST["integration_type"] in {"device", "hub", "service"}
    assert MANIFEST["documentation"].startswith("https://")
    assert MANIFEST["issue_tracker"].startswith("https://")


def test_manifest_requirements_are_pinned_and_installed() -> None:
    assert MANIFEST["requirements"]
    for requirement in MANIFEST["requirements"]:
        name, sep, pinned = requirement.partition("==")
        assert sep == "==", f"{requirement} is not pinned"
        assert version(name) == pinned, f"{name} {version(name)} installed, {pinned} pinned"


def test_hacs_json_matches_the_tested_home_assistant() -> None:
    assert HACS["name"] == MANIFEST["name"]
    assert HACS["homeassistant"] == ha_version
    assert set(HACS) <= {
        "name",
        "content_in_root",
        "zip_release",
        "filename",
        "hide_default_branch",
        "country",
        "homeassistant",
        "hacs",
        "persistent_directory",
        "render_readme",
    }
