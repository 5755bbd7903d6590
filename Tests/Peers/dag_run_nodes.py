"""Python `websockets` dashboards watching one run from every node (issue 17, runs across nodes).

Usage: dag_run_nodes.py OWNER_BASE OTHER_BASES DAG_ID OPERATOR_TOKEN VIEWER_TOKEN
OWNER_BASE is ws://127.0.0.1:PORT of the node that executes the run; OTHER_BASES is a
comma-separated list of the other nodes. The run's gate "review" waits for approval.
Prints PASS/FAIL lines, then "OK <dashboards> <events>" and exits 0 when every check passed.
"""
import asyncio
import json
import sys

from websockets.asyncio.client import connect

from run_dashboards import Dashboard, check, continuity, results, wait_for

OWNER, OTHERS, DAG, OPERATOR, VIEWER = sys.argv[1], sys.argv[2].split(","), sys.argv[3], sys.argv[4], sys.argv[5]
BASES = [OWNER] + OTHERS


async def command(base, token, decision, command_id):
    async with connect(f"{base}/api/dags/{DAG}/stream?token={token}") as ws:
        await ws.send(json.dumps({"v": 1, "type": "human_decision", "command_id": command_id, "node_id": "review",
                                  "decision": decision}))
        for _ in range(1000):
            event = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if event["type"] == "command_result" and event["command_id"] == command_id:
                return event
    return None


async def main():
    # The lobby of the last node lists the owner's run.
    async with connect(f"{BASES[-1]}/api/dags/stream?token={VIEWER}") as lobby:
        listing = json.loads(await lobby.recv())
        check("the lobby on another node lists the run", listing["type"] == "runs" and any(
            r["dag_id"] == DAG for r in listing["runs"]), listing)

    dashboards = [Dashboard(base, DAG, VIEWER, f"{i}-{j}") for i, base in enumerate(BASES) for j in range(2)]
    late = Dashboard(OTHERS[0], DAG, VIEWER, "late")
    check("every dashboard sees the gate waiting",
          await wait_for(lambda: all(d.gate_waiting() for d in dashboards + [late])))

    viewer = await command(OTHERS[-1], VIEWER, "approve", "from-a-viewer")
    check("a viewer's command on another node is refused there", viewer is not None and viewer["status"] == "rejected", viewer)

    # One dashboard leaves and comes back later with since/epoch.
    late.task.cancel()
    await asyncio.gather(late.task, return_exceptions=True)
    since, epoch = late.logged()[-1][1]["seq"] if late.logged() else late.messages[0][1]["seq"], late.messages[0][1]["epoch"]

    # The gate is decided from the last node; the owner's engine decides, first decision wins.
    accepted = await command(OTHERS[-1], OPERATOR, "approve", "from-a-remote-node")
    check("an approval sent to another node is forwarded to the owner and accepted",
          accepted is not None and accepted["status"] == "accepted", accepted)
    late_decision = await command(OWNER, OPERATOR, "reject", "too-late-on-the-owner")
    check("a later decision on the owner is a conflict", late_decision is not None and late_decision["status"] == "conflict",
          late_decision)
    owner_view = dashboards[0]
    check("events flow after the approval", await wait_for(lambda: len(owner_view.logged()) >= 8))

    resumed = Dashboard(OTHERS[0], DAG, VIEWER, "resumed", f"&since={since}&epoch={epoch}")
    done = await wait_for(lambda: all(d.done.is_set() for d in dashboards + [resumed]), seconds=30)
    check("every dashboard gets execution_complete", done, [(d.name, len(d.messages)) for d in dashboards + [resumed]])

    by_seq = {e["seq"]: raw for raw, e in owner_view.logged()}
    for d in dashboards:
        ok, seqs = continuity(d)
        check(f"dashboard {d.name}: snapshot then every seq once, in order", ok, seqs)
        same = all(by_seq.get(e["seq"], raw) == raw for raw, e in d.logged())
        check(f"dashboard {d.name}: each event byte-identical to the owner's", same)
        check(f"dashboard {d.name}: ends with execution_complete", d.logged()[-1][1]["type"] == "execution_complete")
        check(f"dashboard {d.name}: got the run's events after the gate live", len(d.logged()) >= 8, len(d.logged()))
    ok, seqs = continuity(resumed)
    check("the resumed dashboard starts exactly after its since, no snapshot, no gap",
          ok and resumed.messages[0][1]["type"] != "snapshot" and seqs[0] == since + 1, (since, seqs))
    check("the resumed dashboard gets the owner's bytes", all(by_seq.get(e["seq"], raw) == raw for raw, e in resumed.logged()))

    # Converged: a fresh snapshot on every node is the same state at the same seq.
    finals = []
    for base in BASES:
        async with connect(f"{base}/api/dags/{DAG}/stream?token={VIEWER}") as ws:
            snapshot = json.loads(await ws.recv())
            snapshot.pop("ts")
            finals.append(snapshot)
    check("every node's snapshot is the owner's final state", all(f == finals[0] for f in finals) and
          finals[0]["status"] == "completed", finals)

    events = sum(len(d.logged()) for d in dashboards + [resumed])
    if all(results):
        print(f"OK {len(dashboards) + 1} {events}", flush=True)
    else:
        sys.exit(1)


asyncio.run(main())
