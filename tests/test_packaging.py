"""HACS and hassfest rules for the files that make the integration installable."""

from __future__ import annotations

from importlib.metadata import version
import json
from pathlib import Path
import re

from homeassistant.const import __version__ as ha_version
from PIL import Image
import pytest

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
