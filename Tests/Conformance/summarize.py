"""Summarises Autobahn|Testsuite reports and fails on any result but OK or INFORMATIONAL.

Usage: summarize.py LABEL REPORT_DIR [LABEL REPORT_DIR ...]

Reads each REPORT_DIR/index.json (what wstest writes), prints a Markdown table of counts per
result (behavior and close behavior), lists every case with another result, and exits 1 if
there is one (or if a report is missing or has no case).
"""
import collections
import json
import os
import sys

ALLOWED = {"OK", "INFORMATIONAL"}


def case_key(case):
    return [int(part) for part in case.split(".")]


def main(argv):
    if len(argv) < 3 or len(argv) % 2 == 0:
        print(__doc__, file=sys.stderr)
        return 2
    failed = False
    print("| run | cases | results | close results |")
    print("|---|---:|---|---|")
    problems = []
    for label, directory in zip(argv[1::2], argv[2::2]):
        path = os.path.join(directory, "index.json")
        try:
            with open(path) as f:
                index = json.load(f)
        except (OSError, ValueError) as error:
            print(f"| {label} | 0 | report missing: {error} | |")
            failed = True
            continue
        cases = {case: result for agent in index.values() for case, result in agent.items()}
        if not cases:
            failed = True
        behavior = collections.Counter(r["behavior"] for r in cases.values())
        close = collections.Counter(r["behaviorClose"] for r in cases.values())
        fmt = lambda c: ", ".join(f"{k} {v}" for k, v in sorted(c.items()))
        print(f"| {label} | {len(cases)} | {fmt(behavior)} | {fmt(close)} |")
        for case in sorted(cases, key=case_key):
            result = cases[case]
            if result["behavior"] not in ALLOWED or result["behaviorClose"] not in ALLOWED:
                problems.append(f"{label} {case}: {result['behavior']} / close {result['behaviorClose']}")
    if problems:
        print()
        for line in problems:
            print("- " + line)
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
