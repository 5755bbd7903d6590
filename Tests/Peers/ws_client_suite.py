"""Python `websockets` (a real, independent implementation) as a client of an Eddy
WebSocket echo server.

Usage: ws_client_suite.py BASE_URL [BIG_URL]
BASE_URL serves /default (an echo with every limit at its default, 1 MiB messages);
BIG_URL (default: BASE_URL) serves /big (an echo taking 64 MiB messages), e.g.
`eddy echo --max-message-size 67108864 --max-fragments 1000000`. Prints one line per
check and exits non-zero if any check failed.
"""
import asyncio
import base64
import os
import socket
import struct
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

BASE = sys.argv[1]
BIG = sys.argv[2] if len(sys.argv) > 2 else BASE
HOST, PORT = BASE.removeprefix("ws://").split(":")
PORT = int(PORT)
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail and not ok else ''}", flush=True)


async def echo_sizes(label, **options):
    async with connect(BIG + "/big", max_size=None, **options) as ws:
        names = [e.name for e in ws.protocol.extensions]
        ok = True
        for size in (0, 1, 125, 126, 65535, 65536, 16 << 20):
            data = os.urandom(size)
            await ws.send(data)
            if await ws.recv() != data:
                ok = False
            text = ("é€😀a" * (size // 10 + 1))[: max(size // 3, 0)]
            await ws.send(text)
            if await ws.recv() != text:
                ok = False
        # Compressible text too (exercises deflate's context).
        for i in range(50):
            doc = '{"type":"node_state","node_id":"n%d","status":"running"}' % i * 20
            await ws.send(doc)
            if await ws.recv() != doc:
                ok = False
        check(f"echo sizes 0..16 MiB ({label}, extensions={names})", ok)
        return names


async def fragmented():
    async with connect(BASE + "/default") as ws:
        await ws.send(["frag", "mented ", "téxt"])
        text_ok = await ws.recv() == "fragmented téxt"
        await ws.send([b"\x00\x01", b"", b"\x02"])
        binary_ok = await ws.recv() == b"\x00\x01\x02"
        check("fragmented text and binary messages", text_ok and binary_ok)


async def no_context_takeover():
    factory = ClientPerMessageDeflateFactory(
        server_no_context_takeover=True, client_no_context_takeover=True)
    async with connect(BASE + "/default", extensions=[factory], compression=None) as ws:
        ext = ws.protocol.extensions
        params_ok = len(ext) == 1 and ext[0].remote_no_context_takeover and ext[0].local_no_context_takeover
        ok = True
        for i in range(20):
            msg = "repeat repeat repeat %d " % i * 30
            await ws.send(msg)
            ok = ok and await ws.recv() == msg
        check("no_context_takeover both ways negotiated and used", params_ok and ok, str(ext))


async def shared_compressor():
    """By default the server answers server_no_context_takeover (unasked) and compresses
    with one zlib stream per loop, shared by its connections: many connections echoing
    compressible messages at once interleave on that stream, and every echo must still
    decode on its own."""
    async def one(index):
        async with connect(BASE + "/default") as ws:
            ext = ws.protocol.extensions
            # The client's view: the server (remote) resets its context after each message.
            params_ok = len(ext) == 1 and ext[0].remote_no_context_takeover
            ok = True
            for i in range(40):
                doc = '{"type":"node_state","conn":%d,"seq":%d,"status":"running"}' % (index, i) * 12
                await ws.send(doc)
                ok = ok and await ws.recv() == doc
            return params_ok, ok
    outcomes = await asyncio.gather(*(one(i) for i in range(24)))
    check("24 connections share the server's compressor (server_no_context_takeover by default)",
          all(p and o for p, o in outcomes), str(outcomes[:3]))


async def ping_pong():
    async with connect(BASE + "/default") as ws:
        waiter = await ws.ping(b"are you there")
        latency = await asyncio.wait_for(waiter, 5)
        check("ping answered by pong", latency >= 0)


async def close_codes():
    async with connect(BASE + "/default") as ws:
        await ws.close(4000, "bye")
    check("close 4000 echoed", ws.close_code == 4000,
          f"{ws.close_code} {ws.close_reason!r}")
    async with connect(BASE + "/default") as ws:
        pass
    check("normal close 1000", ws.close_code == 1000, str(ws.close_code))


async def oversized():
    async with connect(BASE + "/default", max_size=None, compression=None) as ws:
        await ws.send(b"x" * ((1 << 20) + 1))
        try:
            await asyncio.wait_for(ws.recv(), 10)
            check("message over 1 MiB closes with 1009", False, "echoed")
        except ConnectionClosedError as error:
            check("message over 1 MiB closes with 1009", error.rcvd is not None and error.rcvd.code == 1009,
                  str(error))


# ---- raw-socket cases: frames a well-behaved library refuses to send ----

def raw_handshake():
    sock = socket.create_connection((HOST, PORT), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /default HTTP/1.1\r\nHost: {HOST}:{PORT}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("closed during handshake")
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock, head.split(b"\r\n\r\n", 1)[1]


def frame(opcode, payload, fin=True, mask=True, rsv=0):
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    key = os.urandom(4) if mask else b""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", first, (0x80 if mask else 0) | n)
    elif n < 65536:
        header = struct.pack("!BBH", first, (0x80 if mask else 0) | 126, n)
    else:
        header = struct.pack("!BBQ", first, (0x80 if mask else 0) | 127, n)
    if mask:
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return header + key + payload


def read_frames_until_close(sock, rest):
    """Every frame the server sends until its Close: [(opcode, payload)]."""
    data = rest
    frames = []
    sock.settimeout(10)
    while True:
        while len(data) >= 2:
            opcode = data[0] & 0x0F
            length = data[1] & 0x7F
            offset = 2
            if length == 126:
                length = struct.unpack("!H", data[2:4])[0]; offset = 4
            elif length == 127:
                length = struct.unpack("!Q", data[2:10])[0]; offset = 10
            if len(data) < offset + length:
                break
            frames.append((opcode, data[offset:offset + length]))
            data = data[offset + length:]
            if opcode == 0x8:
                return frames
        chunk = sock.recv(65536)
        if not chunk:
            return frames
        data += chunk


def close_code_of(frames):
    """The code of the Close that ends `frames` (1005 for an empty one); None without one."""
    if not frames or frames[-1][0] != 0x8:
        return None
    payload = frames[-1][1]
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005


def read_close_code(sock, rest):
    return close_code_of(read_frames_until_close(sock, rest))


def message_then_violation():
    # Both in one write: the server answers the message before it fails the connection.
    sock, rest = raw_handshake()
    sock.sendall(frame(0x1, b"first") + frame(0x2, b"\x01\x02") + frame(0x3, b""))
    frames = read_frames_until_close(sock, rest)
    sock.close()
    code = close_code_of(frames)
    check("messages before a violation in the same read are answered before the 1002",
          frames[:2] == [(0x1, b"first"), (0x2, b"\x01\x02")] and code == 1002, str(frames))


def raw_case(name, frames, expected):
    sock, rest = raw_handshake()
    for f in frames:
        sock.sendall(f)
    code = read_close_code(sock, rest)
    sock.close()
    check(name, code == expected, f"got {code}, expected {expected}")


def raw_cases():
    raw_case("invalid UTF-8 text closes with 1007", [frame(0x1, b"\xc3\x28")], 1007)
    raw_case("invalid UTF-8 across fragments closes with 1007",
             [frame(0x1, b"ok \xe2\x82", fin=False), frame(0x0, b"\x28", fin=True)], 1007)
    raw_case("unmasked client frame closes with 1002", [frame(0x1, b"hi", mask=False)], 1002)
    raw_case("reserved opcode closes with 1002", [frame(0x3, b"")], 1002)
    raw_case("RSV2 set closes with 1002", [frame(0x1, b"hi", rsv=2)], 1002)
    raw_case("control frame over 125 bytes closes with 1002", [frame(0x9, b"p" * 126)], 1002)
    raw_case("fragmented ping closes with 1002", [frame(0x9, b"p", fin=False)], 1002)
    raw_case("continuation without start closes with 1002", [frame(0x0, b"x")], 1002)
    raw_case("close code 1005 on the wire closes with 1002", [frame(0x8, struct.pack("!H", 1005))], 1002)
    raw_case("close with 1-byte payload closes with 1002", [frame(0x8, b"\x03")], 1002)
    raw_case("close mid-fragmented message answered with 1000",
             [frame(0x1, b"part", fin=False), frame(0x8, struct.pack("!H", 1000))], 1000)
    raw_case("close 3000 echoed", [frame(0x8, struct.pack("!H", 3000) + b"ok")], 3000)
    message_then_violation()


async def main():
    names_on = await echo_sizes("compression on")
    check("permessage-deflate negotiated by default", names_on == ["permessage-deflate"], str(names_on))
    names_off = await echo_sizes("compression off", compression=None)
    check("no extension when the client offers none", names_off == [], str(names_off))
    await fragmented()
    await no_context_takeover()
    await shared_compressor()
    await ping_pong()
    await close_codes()
    await oversized()
    await asyncio.get_running_loop().run_in_executor(None, raw_cases)


asyncio.run(asyncio.wait_for(main(), 120))
passed = sum(results)
failed = len(results) - passed
print(f"python-websockets client suite: {passed} checks passed, {failed} checks failed")
sys.exit(0 if failed == 0 and passed > 0 else 1)
