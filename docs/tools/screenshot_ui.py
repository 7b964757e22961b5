"""Take README screenshots of the Dagster UI with headless Chromium over the DevTools protocol.

Usage: .venv/bin/python docs/tools/screenshot_ui.py URL OUT.png [--click TEXT ...] [--wait S]
Clicks each button whose text is TEXT (e.g. the first-visit "Skip" dialog), waits, screenshots.
A maintenance script, not part of the product; needs Debian's chromium.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import subprocess
import tempfile
import time
import urllib.request

import websockets


async def _shoot(ws_url: str, url: str, out: str, clicks: list[str], wait: float, width: int, height: int) -> None:
    async with websockets.connect(ws_url, max_size=64 * 1024 * 1024) as ws:
        counter = 0

        async def call(method: str, **params):
            nonlocal counter
            counter += 1
            await ws.send(json.dumps({"id": counter, "method": method, "params": params}))
            while True:
                message = json.loads(await ws.recv())
                if message.get("id") == counter:
                    return message.get("result", {})

        await call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        await call("Page.navigate", url=url)
        await asyncio.sleep(wait)
        for text in clicks:
            script = (f"[...document.querySelectorAll('button, a, [role=button]')]"
                      f".filter(e => e.innerText.trim() === {json.dumps(text)}).forEach(e => e.click())")
            await call("Runtime.evaluate", expression=script)
            await asyncio.sleep(wait / 2)
        shot = await call("Page.captureScreenshot", format="png")
        with open(out, "wb") as f:
            f.write(base64.b64decode(shot["data"]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("out")
    parser.add_argument("--click", action="append", default=[])
    parser.add_argument("--wait", type=float, default=6.0)
    parser.add_argument("--size", default="1600x1000")
    args = parser.parse_args()
    width, height = (int(x) for x in args.size.split("x"))
    port = 9333
    profile = tempfile.mkdtemp()
    browser = subprocess.Popen(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", f"--remote-debugging-port={port}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(50):
            try:
                targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json").read())
                page = next(t for t in targets if t["type"] == "page")
                break
            except (OSError, StopIteration):
                time.sleep(0.2)
        asyncio.run(_shoot(page["webSocketDebuggerUrl"], args.url, args.out, args.click, args.wait, width, height))
    finally:
        browser.terminate()


if __name__ == "__main__":
    main()
