"""Members of one Eddy room spread over several nodes (`eddy echo --broadcast --redis …`).

Usage: ws_room_nodes.py URL[,URL…] MEMBERS_PER_NODE MESSAGES
Opens MEMBERS_PER_NODE connections to each URL; each sends 'hello:<name>' and waits for its
own hello to come back (then it is surely a member of the room on its node: joining happens
after the handshake); prints 'READY <count>', then the first
member of every node publishes MESSAGES text messages '<node index>:<i>' (i = 0..MESSAGES-1),
all publishers at once. Every member on every node must receive every publisher's messages,
each publisher's in order, with nothing else (but hellos) and nothing twice.
Prints 'OK <members> <messages each>' and exits 0, or prints what went wrong and exits 1.
Bounded by a 90 s overall timeout.
"""
import asyncio
import sys

from websockets.asyncio.client import connect

URLS, PER_NODE, MESSAGES = sys.argv[1].split(","), int(sys.argv[2]), int(sys.argv[3])


async def member(url, name):
    ws = await connect(url, open_timeout=30, ping_interval=None, max_queue=None)
    await ws.send(f"hello:{name}")
    for _ in range(10_000):
        if await ws.recv() == f"hello:{name}":
            return ws
    raise RuntimeError(f"{name} never got its own hello back")


async def receive_all(name, ws, failures):
    expected = {p: 0 for p in range(len(URLS))}
    total = len(URLS) * MESSAGES
    for _ in range(total):
        message = await ws.recv()
        while message.startswith("hello:"):  # a later member's hello
            message = await ws.recv()
        publisher, _, number = message.partition(":")
        if not publisher.isdigit() or int(publisher) not in expected:
            failures.append(f"{name}: unexpected message {message[:40]!r}")
            return
        p = int(publisher)
        if number != str(expected[p]):
            failures.append(f"{name}: from publisher {p} expected {expected[p]}, got {number}")
            return
        expected[p] += 1


async def main():
    failures = []
    members = []
    for n, url in enumerate(URLS):
        for m in range(PER_NODE):
            name = f"node{n}/member{m}"
            members.append((name, n, m, await member(url, name)))
    print(f"READY {len(members)}", flush=True)
    receivers = [asyncio.create_task(receive_all(name, ws, failures)) for name, _, _, ws in members]

    async def publish(node, ws):
        for i in range(MESSAGES):
            await ws.send(f"{node}:{i}")

    await asyncio.gather(*(publish(n, ws) for _, n, m, ws in members if m == 0))
    await asyncio.gather(*receivers)
    for _, _, _, ws in members:
        await ws.close()
    if failures:
        print("FAIL " + "; ".join(failures[:5]), flush=True)
        return 1
    print(f"OK {len(members)} {len(URLS) * MESSAGES}", flush=True)
    return 0


sys.exit(asyncio.run(asyncio.wait_for(main(), 90)))
