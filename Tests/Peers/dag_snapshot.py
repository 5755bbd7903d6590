"""Prints the status in the snapshot a dashboard of one run gets first (Python `websockets`).

Usage: dag_snapshot.py BASE DAG_ID TOKEN
Prints "STATUS <status> SEQ <seq>" and exits 0, or exits 1 when no snapshot comes within 10 s.
"""
import asyncio
import json
import sys

from websockets.asyncio.client import connect


async def main():
    base, dag, token = sys.argv[1], sys.argv[2], sys.argv[3]
    async with connect(f"{base}/api/dags/{dag}/stream?token={token}") as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), 10))
    if first.get("type") != "snapshot":
        print(f"FAIL first message is {first.get('type')}")
        sys.exit(1)
    print(f"STATUS {first['status']} SEQ {first['seq']}")


asyncio.run(main())
