#!/usr/bin/env python3
"""Validates the protocol golden fixtures (and optionally every event stored in event-log
databases) against docs/protocol.schema.json.

Usage: python3 Tests/Fixtures/check-protocol-schema.py [events.sqlite ...]
Needs the `jsonschema` package (pip install jsonschema). Exit status 1 on any failure.
"""
import glob, json, os, sqlite3, sys
import jsonschema

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
schema = json.load(open(os.path.join(root, "docs/protocol.schema.json")))
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
failures = 0
fixtures = sorted(glob.glob(os.path.join(root, "Tests/Fixtures/protocol/*.json")))
for path in fixtures:
    for error in validator.iter_errors(json.load(open(path))):
        failures += 1
        print(f"FAIL {os.path.basename(path)}: {error.message[:200]}")
invalid = sorted(glob.glob(os.path.join(root, "Tests/Fixtures/protocol/invalid/*.json")))
for path in invalid:
    if validator.is_valid(json.load(open(path))):
        failures += 1
        print(f"FAIL invalid/{os.path.basename(path)} is accepted by the schema")
events = 0
for db in sys.argv[1:]:
    for (body,) in sqlite3.connect(db).execute("SELECT body FROM events ORDER BY run_id, seq"):
        events += 1
        for error in validator.iter_errors(json.loads(bytes(body))):
            failures += 1
            print(f"FAIL {db}: {error.message[:200]}")
print(f"{len(fixtures)} fixtures, {len(invalid)} invalid fixtures, {events} logged events checked; {failures} failures")
sys.exit(1 if failures else 0)
