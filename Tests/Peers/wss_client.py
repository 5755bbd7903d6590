"""Python `websockets` and `http.client` over `ssl` as clients of an Eddy HTTPS/WSS echo
server.

Usage: wss_client.py BASE_URL CA_FILE      (BASE_URL: wss://host:port)
Checks GET /healthz over https, then echoes on BASE_URL/echo a text message and binary
messages up to 1 MiB (permessage-deflate negotiated), and closes with 1000. Prints one
line per check and exits non-zero if any failed.
"""
import asyncio
import http.client
import os
import ssl
import sys

from websockets.asyncio.client import connect

BASE, CA = sys.argv[1], sys.argv[2]
HOST, PORT = BASE.removeprefix("wss://").split(":")
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + str(detail) if detail and not ok else ''}", flush=True)


async def main():
    context = ssl.create_default_context(cafile=CA)
    https = http.client.HTTPSConnection(HOST, int(PORT), context=context, timeout=20)
    https.request("GET", "/healthz")
    response = https.getresponse()
    check("https healthz", response.status == 200 and response.read() == b"ok\n", response.status)
    https.close()

    async with connect(BASE + "/echo", ssl=context, max_size=None, open_timeout=20) as ws:
        names = [e.name for e in ws.protocol.extensions]
        check("deflate negotiated", "permessage-deflate" in names, names)
        await ws.send("hello over wss")
        reply = await ws.recv()
        check("text echo", reply == "hello over wss", reply)
        for size in (0, 125, 65536, 512 << 10):
            data = os.urandom(size)
            await ws.send(data)
            echoed = await ws.recv()
            check(f"binary echo {size}", echoed == data, len(echoed))
        await ws.close()
        check("clean close", ws.protocol.close_code == 1000, ws.protocol.close_code)

    # An untrusting client is refused; the server goes on.
    try:
        async with connect(BASE + "/echo", ssl=ssl.create_default_context(), open_timeout=20):
            check("untrusted refused", False, "connected")
    except ssl.SSLCertVerificationError:
        check("untrusted refused", True)
    async with connect(BASE + "/echo", ssl=context, open_timeout=20) as ws:
        await ws.send("again")
        check("served after a refusal", await ws.recv() == "again")


asyncio.run(main())
sys.exit(0 if all(results) else 1)
