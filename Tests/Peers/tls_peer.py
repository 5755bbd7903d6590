"""TLS peers for EddyTLSTests, on Python's ssl module (OpenSSL underneath, but driven by
CPython's own socket code, not Eddy's).

  client HOST PORT [--ca FILE] [--servername NAME] [--alpn P ...] [--cert F --key F]
         [--size N] [--truncate]
      Connects, verifies (with --ca), sends N bytes (default 100,000), reads the echo,
      then ends with close_notify (or, with --truncate, closes TCP without it). Prints one
      JSON line: {"ok": true, "version", "alpn", "subject", "echoed"} or {"ok": false,
      "error": "..."}. Exit status 0 either way (the JSON says what happened).
  reset HOST PORT --ca FILE
      Handshakes (over memory BIOs), sends half of one application-data record, then
      resets the TCP connection (SO_LINGER 0). Prints {"ok": true} once done.
  server --cert F --key F [--alpn P ...] [--truncate]
      Prints "LISTENING <port>", serves one client: echoes until the client's
      close_notify, then answers with its own (or, with --truncate, sends "bye" after the
      first echo and closes TCP without close_notify).
"""
import argparse
import json
import socket
import ssl
import struct
import sys


def subject_cn(certificate):
    for entry in certificate.get("subject", ()):
        for key, value in entry:
            if key == "commonName":
                return value
    return None


def client(args):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if args.ca:
        context.load_verify_locations(args.ca)
    if args.alpn:
        context.set_alpn_protocols(args.alpn)
    if args.cert:
        context.load_cert_chain(args.cert, args.key)
    payload = bytes((i * 31) & 0xFF for i in range(args.size))
    try:
        with socket.create_connection((args.host, args.port), timeout=20) as raw:
            tls = context.wrap_socket(raw, server_hostname=args.servername or args.host)
            result = {"ok": True, "version": tls.version(), "alpn": tls.selected_alpn_protocol(),
                      "subject": subject_cn(tls.getpeercert())}
            tls.sendall(payload)
            received = bytearray()
            while len(received) < len(payload):
                chunk = tls.recv(65536)
                if not chunk:
                    break
                received += chunk
            result["echoed"] = bytes(received) == payload
            if args.truncate:
                # SSLSocket.shutdown drops the TLS layer and shuts TCP: no close_notify.
                tls.shutdown(socket.SHUT_RDWR)
                tls.close()
            else:
                tls.unwrap()  # close_notify, then the server's
                tls.close()
    except (OSError, ssl.SSLError) as error:
        result = {"ok": False, "error": str(error)}
    print(json.dumps(result), flush=True)


def reset_mid_record(args):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(args.ca)
    raw = socket.create_connection((args.host, args.port), timeout=20)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=args.host)
    for _ in range(100):
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            pending = outgoing.read()
            if pending:
                raw.sendall(pending)
            chunk = raw.recv(65536)
            if not chunk:
                raise OSError("closed during the handshake")
            incoming.write(chunk)
    pending = outgoing.read()
    if pending:
        raw.sendall(pending)
    tls.write(b"x" * 1000)
    record = outgoing.read()
    raw.sendall(record[: len(record) // 2])
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    raw.close()
    print(json.dumps({"ok": True}), flush=True)


def server(args):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    if args.alpn:
        context.set_alpn_protocols(args.alpn)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(20)
    print("LISTENING", listener.getsockname()[1], flush=True)
    connection, _ = listener.accept()
    connection.settimeout(20)
    try:
        tls = context.wrap_socket(connection, server_side=True)
    except (OSError, ssl.SSLError) as error:
        print("HANDSHAKE-FAILED", error, flush=True)
        return
    try:
        while True:
            chunk = tls.recv(65536)
            if not chunk:
                tls.unwrap()
                break
            tls.sendall(chunk)
            if args.truncate:
                tls.sendall(b"bye")
                tls.shutdown(socket.SHUT_RDWR)
                break
    except (OSError, ssl.SSLError) as error:
        print("ERROR", error, flush=True)
    print("DONE", flush=True)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    c = sub.add_parser("client")
    c.add_argument("host")
    c.add_argument("port", type=int)
    c.add_argument("--ca")
    c.add_argument("--servername")
    c.add_argument("--alpn", nargs="*")
    c.add_argument("--cert")
    c.add_argument("--key")
    c.add_argument("--size", type=int, default=100_000)
    c.add_argument("--truncate", action="store_true")
    r = sub.add_parser("reset")
    r.add_argument("host")
    r.add_argument("port", type=int)
    r.add_argument("--ca", required=True)
    s = sub.add_parser("server")
    s.add_argument("--cert", required=True)
    s.add_argument("--key", required=True)
    s.add_argument("--alpn", nargs="*")
    s.add_argument("--truncate", action="store_true")
    args = parser.parse_args()
    {"client": client, "reset": reset_mid_record, "server": server}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
