"""A real Home Assistant server for the demo: started by PID, onboarded, driven over REST."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import time
from typing import Any
import urllib.error
import urllib.parse
import urllib.request

import aiohttp

CLIENT_ID = "http://127.0.0.1/"
ONBOARDING_STEPS = ("user", "core_config", "analytics", "integration")


class ActionError(RuntimeError):
    """An action Home Assistant refused, with its translated error."""

    def __init__(self, action: str, error: dict[str, Any]) -> None:
        self.translation_key = str(error.get("translation_key") or error.get("code"))
        super().__init__(f"{action}: {self.translation_key}: {error.get('message')}")


@dataclass
class HomeAssistant:
    """One `hass -c config_dir` process on a loopback port."""

    config_dir: Path
    port: int
    token: str = ""
    process: subprocess.Popen[bytes] | None = None
    log: Any = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 300.0) -> None:
        self.log = (self.config_dir / "hass.out").open("ab")
        runner = Path(__file__).with_name("hass_runner.py")
        self.process = subprocess.Popen(
            [sys.executable, str(runner), "-c", str(self.config_dir), "--skip-pip"],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Home Assistant exited; see {self.config_dir / 'hass.out'}")
            try:
                self.onboarding_steps()
            except OSError:  # not listening yet (it listens once every integration is set up)
                time.sleep(0.5)
            else:
                return
        raise TimeoutError(f"Home Assistant did not answer on {self.url}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None
        if self.log is not None:
            self.log.close()
            self.log = None

    def request(
        self, method: str, path: str, body: Any = None, *, auth: bool = True, form: bool = False
    ) -> Any:
        headers = {}
        data = None
        if body is not None:
            if form:
                data = urllib.parse.urlencode(body).encode()
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            else:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(  # noqa: S310 - loopback http only
            self.url + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
                payload = response.read()
        except urllib.error.HTTPError as err:
            if err.code >= HTTPStatus.INTERNAL_SERVER_ERROR:
                # The reply says nothing; what went wrong is in Home Assistant's log.
                err.add_note(f"{method} {path}; Home Assistant's log ends:\n{self.log_errors()}")
            raise
        return json.loads(payload) if payload else None

    def log_errors(self, lines: int = 60) -> str:
        """The last errors and warnings Home Assistant logged, with their tracebacks."""
        try:
            text = (self.config_dir / "hass.out").read_text(errors="replace")
        except OSError as err:
            return f"(no log: {err})"
        kept: list[str] = []
        keeping = False
        for line in text.splitlines():
            if line[:4].isdigit():  # a new entry: "2026-11-25 19:34:28.123 LEVEL ..."
                keeping = " ERROR " in line or " WARNING " in line
            if keeping:
                kept.append(line)
        return "\n".join(kept[-lines:])

    def onboarding_steps(self) -> dict[str, bool]:
        """Which onboarding steps are done; all of them once Home Assistant, onboarded before,
        no longer serves onboarding (a resumed demo)."""
        try:
            reply = self.request("GET", "/api/onboarding", auth=False)
        except urllib.error.HTTPError as err:
            if err.code != HTTPStatus.NOT_FOUND:
                raise
            return dict.fromkeys(ONBOARDING_STEPS, True)
        return {step["step"]: step["done"] for step in reply}

    def onboard(self, name: str, username: str, password: str) -> None:
        """Create the owner through onboarding (or log in when already onboarded)."""
        steps = self.onboarding_steps()
        if not steps.get("user"):
            reply = self.request(
                "POST",
                "/api/onboarding/users",
                {
                    "client_id": CLIENT_ID,
                    "name": name,
                    "username": username,
                    "password": password,
                    "language": "en",
                },
                auth=False,
            )
            code = reply["auth_code"]
        else:
            code = self._login(username, password)
        tokens = self.request(
            "POST",
            "/auth/token",
            {"grant_type": "authorization_code", "code": code, "client_id": CLIENT_ID},
            auth=False,
            form=True,
        )
        self.token = tokens["access_token"]
        for step in ("core_config", "analytics"):
            if not steps.get(step):
                self.request("POST", f"/api/onboarding/{step}", {})
        if not steps.get("integration"):
            self.request(
                "POST",
                "/api/onboarding/integration",
                {"client_id": CLIENT_ID, "redirect_uri": CLIENT_ID},
            )

    def _login(self, username: str, password: str) -> str:
        flow = self.request(
            "POST",
            "/auth/login_flow",
            {
                "client_id": CLIENT_ID,
                "handler": ["homeassistant", None],
                "redirect_uri": CLIENT_ID,
            },
            auth=False,
        )
        reply = self.request(
            "POST",
            f"/auth/login_flow/{flow['flow_id']}",
            {"client_id": CLIENT_ID, "username": username, "password": password},
            auth=False,
        )
        return str(reply["result"])

    def config_entries(self, domain: str) -> list[dict[str, Any]]:
        entries = self.request("GET", f"/api/config/config_entries/entry?domain={domain}")
        return list(entries)

    def run_flow(self, handler: str, *steps: dict[str, Any], kind: str = "flow") -> dict[str, Any]:
        """Run a config flow through HA's REST API, one dict of user input per step.

        A menu step takes `{"next_step_id": ...}`, as the frontend sends it. `kind="options/flow"`
        runs a config entry's options flow (`handler` is then the entry id).
        """
        base = f"/api/config/config_entries/{kind}"
        result = self.request("POST", base, {"handler": handler, "show_advanced_options": False})
        for user_input in steps:
            if result["type"] not in ("form", "menu"):
                break
            result = self.request("POST", f"{base}/{result['flow_id']}", user_input)
            if result["type"] == "form" and result.get("errors"):
                raise RuntimeError(f"{handler} flow step {result['step_id']}: {result['errors']}")
        if result["type"] != "create_entry":
            raise RuntimeError(f"{handler} flow ended with {result}")
        return result

    def set_options(self, entry_id: str, **options: Any) -> dict[str, Any]:
        """Submit an entry's options form as the frontend sends it: its suggested values, with
        `options` changed."""
        base = "/api/config/config_entries/options/flow"
        form = self.request("POST", base, {"handler": entry_id, "show_advanced_options": False})
        values = {
            field["name"]: field["description"]["suggested_value"]
            for field in form["data_schema"]
            if "suggested_value" in field.get("description", {})
        }
        result: dict[str, Any] = self.request(
            "POST", f"{base}/{form['flow_id']}", {**values, **options}
        )
        if result["type"] != "create_entry":
            raise RuntimeError(f"options flow ended with {result}")
        return result

    def states(self) -> dict[str, dict[str, Any]]:
        return {s["entity_id"]: s for s in self.request("GET", "/api/states")}

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
        """An authenticated connection to HA's WebSocket API."""
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(f"{self.url}/api/websocket") as ws,
        ):
            await ws.receive_json()
            await ws.send_json({"type": "auth", "access_token": self.token})
            if (await ws.receive_json())["type"] != "auth_ok":
                raise RuntimeError("Home Assistant refused the access token")
            yield ws

    async def call_service(self, domain: str, service: str, data: dict[str, Any]) -> Any:
        """An action with its response, as the frontend calls it: over the WebSocket API, so a
        refusal comes back as the action's translated error (`ActionError`), not a bare 500."""
        async with self.connect() as ws:
            await ws.send_json(
                {
                    "id": 1,
                    "type": "call_service",
                    "domain": domain,
                    "service": service,
                    "service_data": data,
                    "return_response": True,
                }
            )
            while (reply := await ws.receive_json())["id"] != 1:
                pass
        if not reply["success"]:
            raise ActionError(f"{domain}.{service}", reply["error"])
        return reply["result"]["response"]

    async def websocket(self, *commands: dict[str, Any]) -> list[Any]:
        """Send commands over HA's WebSocket API; return each result (raises on an error)."""
        results: list[Any] = []
        async with self.connect() as ws:
            for number, command in enumerate(commands, start=1):
                await ws.send_json({"id": number, **command})
                while (reply := await ws.receive_json())["id"] != number:
                    pass
                if not reply["success"]:
                    raise RuntimeError(f"{command['type']}: {reply['error']}")
                results.append(reply["result"])
        return results
