"""Redis restarted mid-run (issue 17): Python `websockets` dashboards on nodes A and B watch a
run of node A; the gate is approved on A, then this script writes MARKER and the test restarts
redis-server (AOF on) while the run's next nodes run. Every logged event must reach every
dashboard once, in order, across the restart, and Redis must hold A's whole log.

Usage: dag_redis_restart.py A_BASE B_BASE DAG_ID OPERATOR_TOKEN VIEWER_TOKEN MARKER
Prints PASS/FAIL lines, then "OK <events>" and exits 0 when every check passed.
"""
import asyncio
import json
import sys
import urllib.request

from websockets.asyncio.client import connect

from run_dashboards import Dashboard, check, results, wait_for

A, B, DAG, OPERATOR, VIEWER, MARKER = sys.argv[1:7]


async def main():
    dashboards = [Dashboard(base, DAG, VIEWER, name) for base, name in ((A, "a0"), (B, "b0"), (B, "b1"))]
    check("every dashboard sees the gate waiting", await wait_for(lambda: all(d.gate_waiting() for d in dashboards)))
    async with connect(f"{A}/api/dags/{DAG}/stream?token={OPERATOR}") as ws:
        await ws.send(json.dumps({"v": 1, "type": "human_decision", "command_id": "approve-on-a", "node_id": "review",
                                  "decision": "approve"}))
        result = None
        for _ in range(1000):
            event = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if event["type"] == "command_result":
                result = event
                break
    check("the approval on A is accepted", result is not None and result["status"] == "accepted", result)
    with open(MARKER, "w") as marker:
        marker.write("approved\n")

    done = await wait_for(lambda: all(d.done.is_set() for d in dashboards), 90)
    check("every dashboard gets execution_complete across the restart", done, [(d.name, len(d.messages)) for d in dashboards])
    with urllib.request.urlopen(A.replace("ws://", "http://") + f"/api/dags/{DAG}/events?token={VIEWER}", timeout=10) as r:
        events = json.loads(r.read())["events"]
    epoch = dashboards[0].messages[0][1]["epoch"]
    for d in dashboards:
        first = d.messages[0][1]
        seqs = [e["seq"] for _, e in d.logged()]
        start = first["seq"] if first["type"] == "snapshot" else seqs[0] - 1
        check(f"dashboard {d.name}: every seq once, in order, to A's last", seqs == list(range(start + 1, len(events) + 1)),
              (start, seqs, len(events)))
        check(f"dashboard {d.name}: each event is A's logged event", all(events[e["seq"] - 1] == e for _, e in d.logged()))
        check(f"dashboard {d.name}: same epoch", all(e["epoch"] == epoch for _, e in d.messages))
    completes = [e for e in events if e["type"] == "execution_complete"]
    check("A's log: one execution_complete, completed", [e["status"] for e in completes] == ["completed"], completes)
    if all(results):
        print(f"OK {len(events)}", flush=True)
    else:
        sys.exit(1)


asyncio.run(main())
