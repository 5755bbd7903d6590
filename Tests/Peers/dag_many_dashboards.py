"""Many Python `websockets` dashboards on one DAG run.

Usage: dag_many_dashboards.py URL TOKEN COUNT
Opens COUNT streams, prints 'READY <count>' once all have their snapshot, then follows
every stream to execution_complete, applying node_state deltas to the snapshot. Prints
'OK <count> <final seq>' if every dashboard ended with the same seq and node statuses.
"""
import asyncio
import json
import sys

from websockets.asyncio.client import connect

URL, TOKEN, COUNT = sys.argv[1], sys.argv[2], int(sys.argv[3])
TERMINAL = {"completed", "failed", "cancelled", "interrupted"}


progress = {}


async def dashboard(ready, finals):
    async with connect(URL + f"?token={TOKEN}", open_timeout=60, ping_interval=None, max_queue=None) as ws:
        snapshot = json.loads(await ws.recv())
        nodes = {n["id"]: n["status"] for n in snapshot["nodes"]}
        seq = snapshot["seq"]
        me = len(progress)
        progress[me] = seq
        ready.append(1)
        while snapshot["status"] not in TERMINAL:
            event = json.loads(await ws.recv())
            if event["type"] in ("heartbeat", "command_result"):
                continue
            if event["type"] == "snapshot":  # caught up after falling behind: the whole state
                snapshot = event
                seq = event["seq"]
                nodes = {n["id"]: n["status"] for n in event["nodes"]}
                progress[me] = seq
                continue
            if event["seq"] != seq + 1:
                raise RuntimeError(f"gap: {seq} -> {event['seq']}")
            seq = event["seq"]
            progress[me] = seq
            if event["type"] == "node_state":
                nodes[event["node_id"]] = event["status"]
            if event["type"] == "dag_mutated":
                for n in event["mutation"].get("added_nodes", []):
                    nodes.setdefault(n["id"], "pending")
            if event["type"] == "execution_complete":
                break
        # Ended by execution_complete, or joined (or caught up) after the run had ended.
        finals.append((seq, tuple(sorted(nodes.items()))))


async def main():
    ready, finals = [], []
    tasks = []
    for start in range(0, COUNT, 200):
        tasks += [asyncio.create_task(dashboard(ready, finals)) for _ in range(start, min(COUNT, start + 200))]
        while len(ready) < min(COUNT, start + 200):
            if any(t.done() and t.exception() for t in tasks):
                break
            await asyncio.sleep(0.01)
    print(f"READY {len(ready)}", flush=True)
    await asyncio.gather(*tasks)
    if len(finals) == COUNT and len(set(finals)) == 1:
        print(f"OK {COUNT} {finals[0][0]}", flush=True)
        return 0
    print(f"FAIL finals={len(finals)} distinct={len(set(finals))}", flush=True)
    return 1


try:
    sys.exit(asyncio.run(asyncio.wait_for(main(), 100)))
except TimeoutError:
    from collections import Counter
    print(f"FAIL timeout: last seq per dashboard -> count: {sorted(Counter(progress.values()).items())}", flush=True)
    sys.exit(1)
