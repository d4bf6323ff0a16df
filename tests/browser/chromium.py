"""Headless Chromium driven over the DevTools protocol, with nothing but aiohttp.

Debian's `chromium` package is the browser; no browser or driver is ever downloaded. The flags keep
it from reaching for Google's services, which hang on a closed network.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Self

import aiohttp

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class BrowserError(RuntimeError):
    pass


class Chromium:
    """One headless Chromium with one page; killed, with all its children, on exit."""

    def __init__(self, executable: str, log_file: Path, width: int = 1440, height: int = 1000) -> None:
        self.executable = executable
        self.log_file = log_file
        self.width = width
        self.height = height
        self._ids = itertools.count(1)

    async def __aenter__(self) -> Self:
        self._profile = Path(tempfile.mkdtemp(prefix="chromium-profile-"))
        self._log = open(self.log_file, "wb")  # noqa: SIM115
        # Its own process group: the renderer and GPU helpers go down with it.
        self._process = subprocess.Popen(
            [
                self.executable,
                *FLAGS,
                f"--user-data-dir={self._profile}",
                f"--window-size={self.width},{self.height}",
                "about:blank",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._http = aiohttp.ClientSession()
        try:
            port = await self._devtools_port()
            async with self._http.get(f"http://127.0.0.1:{port}/json/list") as response:
                targets = await response.json()
            page = next(t for t in targets if t["type"] == "page")
            self._ws = await self._http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)
            await self.send("Page.enable")
            await self.send(
                "Emulation.setDeviceMetricsOverride",
                width=self.width,
                height=self.height,
                deviceScaleFactor=1,
                mobile=False,
            )
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            ws = getattr(self, "_ws", None)
            if ws is not None:
                # Closing politely lets Chromium reap its own helpers; the kill below is the guarantee.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.send_json({"id": 0, "method": "Browser.close"}), 2)
                    await asyncio.wait_for(asyncio.to_thread(self._process.wait, 5), 6)
                await ws.close()
            await self._http.close()
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)  # the whole group, stragglers included
            self._process.wait(timeout=10)
            self._log.close()
            shutil.rmtree(self._profile, ignore_errors=True)

    async def _devtools_port(self, timeout: float = 20) -> int:
        """Chromium writes the port it chose to DevToolsActivePort in the profile."""
        marker = self._profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrowserError(f"chromium exited with {self._process.returncode}; see {self.log_file}")
            lines = marker.read_text().splitlines() if marker.exists() else []
            if lines and lines[0].isdigit():
                return int(lines[0])
            await asyncio.sleep(0.1)
        raise BrowserError(f"chromium opened no DevTools port in {timeout:.0f}s; see {self.log_file}")

    async def send(self, method: str, **params: Any) -> dict:
        message_id = next(self._ids)
        await self._ws.send_json({"id": message_id, "method": method, "params": params})
        async for message in self._ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                raise BrowserError(f"DevTools connection closed during {method}")
            data = json.loads(message.data)
            if data.get("id") != message_id:
                continue  # an event; this client only ever waits for replies
            if "error" in data:
                raise BrowserError(f"{method}: {data['error']}")
            return data["result"]
        raise BrowserError(f"DevTools connection closed during {method}")

    async def goto(self, url: str) -> None:
        result = await self.send("Page.navigate", url=url)
        if result.get("errorText"):
            raise BrowserError(f"could not open {url}: {result['errorText']}")

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r} raised {result['exceptionDetails']}")
        return result["result"].get("value")

    async def text(self) -> str:
        return await self.evaluate("document.body ? document.body.innerText : ''") or ""

    async def wait_until(self, expression: str, timeout: float = 20, what: str | None = None) -> Any:
        """Poll a JavaScript expression until it is truthy: the UI is a SPA that fills in after load."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            try:
                value = await self.evaluate(expression)
            except BrowserError:
                value = None  # the page was between documents
            if value:
                return value
            await asyncio.sleep(0.25)
        page = (await self.text())[:3000]
        raise TimeoutError(f"{what or expression} not seen in {timeout:.0f}s; the page reads:\n{page}")

    async def wait_for_text(self, *needles: str, timeout: float = 20) -> str:
        checks = " && ".join(f"t.includes({json.dumps(n)})" for n in needles)
        await self.wait_until(
            f"(t => {checks})(document.body ? document.body.innerText : '')",
            timeout=timeout,
            what=" and ".join(map(repr, needles)),
        )
        return await self.text()

    async def screenshot(self, path: Path, full_page: bool = True) -> Path:
        params: dict[str, Any] = {"format": "png", "captureBeyondViewport": full_page}
        result = await self.send("Page.captureScreenshot", **params)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(result["data"]))
        return path
