"""Loads a page in headless Chromium and waits, in real time, until its DOM contains every
expected string; prints the DOM. Drives Chromium over the DevTools protocol (with the
`websockets` client), because `--dump-dom` dumps when a virtual-time budget runs out, which
does not wait for WebSocket traffic.

Usage: chromium_dom.py URL TIMEOUT_SECONDS STEP [--click CSS_SELECTOR STEP | --do JS STEP | --viewport WxH STEP]...
where a STEP is any number of
    EXPECTED          a string the DOM must contain
    --absent STRING   a string the DOM must not contain
    --eval JS         an expression evaluated once the step's DOM conditions hold
    --screenshot PNG  a screenshot (Page.captureScreenshot) written to PNG once they hold
    --signal FILE     FILE created once they hold (for a test that acts on the server then)
The first step waits for the page; --click clicks the first element matching the selector
(as a user would: a failed lookup is an error), --do evaluates an expression (for example
`location.reload()`), --viewport emulates a window of W × H CSS pixels (a narrow phone, say),
and each then waits for its own step's conditions.

Output: one line `EVAL <n> <value>` per --eval, numbered from 1 in command-line order, as
soon as it is evaluated: the value as JSON, `undefined` for undefined, or
`EXCEPTION <text>` when it threw (a promise is awaited); then the last DOM. Exit 0 when
every step's conditions held, 1 on timeout or a failed action (the missing conditions are
printed after the DOM). TIMEOUT_SECONDS bounds the whole run.

`--chromium-flag FLAG` (anywhere, repeatable) passes FLAG to Chromium, e.g.
`--ignore-certificate-errors-spki-list=<base64 SHA-256 of a key>` to trust a test server's
key over https.
"""
import asyncio
import base64
import json
import re
import shutil
import sys
import tempfile

from websockets.asyncio.client import connect


def parse(arguments):
    def step(action):
        return {"action": action, "expected": [], "absent": [], "evals": [], "screenshots": [], "signals": []}

    steps = [step(None)]
    evals = 0
    i = 0
    while i < len(arguments):
        arg = arguments[i]
        if arg in ("--click", "--do", "--viewport", "--absent", "--eval", "--screenshot", "--signal"):
            if i + 1 >= len(arguments):
                sys.exit(f"{arg} needs a value")
            value = arguments[i + 1]
            i += 2
            if arg in ("--click", "--do", "--viewport"):
                steps.append(step((arg[2:], value)))
            elif arg == "--screenshot":
                steps[-1]["screenshots"].append(value)
            elif arg == "--signal":
                steps[-1]["signals"].append(value)
            elif arg == "--absent":
                steps[-1]["absent"].append(value)
            else:
                evals += 1
                steps[-1]["evals"].append((evals, value))
        else:
            steps[-1]["expected"].append(arg)
            i += 1
    return steps


def chromium_flags(arguments):
    """Takes the `--chromium-flag FLAG` pairs out of `arguments` (in place)."""
    flags = []
    while "--chromium-flag" in arguments:
        i = arguments.index("--chromium-flag")
        if i + 1 >= len(arguments):
            sys.exit("--chromium-flag needs a value")
        flags.append(arguments[i + 1])
        del arguments[i:i + 2]
    return flags


EXTRA_FLAGS = chromium_flags(sys.argv)


URL, TIMEOUT = sys.argv[1], float(sys.argv[2])
STEPS = parse(sys.argv[3:])


def shown(result):
    """An evaluation's value as printed: JSON, `undefined`, or the exception."""
    if "exceptionDetails" in result:
        details = result["exceptionDetails"]
        text = details.get("exception", {}).get("description") or details.get("text", "exception")
        return "EXCEPTION " + " ".join(str(text).split())
    value = result["result"]
    if "value" in value:
        return json.dumps(value["value"])
    if value.get("type") == "undefined":
        return "undefined"
    return json.dumps(value.get("description"))  # a value JSON cannot carry


async def main():
    profile = tempfile.mkdtemp(prefix="eddy-chromium-")
    chromium = await asyncio.create_subprocess_exec(
        "/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--remote-debugging-port=0", f"--user-data-dir={profile}", *EXTRA_FLAGS, "about:blank",
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

            async def evaluate(expression):
                return await call("Runtime.evaluate", session, expression=expression, returnByValue=True, awaitPromise=True)

            target = (await call("Target.createTarget", url=URL))["targetId"]
            session = (await call("Target.attachToTarget", targetId=target, flatten=True))["sessionId"]
            dom = ""
            loop = asyncio.get_running_loop()
            deadline = loop.time() + TIMEOUT
            for step in STEPS:
                if step["action"] is not None:
                    kind, value = step["action"]
                    if kind == "viewport":
                        width, height = (int(n) for n in value.split("x"))
                        await call("Emulation.setDeviceMetricsOverride", session, width=width, height=height,
                                   deviceScaleFactor=1, mobile=True)
                        expression = "undefined"
                    elif kind == "click":
                        selector = json.dumps(value)
                        expression = f"(() => {{ const e = document.querySelector({selector}); if (!e) throw new Error('no element matches ' + {selector}); e.click(); }})()"
                    else:
                        expression = value
                    result = await evaluate(expression)
                    if "exceptionDetails" in result:
                        print(dom)
                        print(f"FAILED ACTION {kind} {value}: {shown(result)}")
                        return 1
                while True:
                    try:
                        result = await evaluate("document.documentElement.outerHTML")
                        dom = result["result"].get("value", "")
                    except RuntimeError:
                        dom = ""  # between documents (a reload): try again
                    missing = [e for e in step["expected"] if e not in dom] + [f"absent: {a}" for a in step["absent"] if a in dom]
                    if not missing:
                        break
                    if loop.time() > deadline:
                        print(dom)
                        print("MISSING " + json.dumps(missing))
                        return 1
                    await asyncio.sleep(0.2)
                for number, expression in step["evals"]:
                    print(f"EVAL {number} {shown(await evaluate(expression))}", flush=True)
                for path in step["screenshots"]:
                    image = (await call("Page.captureScreenshot", session, format="png"))["data"]
                    with open(path, "wb") as file:
                        file.write(base64.b64decode(image))
                    print(f"SCREENSHOT {path}", flush=True)
                for path in step["signals"]:
                    with open(path, "w") as file:
                        file.write("ready\n")
            print(dom)
            return 0
    finally:
        if chromium.returncode is None:
            chromium.kill()
        await chromium.wait()
        shutil.rmtree(profile, ignore_errors=True)


sys.exit(asyncio.run(main()))
