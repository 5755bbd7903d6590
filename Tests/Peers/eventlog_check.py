"""Checks an Eddy SQLite event log after a crash (Python's own sqlite3, no server running).

Usage: eventlog_check.py DB [--finished RUN_ID ...]
Prints one line of JSON ({"integrity", "runs", "events", "live", "problems"}) and exits 0
when there is no problem:
- `PRAGMA integrity_check` answers "ok";
- every run's events have seq 1..max, each once (the primary key forbids a duplicate; a hole
  shows as count != max);
- a finished run ends with `execution_complete` and nothing after it, whose status is the
  run's status; a live run has no `execution_complete`;
- each RUN_ID given with --finished is finished (the restart marked it interrupted, or it
  completed).
"""
import json
import sqlite3
import sys

db, finished_required = sys.argv[1], sys.argv[3:] if sys.argv[2:3] == ["--finished"] else []
connection = sqlite3.connect(f"file:{db}?mode=rw", uri=True)
problems = []
integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
if integrity != "ok":
    problems.append(f"integrity_check: {integrity}")
runs = connection.execute("SELECT run_id, finished, status FROM runs").fetchall()
total, live = 0, []
for run_id, finished, status in runs:
    low, high, count = connection.execute(
        "SELECT MIN(seq), MAX(seq), COUNT(*) FROM events WHERE run_id = ?", (run_id,)).fetchone()
    total += count
    if count == 0 or low != 1 or high != count:
        problems.append(f"{run_id}: seq not 1..max (min {low}, max {high}, count {count})")
        continue
    completes = connection.execute(
        "SELECT seq, body FROM events WHERE run_id = ? AND type = 'execution_complete'", (run_id,)).fetchall()
    if finished:
        if len(completes) != 1 or completes[0][0] != high:
            problems.append(f"{run_id}: finished but execution_complete is not its one last event ({len(completes)})")
        elif json.loads(bytes(completes[0][1]))["status"] != status:
            problems.append(f"{run_id}: run status {status} differs from its execution_complete")
    else:
        live.append(run_id)
        if completes:
            problems.append(f"{run_id}: live but has execution_complete")
for run_id in finished_required:
    if run_id in live or run_id not in {r[0] for r in runs}:
        problems.append(f"{run_id}: expected finished (interrupted or completed)")
print(json.dumps({"integrity": integrity, "runs": len(runs), "events": total, "live": live, "problems": problems}),
      flush=True)
sys.exit(1 if problems else 0)
