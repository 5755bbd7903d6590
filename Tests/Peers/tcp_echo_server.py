"""A real asyncio echo server for Eddy's TCP client tests.

Prints 'LISTENING <port>' once bound, echoes every byte, closes a connection after the
peer's FIN, and exits after serving one connection (or after 30 s).
"""
import asyncio
import sys


async def main() -> None:
    done = asyncio.get_running_loop().create_future()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()
        if not done.done():
            done.set_result(None)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"LISTENING {port}", flush=True)
    async with server:
        await asyncio.wait_for(done, 30)


if __name__ == "__main__":
    asyncio.run(main())
