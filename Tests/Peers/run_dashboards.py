"""Shared parts of the DAG dashboard peers (`dag_run_nodes.py`, `dag_failover.py`, `dag_redis_restart.py`):
PASS/FAIL checks, bounded waits, and a Python `websockets` dashboard that records one run's
stream until `execution_complete` or until its connection ends."""
import asyncio
import json

from websockets.asyncio.client import connect

SESSION = {"snapshot", "command_result", "heartbeat"}
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + str(detail)[:800] if detail and not ok else ''}", flush=True)


def continuity(dashboard):
    """The first message is a snapshot at S (or, resuming, an event at since+1); then seq S+1, S+2, … once each."""
    first = dashboard.messages[0][1]
    seqs = [e["seq"] for _, e in dashboard.logged()]
    start = first["seq"] if first["type"] == "snapshot" else seqs[0] - 1
    return seqs == list(range(start + 1, start + 1 + len(seqs))), seqs


async def wait_for(predicate, seconds=60):
    for _ in range(int(seconds * 100)):
        if predicate():
            return True
        await asyncio.sleep(0.01)
    return False


class Dashboard:
    """Records every message of one stream, raw and parsed, until execution_complete or the
    connection ends (`done` / `ended`)."""

    def __init__(self, base, dag, token, name, query=""):
        self.url = f"{base}/api/dags/{dag}/stream?token={token}{query}"
        self.name = name
        self.messages = []  # (raw, parsed)
        self.done = asyncio.Event()
        self.ended = asyncio.Event()
        self.task = asyncio.create_task(self.run())

    async def run(self):
        try:
            async with connect(self.url) as ws:
                async for raw in ws:
                    event = json.loads(raw)
                    self.messages.append((raw, event))
                    if event["type"] == "execution_complete":
                        self.done.set()
                        return
        except Exception as error:  # e.g. the node died under it
            print(f"dashboard {self.name}: connection ended: {error!r}", flush=True)
        finally:
            self.ended.set()

    def logged(self):
        return [(raw, e) for raw, e in self.messages if e["type"] not in SESSION]

    def gate_waiting(self, gate="review"):
        return any((e["type"] == "snapshot" and any(g["node_id"] == gate for g in e["waiting_gates"]))
                   or e["type"] == "human_gate_waiting" for _, e in self.messages)

    def saw_running(self, node):
        return any(e["type"] == "node_state" and e["node_id"] == node and e["status"] == "running" for _, e in self.messages)
