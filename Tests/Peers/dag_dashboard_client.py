"""A Python `websockets` dashboard against Eddy's DAG stream endpoint.

Usage: dag_dashboard_client.py BASE DAG_ID OPERATOR_TOKEN VIEWER_TOKEN
BASE is ws://127.0.0.1:PORT. The run has a human gate "review" that waits for approval.
Prints PASS/FAIL lines and exits non-zero if a check failed.
"""
import asyncio
import json
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

BASE, DAG, OPERATOR, VIEWER = sys.argv[1:5]
URL = f"{BASE}/api/dags/{DAG}/stream"
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + str(detail) if detail and not ok else ''}", flush=True)


async def status_of(url, **options):
    try:
        async with connect(url, open_timeout=10, **options):
            return 101
    except InvalidStatus as error:
        return error.response.status_code


async def until(ws, predicate, seen, limit=500):
    for _ in range(limit):
        event = json.loads(await asyncio.wait_for(ws.recv(), 10))
        seen.append(event)
        if predicate(event):
            return event
    return None


def command(command_id, decision="approve"):
    return json.dumps({"v": 1, "type": "human_decision", "command_id": command_id, "node_id": "review", "decision": decision})


async def main():
    lobby_url = f"{BASE}/api/dags/stream"
    check("lobby without token -> 401", await status_of(lobby_url) == 401)
    lobby = await connect(lobby_url + f"?token={VIEWER}")
    listing = json.loads(await lobby.recv())
    check("lobby starts with the runs listing, this run live", listing["type"] == "runs" and any(
        r["dag_id"] == DAG and not r["finished"] and r["status"] == "running" for r in listing["runs"]), listing)

    check("no token -> 401", await status_of(URL) == 401)
    check("unknown token -> 401", await status_of(URL + "?token=nope") == 401)
    check("foreign origin -> 403", await status_of(URL + f"?token={OPERATOR}", origin="http://evil.example") == 403)
    check("unknown run -> 404", await status_of(f"{BASE}/api/dags/no-such-run/stream?token={OPERATOR}") == 404)

    # A viewer (token in Sec-WebSocket-Protocol, as a browser would send it) reads but cannot steer.
    async with connect(URL, subprotocols=["eddy.dag.v1", f"token.{VIEWER}"]) as ws:
        first = json.loads(await ws.recv())
        check("viewer gets a snapshot first", first["type"] == "snapshot" and first["dag_id"] == DAG, first["type"])
        check("subprotocol eddy.dag.v1 selected", ws.subprotocol == "eddy.dag.v1", ws.subprotocol)
        await ws.send(command("viewer-1"))
        reply = await until(ws, lambda e: e["type"] == "command_result", [])
        check("viewer command rejected", reply and reply["status"] == "rejected" and reply["command_id"] == "viewer-1", reply)

    # An operator approves the gate.
    seen = []
    async with connect(URL, additional_headers={"Authorization": f"Bearer {OPERATOR}"}) as ws:
        first = json.loads(await ws.recv())
        seen.append(first)
        check("operator gets a snapshot first", first["type"] == "snapshot", first["type"])
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        check("permessage-deflate negotiated without server context takeover",
              "permessage-deflate" in extensions and "server_no_context_takeover" in extensions, extensions)
        waiting = first["type"] == "snapshot" and any(n["id"] == "review" and n["status"] == "waiting_human" for n in first["nodes"])
        if not waiting:
            await until(ws, lambda e: e["type"] == "human_gate_waiting" and e["node_id"] == "review", seen)
        await ws.send(command("op-1"))
        reply = await until(ws, lambda e: e["type"] == "command_result", seen)
        check("approval accepted", reply and reply["status"] == "accepted", reply)
        done = next((e for e in seen if e["type"] == "node_state" and e["node_id"] == "review" and e["status"] == "completed"), None) \
            or await until(ws, lambda e: e["type"] == "node_state" and e["node_id"] == "review" and e["status"] == "completed", seen)
        check("gate completed after approval", done is not None)
        await ws.send(command("op-2", "reject"))
        reply = await until(ws, lambda e: e["type"] == "command_result", seen)
        check("second decision is a conflict", reply and reply["status"] == "conflict", reply)
        await ws.send(command("op-1"))
        reply = await until(ws, lambda e: e["type"] == "command_result", seen)
        check("repeated command_id is a duplicate", reply and reply["status"] == "duplicate", reply)
        live = [e for e in seen if e["type"] not in ("snapshot", "command_result", "heartbeat")]
        seqs = [e["seq"] for e in live]
        check("live seqs rise by one", seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs[:10])
        already = any(e["type"] == "execution_complete" for e in seen)
        complete = already or await until(ws, lambda e: e["type"] == "execution_complete", seen)
        check("run completes", bool(complete))
        mark = first["seq"]
        epoch = first["epoch"]
        expected = [e for e in seen if e["type"] not in ("snapshot", "command_result", "heartbeat") and e["seq"] > mark]

    # The lobby reports the end of the run, with its last seq.
    final_seq = next(e["seq"] for e in seen if e["type"] == "execution_complete")
    finished = await until(lobby, lambda e: e["type"] == "run_finished" and e["run"]["dag_id"] == DAG, [])
    check("lobby reports run_finished", finished and finished["run"]["status"] == "completed"
          and finished["run"]["finished"] and finished["run"]["last_seq"] == final_seq, finished)
    await lobby.close()

    # Reconnect with since: exactly the events after `mark`, in order, no duplicates.
    async with connect(URL + f"?since={mark}&epoch={epoch}", additional_headers={"Authorization": f"Bearer {OPERATOR}"}) as ws:
        replayed = []
        await until(ws, lambda e: e["type"] == "execution_complete", replayed)
        replayed = [e for e in replayed if e["type"] != "heartbeat"]
        check("resync replays exactly the missed events", [e["seq"] for e in replayed] == [e["seq"] for e in expected]
              and all(a == b for a, b in zip(replayed, expected)), (len(replayed), len(expected)))

    # A wrong epoch gets a snapshot instead of a replay.
    async with connect(URL + f"?since={mark}&epoch=1", additional_headers={"Authorization": f"Bearer {OPERATOR}"}) as ws:
        first = json.loads(await ws.recv())
        check("foreign epoch gets a snapshot", first["type"] == "snapshot", first["type"])

    # A resume point the server cannot trust is no resume point: a malformed or missing
    # epoch, or a malformed since, gets a snapshot too (never a replay from seq 1).
    for query in ["?since=0&epoch=garbage", f"?since=0&epoch={epoch}x", "?since=0", f"?since=0&epoch=",
                  f"?since=zero&epoch={epoch}", f"?since=-1&epoch={epoch}"]:
        async with connect(URL + query, additional_headers={"Authorization": f"Bearer {OPERATOR}"}) as ws:
            first = json.loads(await ws.recv())
            check(f"{query} gets a snapshot", first["type"] == "snapshot" and first["seq"] == final_seq, first)


asyncio.run(asyncio.wait_for(main(), 60))
passed = sum(results)
print(f"dag dashboard suite: {passed} checks passed, {len(results) - passed} checks failed")
sys.exit(0 if results and passed == len(results) else 1)
