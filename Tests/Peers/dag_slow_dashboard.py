"""A Python `websockets` dashboard that stops reading, to make Eddy's DAG stream fall behind.

Usage: dag_slow_dashboard.py BASE DAG_ID TOKEN
BASE is ws://127.0.0.1:PORT. The run waits at a gate until the test approves it.

The dashboard connects with a tiny socket receive buffer, takes its first snapshot, prints
'READY', then reads nothing until the run has finished (it polls GET /api/dags). Then it
reads everything. The server must have replaced the backlog it could not deliver with a
`snapshot` in mid-stream: the dashboard checks that every logged event follows the previous
one or a snapshot with no gap, and prints 'OK <snapshots> <final seq> <nodes completed>'.
"""
import asyncio
import json
import socket
import sys
import urllib.request
from urllib.parse import urlparse

from websockets.asyncio.client import connect

BASE, DAG, TOKEN = sys.argv[1:4]
TERMINAL = {"completed", "failed", "cancelled", "interrupted"}


def finished():
    http = BASE.replace("ws://", "http://", 1)
    with urllib.request.urlopen(f"{http}/api/dags?token={TOKEN}", timeout=5) as response:
        runs = json.load(response)["runs"]
    return any(run["dag_id"] == DAG and run["finished"] for run in runs)


async def main():
    address = urlparse(BASE)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
    sock.connect((address.hostname, address.port))
    async with connect(f"{BASE}/api/dags/{DAG}/stream?token={TOKEN}", sock=sock,
                       max_queue=1, ping_interval=None, open_timeout=10) as ws:
        first = json.loads(await ws.recv())
        assert first["type"] == "snapshot", first["type"]
        print("READY", flush=True)
        for _ in range(1200):
            if await asyncio.to_thread(finished):
                break
            await asyncio.sleep(0.05)
        else:
            print("FAIL the run never finished", flush=True)
            return 1
        import os
        await asyncio.sleep(float(os.environ.get("EDDY_SLOW_EXTRA", "0")))
        nodes = {n["id"]: n["status"] for n in first["nodes"]}
        seq, snapshots, status = first["seq"], 1, first["status"]
        while status not in TERMINAL:
            event = json.loads(await asyncio.wait_for(ws.recv(), 10))
            kind = event["type"]
            if kind in ("heartbeat", "command_result"):
                continue
            if kind == "snapshot":
                if event["seq"] < seq:
                    print(f"FAIL stale snapshot: {event['seq']} after {seq}", flush=True)
                    return 1
                snapshots += 1
                seq, status = event["seq"], event["status"]
                nodes = {n["id"]: n["status"] for n in event["nodes"]}
                continue
            if event["seq"] != seq + 1:
                print(f"FAIL gap: {seq} -> {event['seq']}", flush=True)
                return 1
            seq = event["seq"]
            if kind == "node_state":
                nodes[event["node_id"]] = event["status"]
            elif kind == "execution_complete":
                status = event["status"]
        done = sum(1 for s in nodes.values() if s == "completed")
        print(f"OK {snapshots} {seq} {done} {status}", flush=True)
        return 0


sys.exit(asyncio.run(asyncio.wait_for(main(), 90)))
