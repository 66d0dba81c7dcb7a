"""Gives the chapter 06 server something to count, started with `--heartbeat-interval 1s`:

    python3 book/clients/ch06-client.py [ws://127.0.0.1:9000] [http://127.0.0.1:9001]

One connection that is not a WebSocket at all, then two sessions that join a room, publish,
send a few bad requests, answer a heartbeat and leave: one with a Close frame, one by dropping
the connection. Then scrape the admin listener: curl -s 127.0.0.1:9001/metrics

Needs `pip install websockets`.
"""
import asyncio
import json
import sys
import urllib.request
from urllib.parse import urlparse

import websockets

URL = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:9000"
ADMIN = sys.argv[2] if len(sys.argv) > 2 else "http://127.0.0.1:9001"


async def request(ws, name, message):
    text = message if isinstance(message, (str, bytes)) else json.dumps(message, separators=(",", ":"))
    print(f"{name} >", text)
    await ws.send(text)
    print(f"{name} <", await ws.recv())


async def not_a_websocket():
    """A plain HTTP request to the WebSocket port: the handshake fails."""
    url = urlparse(URL)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    await writer.drain()
    answer = await reader.read()
    print("http  <", answer.split(b"\r\n")[0].decode() or "(closed without an answer)")
    writer.close()


async def main():
    await not_a_websocket()
    async with websockets.connect(URL + "/chat") as alice, websockets.connect(URL + "/chat") as bob:
        print("alice <", await alice.recv())
        print("bob   <", await bob.recv())
        await request(alice, "alice", {"type": "join", "id": "j1", "room": "lobby"})
        await request(bob, "bob  ", {"type": "join", "id": "j1", "room": "lobby"})
        await request(alice, "alice", {"type": "publish", "id": "p1", "room": "lobby",
                                       "data": {"text": "hello, room"}})
        print("bob   <", await bob.recv())

        # What the error counters are for: each of these is refused, and counted by its code.
        await request(alice, "alice", "{bad")
        await request(alice, "alice", {"type": "dance", "id": "d1"})
        await request(bob, "bob  ", {"type": "publish", "id": "p2", "room": "kitchen", "data": 1})
        await request(bob, "bob  ", b"\x01\x02\x03")

        with urllib.request.urlopen(ADMIN + "/healthz") as health:
            print("admin <", health.read().decode())

        # Long enough for one heartbeat: the library answers the Ping, the server times it.
        await asyncio.sleep(1.5)

        await bob.close()
        alice.transport.abort()  # gone without a Close frame
        print("bob: closed; alice: dropped")


asyncio.run(main())
