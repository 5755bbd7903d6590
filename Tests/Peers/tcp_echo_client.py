"""A real asyncio peer for Eddy's TCP tests: connects to an echo server, sends
messages of many sizes (including 1 MiB), checks every echoed byte, and half-closes.

Usage: tcp_echo_client.py HOST PORT  -> prints 'OK <bytes>' and exits 0, or fails loudly.
"""
import asyncio
import os
import sys


async def main(host: str, port: int) -> int:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
    total = 0
    for size in (1, 2, 100, 4096, 65536, 1 << 20):
        payload = os.urandom(size)
        writer.write(payload)
        await writer.drain()
        echoed = await asyncio.wait_for(reader.readexactly(size), 20)
        if echoed != payload:
            print(f"MISMATCH at size {size}", file=sys.stderr)
            return 1
        total += size
    # Many small writes back to back, then read them all.
    burst = b"".join(i.to_bytes(4, "big") for i in range(10000))
    for i in range(0, len(burst), 40):
        writer.write(burst[i:i + 40])
    await writer.drain()
    echoed = await asyncio.wait_for(reader.readexactly(len(burst)), 20)
    if echoed != burst:
        print("MISMATCH in burst", file=sys.stderr)
        return 1
    total += len(burst)
    writer.write_eof()
    rest = await asyncio.wait_for(reader.read(), 10)  # the server closes after our FIN
    if rest:
        print(f"unexpected bytes after EOF: {len(rest)}", file=sys.stderr)
        return 1
    writer.close()
    print(f"OK {total}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], int(sys.argv[2]))))
