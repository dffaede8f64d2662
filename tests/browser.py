"""Load a local page in headless Chromium and record what a user's browser would do (test helper).

Talks the DevTools protocol over a websocket (``websocket-client``): one browser process per
:class:`HeadlessChromium`, a fresh profile in a temporary folder, the debugging port chosen by Chromium
(``--remote-debugging-port=0``, read back from ``DevToolsActivePort``) and bound to 127.0.0.1. While the page
loads it records console messages, uncaught exceptions, log entries and every network request, so a test can
assert that a page made no request outside itself and logged no error.
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars")


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


class HeadlessChromium:
    """``with HeadlessChromium() as browser: page = browser.load(path)``."""

    def __init__(self, executable: str | None = None, timeout: float = 60.0, window=(1400, 1000)):
        self.executable = executable or find_chromium()
        if self.executable is None:
            raise FileNotFoundError("no Chromium executable on PATH")
        self.timeout = timeout
        self.window = window
        self._next_id = 0
        self.events: list[dict] = []

    def __enter__(self):
        try:
            return self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def _start(self):
        import websocket

        self._ws = None
        self._profile = tempfile.mkdtemp(prefix="atomjax-chromium-")
        args = [self.executable, *FLAGS, f"--user-data-dir={self._profile}", "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1", f"--window-size={self.window[0]},{self.window[1]}",
                "about:blank"]
        self._log = open(pathlib.Path(self._profile) / "chromium.log", "w+")
        # Own process group (id = the browser's pid), so its helper processes can be ended with it.
        self._proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        port_file = pathlib.Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while not (port_file.is_file() and len(port_file.read_text().splitlines()) >= 2):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self._log.seek(0)
                raise RuntimeError(f"Chromium did not start: {self._log.read()[-2000:]}")
            time.sleep(0.1)
        port, path = port_file.read_text().splitlines()[:2]
        self._ws = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=self.timeout,
                                               suppress_origin=True)
        target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self._call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self._call(f"{domain}.enable", session=True)
        return self

    def __exit__(self, *exc):
        try:
            if self._ws is not None:
                self._ws.close()
        finally:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            try:  # helpers of this browser that outlived it
                os.killpg(self._proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self._log.close()
            shutil.rmtree(self._profile, ignore_errors=True)

    # --- protocol ---------------------------------------------------------------------------------------------
    def _call(self, method: str, params: dict | None = None, session: bool = False) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self._session
        self._ws.send(json.dumps(message))
        while True:
            reply = json.loads(self._ws.recv())
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def _wait_for(self, method: str) -> dict:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if event["method"] == method:
                    return event
            reply = json.loads(self._ws.recv())
            if "method" in reply:
                self.events.append(reply)
        raise TimeoutError(f"no {method} within {self.timeout} s")

    def evaluate(self, expression: str):
        result = self._call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                 "awaitPromise": True}, session=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    # --- what tests use ----------------------------------------------------------------------------------------
    def load(self, path) -> "HeadlessChromium":
        """Navigate to a local file and wait for its load event (and a moment for late errors)."""
        url = pathlib.Path(path).resolve().as_uri()
        self.events.clear()
        self._call("Page.navigate", {"url": url}, session=True)
        self._wait_for("Page.loadEventFired")
        deadline = time.monotonic() + self.timeout
        # a late load event of the previous page must not count: wait until this page is the loaded one
        while self.evaluate("location.href + ' ' + document.readyState") != f"{url} complete":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not finish loading within {self.timeout} s")
            time.sleep(0.05)
        self.evaluate("new Promise(r => setTimeout(r, 300))")
        return self

    def screenshot_png(self, full_page: bool = True) -> bytes:
        params = {"format": "png", "captureBeyondViewport": full_page}
        return base64.b64decode(self._call("Page.captureScreenshot", params, session=True)["data"])

    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e["method"] == "Network.requestWillBeSent"]

    def errors(self) -> list[str]:
        """Console errors/warnings, uncaught exceptions and error log entries (CSP violations among them)."""
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning", "assert"):
                out.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
            elif e["method"] == "Runtime.exceptionThrown":
                out.append("exception: " + json.dumps(p.get("exceptionDetails", {}))[:500])
            elif e["method"] == "Log.entryAdded" and p["entry"].get("level") in ("error", "warning"):
                out.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
        return out


def running_in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false")
