#!/usr/bin/env python3
"""Writes the seed corpora of Eddy's fuzz targets into Tests/Fuzz/Corpus/<target>/.

Deterministic: run it again and nothing changes. Seeds come from the protocol's golden
fixtures (Tests/Fixtures) and from hand-made inputs in the style of Autobahn's cases:
fragmented, masked, compressed, oversized and malformed frames; pipelined, chunked and
smuggling-shaped HTTP requests. The first bytes of some targets' inputs are control bytes
(see FuzzInput in Tests/Fuzz/Targets): they pick the role, the compression and the
chunk size the bytes are fed in.
"""
import hashlib
import json
import pathlib
import struct
import zlib

HERE = pathlib.Path(__file__).resolve().parent
FIXTURES = HERE.parent / "Fixtures"
CORPUS = HERE / "Corpus"


def write(target, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    (folder / name).write_bytes(data)


# --- HTTP -----------------------------------------------------------------------------
REQUESTS = [
    b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"GET /ws HTTP/1.1\r\nHost: localhost:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
    b"POST /api/dags HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n{\"nodes\":[]}",
    b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
    b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"GET / HTTP/1.0\r\n\r\n",
    b"GET / HTTP/1.1\nHost: a\n\n",
    b"GET /" + b"a" * 600 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X-A: b\r\n" * 20 + b"\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\n folded: value\r\n\r\n",
    b"GET /?q=1&r=%20 HTTP/1.1\r\nHost: a\r\nCookie: a=b; c=d\r\n\r\n",
]
for index, request in enumerate(REQUESTS):
    write("http-request", bytes([index % 16]) + request)

RESPONSES = [
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x02hi",
    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 101 \r\n\r\n",
    b"HTTP/1.0 200 OK\r\n\r\n",
    b"HTTP/1.1 999 Weird\r\nX: y\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\r\n",
]
for index, response in enumerate(RESPONSES):
    write("http-response-head", bytes([index * 3 % 16]) + response)


# --- WebSocket frames -----------------------------------------------------------------
def frame(opcode, payload, fin=True, mask=b"\x01\x02\x03\x04", rsv1=False):
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    length = len(payload)
    mask_bit = 0x80 if mask else 0
    if length < 126:
        head = bytes([first, mask_bit | length])
    elif length < 65536:
        head = bytes([first, mask_bit | 126]) + struct.pack("!H", length)
    else:
        head = bytes([first, mask_bit | 127]) + struct.pack("!Q", length)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return head + mask + payload
    return head + payload


def deflated(data):
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4]  # RFC 7692: without the empty block's tail


