"""A fault-injecting TCP proxy between dashboards and an Eddy server (loopback only).

Usage: fault_proxy.py TARGET_PORT [LISTEN_PORT]
Listens on 127.0.0.1:LISTEN_PORT (0 or absent: any free port) and forwards every connection
to 127.0.0.1:TARGET_PORT. Prints "PROXY <port>" once listening, then reads one command per
line on stdin and answers "OK <command>" once it is in force (or "ERR <reason>"):

  delay MS JITTER_MS   every chunk, in each direction, waits MS plus a uniform 0..JITTER_MS
                       (order within a connection is kept: TCP would reorder nothing)
  rate BYTES_PER_S     throttle each direction of each connection (0: unlimited)
  stall SECONDS        forward nothing either way for SECONDS, connections kept open (a
                       black-holed link: only keepalives notice; the answer comes when it ends)
  cut                  reset every current connection (RST to both sides)
  down SECONDS         cut, then refuse (reset) new connections for SECONDS (the link is down;
                       the answer comes when it is up again)
  clear                no delay, no throttle
  stats                "STATS accepted=N open=N cut=N refused=N"
  quit                 exit

Packet loss and reordering cannot be made above TCP: the kernel retransmits and reorders
them away, so the peers only see them as delay and stalls, which this proxy makes directly.
A seeded RNG (EDDY_FAULT_SEED) draws the jitter.
"""
import asyncio
import os
import random
import socket
import struct
import sys
import time

TARGET = int(sys.argv[1])
LISTEN = int(sys.argv[2]) if len(sys.argv) > 2 else 0
rng = random.Random(int(os.environ.get("EDDY_FAULT_SEED", "1")))


class Link:
    """The faults in force, shared by every connection."""

    def __init__(self):
        self.delay = 0.0
        self.jitter = 0.0
        self.rate = 0
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.down_until = 0.0
        self.pairs = set()
        self.counts = {"accepted": 0, "cut": 0, "refused": 0}


link = Link()


def reset(writer):
    """Closes with RST (SO_LINGER 0), as a cut link or a refusing host would look."""
    sock = writer.get_extra_info("socket")
    try:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
    except OSError:
        pass


async def pump(reader, writer):
    """One direction: read, wait out the faults, write; order kept by a single queue."""
    queue = asyncio.Queue()

    async def deliver():
        while True:
            due, data = await queue.get()
            if data is None:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            await link.flowing.wait()
            writer.write(data)
            await writer.drain()
            if link.rate:
                await asyncio.sleep(len(data) / link.rate)
        if writer.can_write_eof():
            writer.write_eof()

    delivering = asyncio.create_task(deliver())
    last_due = 0.0
    try:
        while True:
            await link.flowing.wait()
            data = await reader.read(16384)
            if not data:
                break
            await link.flowing.wait()  # a stall that began during the read holds this chunk too
            due = time.monotonic() + link.delay + rng.uniform(0, link.jitter)
            last_due = max(last_due, due)  # never overtake an earlier chunk
            await queue.put((last_due, data))
        await queue.put((0, None))
        await delivering
    except (ConnectionError, OSError):
        delivering.cancel()


async def serve(client_reader, client_writer):
    if time.monotonic() < link.down_until:
        link.counts["refused"] += 1
        reset(client_writer)
        return
    link.counts["accepted"] += 1
    try:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", TARGET)
    except OSError:
        reset(client_writer)
        return
    pair = (client_writer, server_writer)
    link.pairs.add(pair)
    try:
        await asyncio.gather(pump(client_reader, server_writer), pump(server_reader, client_writer),
                             return_exceptions=True)
    finally:
        link.pairs.discard(pair)
        for writer in pair:
            writer.close()


def cut_all():
    for pair in list(link.pairs):
        link.counts["cut"] += 1
        for writer in pair:
            reset(writer)
    link.pairs.clear()


async def command(line):
    words = line.split()
    if not words:
        return None
    name, args = words[0], [float(w) for w in words[1:]]
    if name == "delay":
        link.delay, link.jitter = args[0] / 1000, args[1] / 1000
    elif name == "rate":
        link.rate = int(args[0])
    elif name == "stall":
        link.flowing.clear()
        await asyncio.sleep(args[0])
        link.flowing.set()
    elif name == "cut":
        cut_all()
    elif name == "down":
        link.down_until = time.monotonic() + args[0]
        cut_all()
        await asyncio.sleep(args[0])
    elif name == "clear":
        link.delay = link.jitter = 0.0
        link.rate = 0
    elif name == "stats":
        c = link.counts
        return f"STATS accepted={c['accepted']} open={len(link.pairs)} cut={c['cut']} refused={c['refused']}"
    elif name == "quit":
        return "QUIT"
    else:
        return f"ERR unknown command {name}"
    return f"OK {line.strip()}"


async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", LISTEN)
    print(f"PROXY {server.sockets[0].getsockname()[1]}", flush=True)
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    while line := (await stdin.readline()).decode():
        try:
            answer = await command(line)
        except (ValueError, IndexError) as error:
            answer = f"ERR {error}"
        if answer == "QUIT":
            break
        if answer:
            print(answer, flush=True)
    cut_all()
    server.close()


asyncio.run(main())
