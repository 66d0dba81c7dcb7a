"""Two clients talk through the chapter 03 server: python3 book/clients/ch03-client.py [ws://127.0.0.1:9000]

Needs `pip install websockets`.
"""
import asyncio
import json
import sys

import websockets

URL = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:9000"


async def recv(name, ws):
    message = await ws.recv()
    print(f"{name} <", message)
    return json.loads(message)


async def send(name, ws, message):
    text = json.dumps(message, separators=(",", ":"))
    print(f"{name} >", text)
    await ws.send(text)


async def main():
    async with websockets.connect(URL) as alice, websockets.connect(URL) as bob:
        # The server speaks first: each session learns the id it was given.
        alice_id = (await recv("alice", alice))["session"]
        await recv("bob", bob)

        for name, ws in [("alice", alice), ("bob", bob)]:
            await send(name, ws, {"type": "join", "id": "1", "room": "lobby"})
            await recv(name, ws)

        # A publish reaches every other member of the room; the sender gets an ack.
        await send("alice", alice, {"type": "publish", "id": "2", "room": "lobby", "data": "hi all"})
        await recv("alice", alice)
        await recv("bob", bob)

        # A direct message reaches one session, by the id from its welcome.
        await send("bob", bob, {"type": "direct", "id": "3", "to": alice_id, "data": {"x": 1}})
        await recv("bob", bob)
        await recv("alice", alice)

        # Three mistakes, three error codes; the session stays open.
        for mistake in [
            {"type": "publish", "id": "4", "room": "kitchen", "data": "?"},
            {"type": "direct", "id": "5", "to": "999", "data": "?"},
            {"type": "join", "id": "6", "room": ""},
        ]:
            await send("alice", alice, mistake)
            await recv("alice", alice)

        await send("alice", alice, {"type": "leave", "id": "7", "room": "lobby"})
        await recv("alice", alice)
    # Both closed: the registry forgets them, and the room "lobby" with them.


asyncio.run(main())
