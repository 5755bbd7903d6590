"""Many Python `websockets` subscribers of one Eddy room.

Usage: ws_fanout_subscribers.py URL COUNT MESSAGES [--compressed-every K] [--pad N]
Opens COUNT connections (every K-th one offers permessage-deflate, the others offer
nothing; K=0 means none do), prints 'READY <count>' once all are open, then expects
MESSAGES text messages 'seq:<i>' followed by N 'x' (i = 0..MESSAGES-1, in order) on every
connection.
Prints 'OK <connections> <messages each> compressed=<n>' and exits 0, or prints what went
wrong and exits 1. Bounded by a 120 s overall timeout.
"""
import asyncio
import sys

from websockets.asyncio.client import connect

URL, COUNT, MESSAGES = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
EVERY = int(sys.argv[sys.argv.index("--compressed-every") + 1]) if "--compressed-every" in sys.argv else 0
PAD = "x" * (int(sys.argv[sys.argv.index("--pad") + 1]) if "--pad" in sys.argv else 0)


async def subscriber(index, opened, failures):
    compression = "deflate" if EVERY and index % EVERY == 0 else None
    async with connect(URL, compression=compression, open_timeout=60, ping_interval=None, max_queue=None) as ws:
        negotiated = [e.name for e in ws.protocol.extensions]
        opened.append(bool(negotiated))
        for expected in range(MESSAGES):
            message = await ws.recv()
            if message != f"seq:{expected}" + PAD:
                failures.append(f"connection {index}: expected seq:{expected}, got {message!r}")
                return


async def main():
    opened, failures = [], []
    # Open in waves so the listen backlog is never the limit.
    tasks = []
    for start in range(0, COUNT, 500):
        wave = [asyncio.create_task(subscriber(i, opened, failures)) for i in range(start, min(COUNT, start + 500))]
        tasks += wave
        while len(opened) < min(COUNT, start + 500) and not any(t.done() and t.exception() for t in wave):
            await asyncio.sleep(0.01)
    for t in tasks:
        if t.done() and t.exception():
            print(f"FAIL connect: {t.exception()!r}", flush=True)
            return 1
    print(f"READY {len(opened)}", flush=True)
    await asyncio.gather(*tasks)
    if failures:
        print("FAIL " + "; ".join(failures[:5]), flush=True)
        return 1
    print(f"OK {COUNT} {MESSAGES} compressed={sum(opened)}", flush=True)
    return 0


sys.exit(asyncio.run(asyncio.wait_for(main(), 120)))
