"""HACS and hassfest rules for the files that make the integration installable."""

from __future__ import annotations

import ast
from importlib import import_module
from importlib.metadata import version
import json
import logging
from pathlib import Path
import re

from homeassistant.const import __version__ as ha_version
from PIL import Image
import pytest
import yaml

from custom_components.grid_ledger.policy import Reason

REPO = Path(__file__).resolve().parent.parent
COMPONENT = REPO / "custom_components" / "grid_ledger"
BRAND = COMPONENT / "brand"
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


@pytest.mark.parametrize("prefix", ["", "dark_"])
@pytest.mark.parametrize(("suffix", "scale"), [("", 1), ("@2x", 2)])
def test_brand_images_follow_the_brand_rules(prefix: str, suffix: str, scale: int) -> None:
    icon = Image.open(BRAND / f"{prefix}icon{suffix}.png")
    logo = Image.open(BRAND / f"{prefix}logo{suffix}.png")
    assert icon.format == logo.format == "PNG"
    assert icon.size == (256 * scale, 256 * scale)
    assert 128 * scale <= min(logo.size) <= 256 * scale
    assert logo.width > logo.height  # landscape is preferred
    for image in (icon, logo):
        assert image.mode == "RGBA"
        alpha = image.getchannel("A")
        assert alpha.getpixel((0, 0)) == 0, "the background is transparent"
        assert alpha.getbbox() == (0, 0, *image.size), "trimmed: the drawing reaches every edge"


def test_brand_folder_holds_only_images_home_assistant_serves() -> None:
    served = {
        f"{prefix}{kind}{suffix}.png"
        for prefix in ("", "dark_")
        for kind in ("icon", "logo")
        for suffix in ("", "@2x")
    }
    assert {path.name for path in BRAND.iterdir()} == served


def _imported_packages() -> set[str]:
    """Top-level packages the component's code imports."""
    names: set[str] = set()
    for source in COMPONENT.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.partition(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.partition(".")[0])
    return names


def test_manifest_loggers_are_the_ones_the_requirements_log_to() -> None:
    loggers = MANIFEST["loggers"]
    assert loggers == sorted(loggers)
    assert COMPONENT.name not in loggers  # Home Assistant knows the integration's own logger
    # Each requirement the code imports is named, with the libraries it logs through.
    imported = _imported_packages()
    for requirement in MANIFEST["requirements"]:
        module = requirement.partition("==")[0]
        assert module in imported, f"{module} is required but never imported"
        assert module in loggers, module
    for name in loggers:
        assert name in _loggers_of(name), f"{name} logs to no logger of that name"


def _loggers_of(package: str) -> set[str]:
    """The loggers a library creates on import, or names in its source for later (websockets
    names its client's logger only when it connects); each with its parents."""
    root = Path(import_module(package).__file__ or "").parent
    names = {name for name in logging.Logger.manager.loggerDict if name.startswith(package)}
    for source in root.rglob("*.py"):
        names.update(re.findall(r'getLogger\(\s*"([\w.]+)"', source.read_text()))
        if "getLogger(__name__)" in source.read_text():
            names.add(".".join((package, *source.relative_to(root).with_suffix("").parts)))
    return {".".join(name.split(".")[:depth]) for name in names for depth in (1, 2)}


# The top-level categories hassfest's translation schema accepts (script/hassfest/translations.py).
HASSFEST_CATEGORIES = {
    "title",
    "config",
    "config_subentries",
    "options",
    "preview_features",
    "selector",
    "device_automation",
    "system_health",
    "config_panel",
    "application_credentials",
    "issues",
    "entity_component",
    "device",
    "entity",
    "exceptions",
    "services",
    "conditions",
    "triggers",
    "conversation",
    "common",
}


def test_translation_categories_are_ones_hassfest_accepts() -> None:
    strings = json.loads((COMPONENT / "translations" / "en.json").read_text())
    assert set(strings) <= HASSFEST_CATEGORIES
    common = strings["common"]
    assert all(re.fullmatch(r"[a-z0-9_]+", key) and isinstance(common[key], str) for key in common)
    # Every common string the code looks up exists, and none is left unused.
    used: set[str] = set()
    for module in ("billing.py", "calendar.py"):
        source = (COMPONENT / module).read_text()
        used |= set(re.findall(r'text\(\s*"(\w+)"', source))
        used |= set(re.findall(r"\{common\}\.(\w+)", source))
    # A trip's notification: a title and a message per reason a relay is switched off for.
    assert "common.tripped_{reason}" in (COMPONENT / "enforcement.py").read_text()
    trips = (
        Reason.PERMIT_EXPIRED,
        Reason.SWITCHED_ON_WHILE_EXPIRED,
        Reason.STATE_UNKNOWN_FAIL_CLOSED,
    )
    used |= {f"tripped_{reason}_{part}" for reason in trips for part in ("title", "message")}
    assert used == set(common)


def test_hassfest_and_hacs_validate_every_push_and_pull_request() -> None:
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "validate.yaml").read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as a boolean
    assert {"push", "pull_request"} <= set(triggers)
    steps = {
        step["uses"]: step.get("with", {})
        for job in workflow["jobs"].values()
        for step in job["steps"]
    }
    assert "home-assistant/actions/hassfest@master" in steps
    assert steps["hacs/action@main"] == {"category": "integration"}


def test_recorder_sql_stays_out_of_the_test_log() -> None:
    # Home Assistant's harness sets it to INFO; tests/log_levels.py (pyproject addopts) resets it.
    assert logging.getLogger("sqlalchemy.engine").getEffectiveLevel() >= logging.WARNING
