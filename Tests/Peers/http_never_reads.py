"""A hostile HTTP client: pipelines requests as fast as the server takes them and never reads
a response. Stops sending once the server has stopped reading (no byte accepted for a
second), then watches its own socket's TCP state (TCP_INFO, without reading) until the server
drops the connection.

Usage: http_never_reads.py PORT PATH MAX_SECONDS
Prints "sent N bytes; dropped after S s" and exits 0 when the server dropped the connection,
or "still open after S s" and exits 1. Every loop is bounded by MAX_SECONDS.
"""
import errno
import select
import socket
import struct
import sys
import time

PORT, PATH, LIMIT = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
TCP_ESTABLISHED = 1

request = f"GET {PATH} HTTP/1.1\r\nHost: x\r\n\r\n".encode() * 256
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # small: the server's writes back up soon
sock.connect(("127.0.0.1", PORT))
sock.setblocking(False)

start = time.monotonic()
sent, last_progress, dropped = 0, time.monotonic(), False
while time.monotonic() - start < LIMIT:
    _, writable, _ = select.select([], [sock], [], 0.05)
    if writable:
        try:
            n = sock.send(request)
        except BlockingIOError:
            n = 0
        except (BrokenPipeError, ConnectionResetError):
            dropped = True
            break
        if n > 0:
            sent += n
            last_progress = time.monotonic()
    if time.monotonic() - last_progress > 1.0:
        break  # the server stopped reading: its writes to us are blocked

stalled_at = time.monotonic()
while not dropped and time.monotonic() - start < LIMIT:
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
    if info[0] != TCP_ESTABLISHED:
        dropped = True
        break
    time.sleep(0.05)

elapsed = time.monotonic() - stalled_at
if dropped:
    print(f"sent {sent} bytes; dropped after {elapsed:.1f} s")
    sys.exit(0)
print(f"sent {sent} bytes; still open after {elapsed:.1f} s")
sys.exit(1)