SERVER, CLIENT, DEFLATE = 0, 1, 2
close_1000 = struct.pack("!H", 1000) + b"bye"
FRAME_SEEDS = [
    (SERVER, frame(1, b"Hello, Eddy") + frame(8, close_1000)),
    (SERVER, frame(2, bytes(range(256))) + frame(9, b"ping") + frame(10, b"pong")),
    (SERVER, frame(1, b"frag", fin=False) + frame(9, b"") + frame(0, b"ment", fin=False) + frame(0, b"ed")),
    (SERVER, frame(1, "κόσμε".encode())),
    (SERVER, frame(1, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited")),  # invalid UTF-8
    (SERVER, frame(1, b"unmasked", mask=None)),
    (SERVER, frame(1, b"x" * 5000)),  # above maxFrameSize
    (SERVER, frame(9, b"p" * 126)),  # control frame too long
    (SERVER, frame(8, b"\x03")),  # close payload of one byte
    (SERVER, frame(8, struct.pack("!H", 1005))),  # reserved code
    (SERVER, frame(1, b"valid") + bytes([0x83, 0x80, 1, 2, 3, 4])),  # reserved opcode after a message
    (SERVER, frame(0, b"continuation without a start")),
    (CLIENT, frame(1, b"from a server", mask=None) + frame(8, close_1000, mask=None)),
    (CLIENT, frame(1, b"masked by a server")),
    (SERVER | DEFLATE, frame(1, deflated(b'{"type":"node_state","node_id":"fetch"}' * 8), rsv1=True)),
    (SERVER | DEFLATE, frame(1, deflated(b"a" * 20000), rsv1=True)),  # inflates past the limit
    (SERVER | DEFLATE, frame(1, deflated(b"first part "), fin=False, rsv1=True) + frame(0, deflated(b"second")[:0] + b"\x00\x00")),
    (SERVER | DEFLATE | 4 | 8, frame(2, deflated(bytes(range(200))), rsv1=True) + frame(2, deflated(bytes(range(200))), rsv1=True)),
    (SERVER, frame(1, b"rsv1 without deflate", rsv1=True)),
    (CLIENT | DEFLATE, frame(1, deflated(b"hello " * 50), mask=None, rsv1=True)),
]
for index, (control, data) in enumerate(FRAME_SEEDS):
    write("websocket", bytes([control, index % 32]) + data)


# --- Extension headers ----------------------------------------------------------------
HEADERS = [
    b"permessage-deflate",
    b"permessage-deflate; client_max_window_bits",
    b"permessage-deflate; client_max_window_bits=12; server_max_window_bits=10",
    b"permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    b'permessage-deflate; client_max_window_bits="15"',
    b"permessage-deflate; server_max_window_bits=7",
    b"permessage-deflate; server_max_window_bits=08",
    b"x-webkit-deflate-frame, permessage-deflate; client_max_window_bits",
    b"permessage-deflate; unknown_parameter",
    b"permessage-deflate; server_no_context_takeover; server_no_context_takeover",
    b"permessage-deflate,\npermessage-deflate; client_max_window_bits=9",
    b"foo; bar=baz, , qux",
]
for header in HEADERS:
    write("extension-header", header)


# --- JSON, commands, definitions -------------------------------------------------------
protocol = sorted((FIXTURES / "protocol").glob("*.json"))
for path in protocol:
    data = path.read_bytes()
    write("json", data)
    if path.name.startswith("client."):
        write("command", data)
for path in sorted((FIXTURES / "protocol" / "invalid").glob("*")):
    if path.is_file():
        write("command", path.read_bytes())
        write("json", path.read_bytes())
for text in [b"[]", b"{}", b"-0.0e-5", b'"\\ud83d\\ude00 \\u0000"', b"[1,2,[3,[4,[5]]]]",
             b"1e400", b"9223372036854775808", b'{"a":1,"a":2}', b"\xef\xbb\xbf{}"]:
    write("json", text)
write("command", json.dumps({"type": "human_decision", "command_id": "c1", "node_id": "review",
                             "decision": "modify", "feedback": "ok"}).encode())

handlers = ["fetch", "transform", "publish"]
for path in sorted((FIXTURES / "dags").glob("*.json")):
    write("dag-definition", path.read_bytes())
DEFINITIONS = [
    {"nodes": [{"id": "a", "handler": "fetch"}, {"id": "b", "handler": "transform", "depends_on": ["a"]}]},
    {"nodes": [{"id": "a", "handler": "fetch", "depends_on": ["b"]}, {"id": "b", "handler": "fetch", "depends_on": ["a"]}]},
    {"nodes": [{"id": "a", "handler": "fetch"}, {"id": "a", "handler": "fetch"}]},
    {"nodes": [{"id": "g", "gate": {"presentation": {"title": "OK?"}, "timeout_ms": 1000, "on_timeout": "reject"}}]},
    {"budget": {"limit": 2.5, "on_exceeded": "pause"}, "max_concurrency": 0, "nodes": []},
    {"nodes": [{"id": "a", "handler": "missing"}]},
    {"nodes": [{"id": "a", "handler": "fetch", "retry": {"max_attempts": 3, "backoff_ms": -1}, "timeout_ms": 1e300}]},
]
for definition in DEFINITIONS:
    write("dag-definition", json.dumps(definition).encode())
