"""Hostile HTTP clients: N connections pipeline `GET /healthz` as fast as the server takes
them, for SEND_SECONDS, and never read a response. Reports the server's CPU time and RSS
(from /proc) while they send, every 5 s while they sit there (how many the server has
dropped), and after they leave.

Usage: http-pipeline-never-read.py SERVER_PID PORT N SEND_SECONDS WATCH_SECONDS
Bounded: sends for SEND_SECONDS, watches for WATCH_SECONDS, then closes every socket."""
import os, select, socket, sys, time
pid, port, n, send_s, watch_s = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
tick = os.sysconf("SC_CLK_TCK")
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tick
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"): return int(line.split()[1]) // 1024
req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 512
socks = []
for i in range(n):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port)); s.setblocking(False); socks.append(s)
c0, r0, t0 = cpu(), rss(), time.monotonic()
sent = 0
while time.monotonic() - t0 < send_s:
    _, w, _ = select.select([], socks, [], 0.1)
    for s in w:
        try: sent += s.send(req)
        except OSError: socks.remove(s); s.close()
print(f"after {send_s:.0f} s of sending: {sent/1e6:.1f} MB sent, server CPU {cpu()-c0:.1f} s, RSS {rss()} MB (was {r0})")
t1 = time.monotonic()
while time.monotonic() - t1 < watch_s:
    time.sleep(5)
    alive = sum(1 for s in socks if s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0] == 1)
    print(f"  +{time.monotonic()-t1:.0f} s: {alive} of {len(socks)} still connected, server CPU {cpu()-c0:.1f} s, RSS {rss()} MB")
for s in socks: s.close()
time.sleep(3)
print(f"clients gone: server CPU {cpu()-c0:.1f} s total, RSS {rss()} MB")
