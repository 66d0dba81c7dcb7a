"""Talks to the chapter 05 server: python3 book/clients/ch05-client.py [ws://127.0.0.1:9000]

Two sessions join one room; the first publishes one message, which the second receives with
the trace id of the publish. Then one request that the chain rejects.

Needs `pip install websockets`.
"""
import asyncio
import json
import sys

import websockets

URL = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:9000"


async def request(ws, name, message):
    text = json.dumps(message, separators=(",", ":"))
    print(f"{name} >", text)
    await ws.send(text)
    print(f"{name} <", await ws.recv())


async def main():
    async with websockets.connect(URL) as alice, websockets.connect(URL) as bob:
        # Each session is greeted with its id: alice is session 1, bob session 2.
        print("alice <", await alice.recv())
        print("bob   <", await bob.recv())
        await request(alice, "alice", {"type": "join", "id": "j1", "room": "lobby"})
        await request(bob, "bob  ", {"type": "join", "id": "j1", "room": "lobby"})

        # The message this chapter follows through the logs: alice's second, trace 1-2.
        await request(alice, "alice", {"type": "publish", "id": "p1", "room": "lobby",
                                       "data": {"text": "hello, room"}})
        print("bob   <", await bob.recv())

        # One the chain refuses: a room alice has not joined.
        await request(alice, "alice", {"type": "publish", "id": "p2", "room": "kitchen",
                                       "data": "anyone?"})


asyncio.run(main())
