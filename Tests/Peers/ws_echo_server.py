"""Python `websockets` echo server for Eddy's WebSocket client tests.

Usage: ws_echo_server.py [--no-compression]
Prints 'LISTENING <port>' once bound; echoes every message; exits after 60 s or when
stdin closes.
"""
import asyncio
import sys

from websockets.asyncio.server import serve


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main():
    compression = None if "--no-compression" in sys.argv else "deflate"
    # No keep-alive pings: on a loaded machine a 16 MiB message can take longer to arrive
    # than the pong timeout, and the pong waits behind it.
    async with serve(echo, "127.0.0.1", 0, compression=compression, max_size=None, ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"LISTENING {port}", flush=True)
        loop = asyncio.get_running_loop()
        stdin_closed = loop.run_in_executor(None, sys.stdin.read)
        await asyncio.wait_for(stdin_closed, 300)


asyncio.run(main())
