"""An HTTP client against a server with ConnectionLimits(maxConnections: 4, maxConnectionsPerAddress: 2).

Usage: http_connection_limits.py PORT

Holds idle keep-alive connections from 127.0.0.1, .2 and .3 and checks, with Python's own
http.client, that a third connection from one address is answered 429 and a fifth in all
503 (each with Retry-After: 1 and its reason), that held connections still work, and that
places freed by closing are taken again. Prints one line per check and "N checks failed".
"""
import http.client
import socket
import sys
import time

PORT = int(sys.argv[1])
failures = 0


def check(name, ok, detail=""):
    global failures
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else ": " + str(detail)), flush=True)
    if not ok:
        failures += 1


def connection(source):
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10, source_address=(source, 0))
    conn.connect()
    return conn


def get(conn):
    conn.request("GET", "/healthz")
    response = conn.getresponse()
    return response.status, response.getheader("Retry-After"), response.read().decode()


def wait_refused_or_ok(source):
    """One request on a fresh connection from `source`: (status, retry-after, body)."""
    conn = connection(source)
    try:
        return get(conn)
    finally:
        conn.close()


held = [connection("127.0.0.1"), connection("127.0.0.1")]
status, retry, body = get(held[0])
check("a held connection is served", status == 200, status)

status, retry, body = wait_refused_or_ok("127.0.0.1")
check("a third connection from one address gets 429", status == 429, status)
check("429 says why and when to retry", retry == "1" and "too many connections from your address" in body, (retry, body))

held += [connection("127.0.0.2"), connection("127.0.0.3")]
status, _, _ = get(held[3])
check("other addresses are admitted up to the total", status == 200, status)

status, retry, body = wait_refused_or_ok("127.0.0.4")
check("a fifth connection in all gets 503", status == 503, status)
check("503 says why and when to retry", retry == "1" and "connection limit" in body, (retry, body))

status, _, _ = get(held[1])
check("held connections are unaffected by refusals", status == 200, status)

for conn in held:
    conn.close()
ok = False
for _ in range(200):  # the server counts a connection out once it has closed its side
    status, _, _ = wait_refused_or_ok("127.0.0.1")
    if status == 200:
        ok = True
        break
    time.sleep(0.02)
check("closed connections free their places", ok, status)

print(f"{failures} checks failed", flush=True)
sys.exit(1 if failures else 0)
