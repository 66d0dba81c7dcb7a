"""Opens connections that never send a byte, to run the chapter 07 server out of file
descriptors, started with a small open-file limit:

    (ulimit -n 64; target/debug/ch07-limits --listen 127.0.0.1:9100 --admin-listen 127.0.0.1:9101)
    python3 book/clients/ch07-idle-connections.py [PORT] [COUNT]

Each connection is accepted by the kernel at once (it waits in the accept queue); the server
takes what its descriptors allow, and the handshake deadline closes the idle ones.
"""
import asyncio
import sys

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 9100
COUNT = int(sys.argv[2]) if len(sys.argv) > 2 else 80


async def main():
    connections = [await asyncio.open_connection("127.0.0.1", PORT) for _ in range(COUNT)]
    print(f"{COUNT} connections open, sending nothing")
    await asyncio.sleep(12)
    closed_by_server = 0
    for reader, writer in connections:
        if await reader.read() == b"":
            closed_by_server += 1
        writer.close()
    print(f"{closed_by_server} of {COUNT} closed by the server without an answer")


asyncio.run(main())
