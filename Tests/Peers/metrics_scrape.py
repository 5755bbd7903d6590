"""Scrapes an `eddy demo` server's Prometheus metrics with a real HTTP client, drives a
dashboard (connections, messages, a command, closes) and checks that the numbers move.

Usage:
  metrics_scrape.py scrape PORT METRICS_PORT OPERATOR_TOKEN VIEWER_TOKEN
      /metrics on PORT: 401 without a token, 403 with the viewer's, 200 with the operator's
      (in a header); on METRICS_PORT: 200 without a token. Both parse as Prometheus text.
      Then drives a dashboard and checks the counters grew.
  metrics_scrape.py absent PORT OPERATOR_TOKEN
      /metrics answers 404 even with the operator token (`--no-metrics`).
  metrics_scrape.py totals PORT OPERATOR_TOKEN SERIES...
      One scrape; prints `SERIES VALUE` for each SERIES (`name` or `name:label=value`), the sum
      of the matching samples.
Prints PASS/FAIL lines and exits non-zero if a check failed. Loopback only; every wait bounded.
"""
import asyncio
import json
import sys
import time
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + str(detail) if detail and not ok else ''}", flush=True)


def get(url, token=None):
    """(status, body) of a GET."""
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), ""


def parse(text):
    """{(name, frozenset(labels)): value} of every sample; raises if the text does not parse."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def total(samples, name, **labels):
    """The sum of `name`'s samples whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(value for (sample, sample_labels), value in samples.items()
               if sample == name and wanted <= set(sample_labels))


async def drive(port, operator):
    """A dashboard: listing, a stream with a command, a refused handshake, a clean close."""
    status, body, _ = get(f"http://127.0.0.1:{port}/api/dags", operator)
    runs = json.loads(body)["runs"] if status == 200 else []
    check("the runs listing has a run", bool(runs), status)
    if not runs:
        return
    url = f"ws://127.0.0.1:{port}/api/dags/{runs[-1]['dag_id']}/stream"
    try:
        async with connect(url, open_timeout=10, additional_headers={"Authorization": "Bearer wrong"}):
            refused = 101
    except InvalidStatus as error:
        refused = error.response.status_code
    check("a handshake with a wrong token is refused with 401", refused == 401, refused)
    async with connect(url, open_timeout=10, additional_headers={"Authorization": f"Bearer {operator}"}) as ws:
        first = json.loads(await asyncio.wait_for(ws.recv(), 10))
        check("the stream starts with a snapshot", first.get("type") == "snapshot", first.get("type"))
        await ws.send(json.dumps({"v": 1, "type": "pause_execution", "command_id": "metrics-1"}))
        reply = None
        for _ in range(200):
            event = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if event.get("type") == "command_result":
                reply = event
                break
        check("the command is answered", reply is not None)


def scrape_until(url, token, predicate, seconds=45):
    """Scrapes until `predicate(samples)` holds (bounded); returns the last samples."""
    deadline = time.monotonic() + seconds
    while True:
        status, body, _ = get(url, token)
        samples = parse(body) if status == 200 else {}
        if predicate(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.1)


def scrape_mode(port, metrics_port, operator, viewer):
    main = f"http://127.0.0.1:{port}/metrics"
    separate = f"http://127.0.0.1:{metrics_port}/metrics"
    check("/metrics without a token is 401", get(main)[0] == 401)
    check("/metrics with the viewer token is 403", get(main, viewer)[0] == 403)
    status, body, content_type = get(main, operator)
    check("/metrics with the operator token (header) is 200", status == 200, status)
    check("the content type is Prometheus text 0.0.4", content_type.startswith("text/plain; version=0.0.4"), content_type)
    before = parse(body)
    check("the scrape parses and has eddy_ series", any(name.startswith("eddy_") for name, _ in before), len(before))
    status, body, _ = get(separate)
    check("--metrics-port serves without a token", status == 200, status)
    parse(body)
    check("--metrics-port serves nothing else", get(f"http://127.0.0.1:{metrics_port}/api/dags")[0] == 404)

    asyncio.run(drive(port, operator))

    def grew(name, **labels):
        return lambda samples: total(samples, name, **labels) > total(before, name, **labels)

    names = [("eddy_connections_accepted_total", {}),
             ("eddy_websocket_messages_received_total", {}),
             ("eddy_websocket_messages_sent_total", {}),
             ("eddy_websocket_received_bytes_total", {}),
             ("eddy_websocket_sent_bytes_total", {}),
             ("eddy_websocket_handshakes_refused_total", {"status": "401"}),
             ("eddy_websocket_closes_total", {"code": "1000"}),
             ("eddy_commands_total", {}),
             ("eddy_event_log_append_duration_seconds_count", {}),
             ("eddy_event_log_batch_events_count", {})]
    after = scrape_until(separate, None, lambda samples: all(grew(n, **l)(samples) for n, l in names))
    for name, labels in names:
        check(f"{name}{labels or ''} grew", grew(name, **labels)(after),
              f"{total(before, name, **labels)} -> {total(after, name, **labels)}")
    check("eddy_runs_started_total counts the demo's runs", total(after, "eddy_runs_started_total") >= 1)
    # Not "grew": the demo's run may already wait at its gate when the first scrape is taken.
    check("eddy_node_state_changes_total counts the nodes' changes", total(after, "eddy_node_state_changes_total") >= 1)
    check("eddy_connections_open is not negative", total(after, "eddy_connections_open") >= 0)
    for series in ["eddy_outbox_queued_messages", "eddy_outbox_dropped_messages_total",
                   "eddy_outbox_catch_up_snapshots_total", "eddy_websocket_deflate_input_bytes_total",
                   "eddy_connections_refused_total", "eddy_runs_live", "eddy_runs_finished_total"]:
        check(f"{series} is exposed", any(name == series for name, _ in after))


def totals_mode(port, operator, series):
    status, body, _ = get(f"http://127.0.0.1:{port}/metrics", operator)
    check("/metrics answers 200", status == 200, status)
    samples = parse(body) if status == 200 else {}
    for one in series:
        name, _, label = one.partition(":")
        labels = dict([label.split("=", 1)]) if label else {}
        print(f"{one} {total(samples, name, **labels)}", flush=True)


def absent_mode(port, operator):
    check("/metrics is absent with --no-metrics", get(f"http://127.0.0.1:{port}/metrics", operator)[0] == 404)


if __name__ == "__main__":
    if sys.argv[1] == "scrape":
        scrape_mode(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
    elif sys.argv[1] == "totals":
        totals_mode(int(sys.argv[2]), sys.argv[3], sys.argv[4:])
    else:
        absent_mode(int(sys.argv[2]), sys.argv[3])
    print(f"{sum(results)} passed, {len(results) - sum(results)} failed", flush=True)
    sys.exit(0 if results and all(results) else 1)
