"""A slow consumer against the chapter 03 server started with `--outbound-queue 16`:

    python3 book/clients/ch03-slow-consumer.py [ws://127.0.0.1:9000]

alice publishes 400 messages of 64 KiB to a room where carol has stopped reading. Needs
`pip install websockets`.
"""
import asyncio
import json
import sys

import websockets

URL = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:9000"
COUNT = 400
DATA = "x" * 65536


async def main():
    async with websockets.connect(URL) as alice, websockets.connect(URL) as carol:
        for ws in (alice, carol):
            await ws.recv()  # the welcome
            await ws.send('{"type":"join","room":"lobby"}')
            await ws.recv()  # the ack

        # carol reads nothing from here on; alice waits for each ack, which always comes.
        for n in range(COUNT):
            await alice.send(json.dumps({"type": "publish", "room": "lobby", "data": DATA}))
            await alice.recv()
        print(f"alice: {COUNT} acks")

        # Now carol catches up: everything the server kept for her is still on its way.
        received = 0
        try:
            while True:
                await asyncio.wait_for(carol.recv(), timeout=1)
                received += 1
        except asyncio.TimeoutError:
            pass
        print(f"carol: received {received} of {COUNT}")


asyncio.run(main())
