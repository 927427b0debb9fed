"""Log into Home Assistant in headless Debian Chromium, open a dashboard, check what it shows,
and save a screenshot. Run as its own process (Playwright's sync API owns its event loop):

    python -m tests.e2e.browser URL USER PASSWORD DASHBOARD_PATH SCREENSHOT TEXT [TEXT ...]

Exits 0 when every TEXT is visible on the dashboard, 1 otherwise.
"""

from __future__ import annotations

from pathlib import Path
import shutil
import subprocess
import sys
import tempfile

from playwright.sync_api import (
    Page,
    TimeoutError as PlaywrightTimeoutError,
    sync_playwright,
)

from tests.anvil import REPO
from tests.demo.stack import HA_USER

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    raise SystemExit("Debian's chromium is not installed: `make setup` installs it")


def log_in(page: Page, url: str, username: str, password: str) -> None:
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda current: "auth_callback" not in current and "/auth/" not in current)


def browse(url: str, dashboard: str, screenshot: Path, *texts: str) -> None:
    """Run this module in its own process as the demo's household; fail unless every text
    shows on `dashboard` (the screenshot is saved either way)."""
    login = [HA_USER["username"], HA_USER["password"]]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.e2e.browser",
            url,
            *login,
            dashboard,
            str(screenshot),
            *texts,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def main(argv: list[str]) -> int:
    url, username, password, dashboard, screenshot, *expected = argv
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile, sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            profile,
            executable_path=chromium_path(),
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900},
            ignore_default_args=["--headless"],
        )
        try:
            page = browser.pages[0] if browser.pages else browser.new_page()
            log_in(page, url, username, password)
            page.goto(f"{url}/{dashboard}", wait_until="networkidle")
            missing = []
            for text in expected:
                try:
                    page.get_by_text(text, exact=False).first.wait_for(timeout=30_000)
                except PlaywrightTimeoutError:
                    missing.append(text)
            Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=screenshot, full_page=True)
        finally:
            browser.close()
    if missing:
        print(f"not visible on {dashboard}: {missing}", file=sys.stderr)
        return 1
    print(f"all {len(expected)} texts visible; screenshot {screenshot}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
