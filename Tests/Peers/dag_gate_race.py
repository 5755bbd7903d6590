"""Two operators on two nodes decide the same gate at once (issue 17, commands across nodes).

Usage: dag_gate_race.py BASE_1 BASE_2 DAG_ID OPERATOR_TOKEN
Both connect to the run's stream (on nodes that may or may not own it), then one approves and
the other rejects the gate "review" at the same moment. Prints the two statuses sorted, e.g.
"RESULTS accepted conflict", and exits 0 when exactly one was accepted and the other is a conflict.
"""
import asyncio
import json
import sys

from websockets.asyncio.client import connect

BASE_1, BASE_2, DAG, OPERATOR = sys.argv[1:5]


async def decide(ws, decision, command_id):
    await ws.send(json.dumps({"v": 1, "type": "human_decision", "command_id": command_id, "node_id": "review",
                              "decision": decision}))
    for _ in range(1000):
        event = json.loads(await asyncio.wait_for(ws.recv(), 20))
        if event["type"] == "command_result" and event["command_id"] == command_id:
            return event


async def main():
    async with connect(f"{BASE_1}/api/dags/{DAG}/stream?token={OPERATOR}") as one, \
               connect(f"{BASE_2}/api/dags/{DAG}/stream?token={OPERATOR}") as two:
        # Both streams are joined (their first message arrived) before either decides.
        await one.recv()
        await two.recv()
        results = await asyncio.gather(decide(one, "approve", "race-approve"), decide(two, "reject", "race-reject"))
    statuses = sorted(r["status"] for r in results)
    print("RESULTS " + " ".join(statuses), flush=True)
    sys.exit(0 if statuses == ["accepted", "conflict"] else 1)


asyncio.run(main())
