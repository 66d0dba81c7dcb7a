"""Walks the chapter 07 server through a few of its limits, started with `--max-connections 2`:

    python3 book/clients/ch07-client.py [ws://127.0.0.1:9000/]

alice and bob take the two places and talk in a room; carol is refused with 503 while they are
there; bob sends a message over the 64 KiB limit and is closed with 1009, which frees a place for
carol. Then the script waits until the server is stopped (Ctrl-C it) and prints the Close frame
every session got. Needs `pip install websockets`.
"""
import asyncio
import json
import sys

import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

URL = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:9000/"


async def request(ws, name, message):
    text = json.dumps(message, separators=(",", ":"))
    print(f"{name} >", text)
    await ws.send(text)
    print(f"{name} <", await ws.recv())


async def closed(ws, name):
    """Reads until the server closes the connection, then says how."""
    try:
        while True:
            await ws.recv()
    except ConnectionClosed:
        pass
    close = ws.protocol.close_rcvd  # the Close frame the server sent, if one arrived
    print(f"{name}: closed by the server with {close.code} {close.reason!r}" if close
          else f"{name}: connection dropped without a Close frame")


# ANCHOR: main
async def main():
    alice = await websockets.connect(URL)
    bob = await websockets.connect(URL)
    print("alice <", await alice.recv())
    print("bob   <", await bob.recv())
    await request(alice, "alice", {"type": "join", "id": "j1", "room": "lobby"})
    await request(bob, "bob  ", {"type": "join", "id": "j1", "room": "lobby"})
    await request(alice, "alice", {"type": "publish", "id": "p1", "room": "lobby",
                                   "data": {"text": "hello, room"}})
    print("bob   <", await bob.recv())

    # Two sessions are the cap: the third handshake is refused before a session exists.
    try:
        await websockets.connect(URL)
    except InvalidStatus as refused:
        response = refused.response
        print(f"carol: refused with HTTP {response.status_code}, "
              f"Retry-After: {response.headers.get('Retry-After')}, "
              f"body {response.body.decode()!r}")

    # 100 KiB in one message, over the 64 KiB limit: the server closes with 1009.
    big = json.dumps({"type": "publish", "id": "p2", "room": "lobby", "data": "x" * 100_000})
    print(f"bob   > a publish of {len(big)} bytes")
    await bob.send(big)
    await closed(bob, "bob  ")

    # bob's place is free again.
    carol = await websockets.connect(URL)
    print("carol <", await carol.recv())
    await request(carol, "carol", {"type": "join", "id": "j1", "room": "lobby"})

    print("waiting for the server to shut down (Ctrl-C it)")
    await asyncio.gather(closed(alice, "alice"), closed(carol, "carol"))

# ANCHOR_END: main


asyncio.run(main())
