#!/usr/bin/env python3
"""Server RSS per idle wss:// connection, for each server command given, side by side.

  rss-idle-wss.py [-n 2000] --cert C --key K --ca CA -- NAME=COMMAND ...

Each COMMAND (a shell-free argument list separated by spaces; it must listen on 127.0.0.1
with port 0 and print "LISTENING <port>") is started with `--tls-cert C --tls-key K` appended,
then: RSS of the server (VmRSS) after 1 s -> before; N wss:// connections opened (TLS 1.3
handshake, WebSocket upgrade without extensions, nothing sent after) with Python's ssl and
`websockets`, 100 at a time; 2 s settle; RSS -> after; prints
`RESULT server=NAME connections=N kib_per_connection=(after-before)/N`. Every server is
stopped by its own PID. Loopback only; every wait bounded.
"""
import argparse
import asyncio
import ssl
import subprocess
import sys
import time

from websockets.asyncio.client import connect


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def hold(port, count, context):
    sockets = []
    for start in range(0, count, 100):
        batch = [connect(f"wss://localhost:{port}/", ssl=context, compression=None, open_timeout=60,
                         ping_interval=None, max_size=2**20) for _ in range(min(100, count - start))]
        sockets += await asyncio.gather(*batch)
    return sockets


def measure(name, command, count, context):
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = server.stdout.readline()
        if not line.startswith("LISTENING "):
            print(f"RESULT server={name} error=did-not-start", flush=True)
            return
        port = int(line.split()[1])
        time.sleep(1)
        before = rss_kib(server.pid)

        async def run():
            sockets = await hold(port, count, context)
            await asyncio.sleep(2)
            after = rss_kib(server.pid)
            for socket in sockets:
                socket.transport.abort()
            return after
        after = asyncio.run(run())
        print(f"RESULT server={name} connections={count} rss_before_kib={before} rss_after_kib={after} "
              f"kib_per_connection={(after - before) / count:.2f}", flush=True)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("servers", nargs="+")
    arguments = parser.parse_args()
    context = ssl.create_default_context(cafile=arguments.ca)
    for server in arguments.servers:
        name, _, command = server.partition("=")
        measure(name, command.split() + ["--tls-cert", arguments.cert, "--tls-key", arguments.key], arguments.n, context)


if __name__ == "__main__":
    sys.exit(main())
