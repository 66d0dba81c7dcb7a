"""Talks to the chapter 02 server: python3 book/clients/ch02-client.py [ws://127.0.0.1:9000]

Needs `pip install websockets`.
"""
import asyncio
import sys

import websockets

URL = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:9000"

FRAMES = [
    '{"type":"echo","id":"e1","data":{"hello":"world"}}',
    "{not json",
    '{"type":"dance","id":"d1"}',
    '{"type":"echo","id":"e2"}',
    b"\x01\x02\x03",  # a binary frame
]


async def main():
    async with websockets.connect(URL) as ws:
        for frame in FRAMES:
            print(">", frame)
            await ws.send(frame)
            print("<", await ws.recv())

    # Hang up without a Close frame, like a phone dropping off the network.
    ws = await websockets.connect(URL)
    ws.transport.abort()
    await asyncio.sleep(0.2)


asyncio.run(main())
