"""Opens COUNT connections to 127.0.0.1:PORT and holds them, then checks the server.

Usage: connection_flood.py PORT COUNT

Each connection sends nothing; the script waits (bounded) for each to be either answered
and closed by the server (a refusal: its first line is printed in the tally) or still open.
Then it closes them all and checks that GET /healthz is answered 200 on a fresh connection.
Prints "held N", "refused N <status line>", and "healthz 200" (or what it got).
"""
import collections
import select
import socket
import sys
import time

PORT, COUNT = int(sys.argv[1]), int(sys.argv[2])
sockets = []
for _ in range(COUNT):
    s = socket.create_connection(("127.0.0.1", PORT), timeout=10)
    s.setblocking(False)
    sockets.append(s)

answers = {}
# What each socket has sent so far: an answer and its FIN may arrive in separate reads (the
# server sends, then shuts down), so a read that would block keeps what came before it.
received = collections.defaultdict(bytes)
deadline = time.monotonic() + 20
quiet_since = time.monotonic()
while time.monotonic() < deadline:
    pending = [s for s in sockets if s.fileno() not in answers]
    readable, _, _ = select.select(pending, [], [], 0.25)
    if readable:
        quiet_since = time.monotonic()
    elif answers and time.monotonic() - quiet_since > 2:
        break  # refusals come at accept time: two quiet seconds mean the rest are held
    for s in readable:
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                received[s.fileno()] += chunk
        except BlockingIOError:
            continue  # more may come; the server closes after its answer
        except ConnectionResetError:
            received[s.fileno()] += b"<reset>"
        answers[s.fileno()] = received[s.fileno()].split(b"\r\n", 1)[0].decode(errors="replace")

tally = collections.Counter(answers.values())
print(f"held {COUNT - len(answers)}", flush=True)
for line, n in tally.items():
    print(f"refused {n} {line}", flush=True)
for s in sockets:
    s.close()

status = None
for _ in range(200):
    try:
        c = socket.create_connection(("127.0.0.1", PORT), timeout=5)
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reply = b""
        while True:
            chunk = c.recv(4096)
            if not chunk:
                break
            reply += chunk
        c.close()
        status = reply.split(b"\r\n", 1)[0].decode(errors="replace")
        if " 200 " in status:
            break
    except OSError as error:
        status = str(error)
    time.sleep(0.02)
print(f"healthz {status}", flush=True)
