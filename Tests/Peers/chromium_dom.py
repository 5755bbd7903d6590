"""Loads a page in headless Chromium and waits, in real time, until its DOM contains every
expected string; prints the DOM. Drives Chromium over the DevTools protocol (with the
`websockets` client), because `--dump-dom` dumps when a virtual-time budget runs out, which
does not wait for WebSocket traffic.

Usage: chromium_dom.py URL TIMEOUT_SECONDS EXPECTED... [--click CSS_SELECTOR EXPECTED...]
Exit 0 when every EXPECTED string is in the DOM, 1 on timeout (the last DOM is printed).
With --click, once the first strings are there it clicks the first element matching the
selector (as a user would) and then waits for the strings after it.
"""
import asyncio
import json
import os
import re
import shutil
import sys
import tempfile

from websockets.asyncio.client import connect

URL, TIMEOUT = sys.argv[1], float(sys.argv[2])
STEPS = [[]]  # [expected strings], then [selector, expected strings...] per --click
for arg in sys.argv[3:]:
    if arg == "--click":
        STEPS.append([])
    else:
        STEPS[-1].append(arg)


async def main():
    profile = tempfile.mkdtemp(prefix="eddy-chromium-")
    chromium = await asyncio.create_subprocess_exec(
        "/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        devtools = None
        while devtools is None:
            line = await asyncio.wait_for(chromium.stderr.readline(), 30)
            if not line:
                raise RuntimeError("chromium exited before listening")
            found = re.search(rb"DevTools listening on (ws://\S+)", line)
            if found:
                devtools = found.group(1).decode()
        # Keep draining stderr so Chromium never blocks on it.
        drain = asyncio.create_task(chromium.stderr.read())
        async with connect(devtools, max_size=None) as browser:
            ids = iter(range(1, 1_000_000))

            async def call(method, session=None, **params):
                message = {"id": next(ids), "method": method, "params": params}
                if session:
                    message["sessionId"] = session
                await browser.send(json.dumps(message))
                while True:
                    reply = json.loads(await browser.recv())
                    if reply.get("id") == message["id"]:
                        if "error" in reply:
                            raise RuntimeError(reply["error"])
                        return reply["result"]

            target = (await call("Target.createTarget", url=URL))["targetId"]
            session = (await call("Target.attachToTarget", targetId=target, flatten=True))["sessionId"]
            dom = ""
            deadline = asyncio.get_running_loop().time() + TIMEOUT
            for number, step in enumerate(STEPS):
                expected = step if number == 0 else step[1:]
                if number > 0:
                    selector = json.dumps(step[0])
                    await call("Runtime.evaluate", session, expression=f"document.querySelector({selector}).click()")
                while True:
                    result = await call("Runtime.evaluate", session, expression="document.documentElement.outerHTML")
                    dom = result["result"].get("value", "")
                    if all(e in dom for e in expected):
                        break
                    if asyncio.get_running_loop().time() > deadline:
                        print(dom)
                        return 1
                    await asyncio.sleep(0.2)
            print(dom)
            return 0
    finally:
        if chromium.returncode is None:
            chromium.kill()
        await chromium.wait()
        shutil.rmtree(profile, ignore_errors=True)


sys.exit(asyncio.run(main()))
