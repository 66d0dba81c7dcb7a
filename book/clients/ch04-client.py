"""A live client, then a silent one, against the chapter 04 server started with
`--heartbeat-interval 1s --heartbeat-timeout 3s`:

    python3 book/clients/ch04-client.py [ws://127.0.0.1:9000]

Needs `pip install websockets`.
"""
import asyncio
import os
import struct
import sys
from urllib.parse import urlparse

import websockets

URL = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:9000"
OPCODES = {0x1: "text", 0x2: "binary", 0x8: "close", 0x9: "ping", 0xA: "pong"}


async def live():
    """A client library answers every Ping with a Pong, even while we only sleep."""
    async with websockets.connect(URL) as ws:
        print("live   <", await ws.recv())
        await asyncio.sleep(2.5)
    print("live: closed")


async def silent():
    """A peer whose network vanished: it sends one request, then nothing, not even a Pong."""
    url = urlparse(URL)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    # The HTTP upgrade, by hand: a client library would answer the server's Pings.
    writer.write(
        b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    print("silent <", (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")[0].decode())
    join = b'{"type":"join","id":"1","room":"lobby"}'
    mask = os.urandom(4)  # client frames must be masked
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(join))
    writer.write(bytes([0x81, 0x80 | len(join)]) + mask + masked)
    await writer.drain()

    await asyncio.sleep(5)  # ... silence. Then read what the server sent meanwhile.
    while True:
        try:
            head = await reader.readexactly(2)
        except asyncio.IncompleteReadError:
            print("silent: the server closed the connection")
            break
        opcode, length = head[0] & 0x0F, head[1] & 0x7F
        payload = await reader.readexactly(length)  # the server's frames here are short
        if opcode == 0x8:
            code, reason = struct.unpack("!H", payload[:2])[0], payload[2:].decode()
            print(f"silent < close code={code} reason={reason!r}")
        else:
            print(f"silent < {OPCODES[opcode]} {payload!r}")
    writer.close()


async def main():
    await live()
    await silent()


asyncio.run(main())
