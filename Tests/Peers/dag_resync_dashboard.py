"""A Python dashboard that follows one run across faults, resyncing as protocol.md says.

Usage: dag_resync_dashboard.py STREAM_URL TOKEN DEADLINE_SECONDS [READY_FILE]
Follows the run until it is finished, reconnecting (every 0.2-1 s, bounded by the deadline)
after any failure with ?since=<last seq>&epoch=<epoch>, and with its own keepalive (ping every
2 s, 3 s to answer) so that a black-holed link is noticed. Prints "READY" after the first
snapshot (and creates READY_FILE, so that a test can wait for it), then one last line "FINAL <json>": the state it converged to (seq, status, nodes)
and its continuity record. Exits 0 if the run was seen finished, 1 otherwise.

Continuity, checked here over every connection: what the dashboard applies is a chain in
which each logged event has seq = previous + 1 and each snapshot has seq >= previous (a
snapshot replaces the state; it may skip ahead, never back). An event with seq <= previous
is a duplicate, one with seq > previous + 1 a gap; both are counted (and a gap resubscribes).
"""
import asyncio
import json
import random
import sys
import time

from websockets.asyncio.client import connect

URL, TOKEN, DEADLINE = sys.argv[1], sys.argv[2], float(sys.argv[3])
READY_FILE = sys.argv[4] if len(sys.argv) > 4 else None
TERMINAL = {"completed", "failed", "cancelled", "budget_exceeded", "interrupted"}
SESSION = {"snapshot", "command_result", "heartbeat"}


class Dashboard:
    def __init__(self):
        self.seq = None
        self.epoch = None
        self.status = None
        self.nodes = {}
        self.finished = False
        self.record = {"connections": 0, "snapshots": 0, "events": 0, "replays": 0,
                       "gaps": 0, "duplicates": 0, "backwards_snapshots": 0}

    def apply_snapshot(self, s):
        if self.seq is not None and s["seq"] < self.seq:
            self.record["backwards_snapshots"] += 1
        self.seq, self.epoch, self.status = s["seq"], s["epoch"], s["status"]
        self.nodes = {n["id"]: {"status": n["status"], "attempt": n["attempt"], "output": n.get("output")}
                      for n in s["nodes"]}
        self.finished = s["status"] in TERMINAL
        self.record["snapshots"] += 1

    def apply(self, e):
        """Applies a logged event; False on a gap (resubscribe)."""
        if e["seq"] <= self.seq:
            self.record["duplicates"] += 1
            return True
        if e["seq"] != self.seq + 1:
            self.record["gaps"] += 1
            return False
        self.seq = e["seq"]
        self.record["events"] += 1
        kind = e["type"]
        if kind == "dag_mutated":
            for n in e["mutation"].get("added_nodes", []):
                self.nodes.setdefault(n["id"], {"status": "pending", "attempt": 0, "output": None})
            for n in e["mutation"].get("removed_nodes", []):
                self.nodes[n]["status"] = "removed"
        elif kind == "node_state":
            node = self.nodes[e["node_id"]]
            node["status"] = e["status"]
            if "attempt" in e:
                node["attempt"] = e["attempt"]
            if "output" in e:
                node["output"] = e["output"]
        elif kind in ("execution_state", "execution_complete"):
            self.status = e["status"]
            self.finished = kind == "execution_complete"
        return True

    async def follow_once(self, ready):
        url = URL if self.seq is None else f"{URL}?since={self.seq}&epoch={self.epoch}"
        async with connect(url, additional_headers={"Authorization": f"Bearer {TOKEN}"}, open_timeout=5,
                           ping_interval=2, ping_timeout=3, max_queue=None) as ws:
            self.record["connections"] += 1
            first = True
            async for text in ws:
                e = json.loads(text)
                if e["type"] == "snapshot":
                    self.apply_snapshot(e)
                    if not ready:
                        ready.append(1)
                        print("READY", flush=True)
                        if READY_FILE:
                            open(READY_FILE, "w").close()
                elif e["type"] not in SESSION and self.seq is not None:
                    if first:
                        self.record["replays"] += 1
                    if not self.apply(e):
                        return
                first = False
                if self.finished:
                    return


async def main(dashboard):
    ready = []
    while not dashboard.finished:
        try:
            await dashboard.follow_once(ready)
        except (OSError, asyncio.TimeoutError, Exception) as error:  # any failure: reconnect
            if not isinstance(error, (OSError, asyncio.TimeoutError)) and "ConnectionClosed" not in type(error).__name__ \
                    and "InvalidStatus" not in type(error).__name__ and "InvalidMessage" not in type(error).__name__:
                raise
        if not dashboard.finished:
            await asyncio.sleep(random.uniform(0.2, 1.0))


dashboard = Dashboard()
started = time.monotonic()
try:
    asyncio.run(asyncio.wait_for(main(dashboard), DEADLINE))
except TimeoutError:
    pass
final = {"seq": dashboard.seq, "epoch": dashboard.epoch, "status": dashboard.status, "nodes": dashboard.nodes,
         "finished": dashboard.finished, "seconds": round(time.monotonic() - started, 1), **dashboard.record}
print("FINAL " + json.dumps(final, sort_keys=True), flush=True)
sys.exit(0 if dashboard.finished else 1)
