"""Two nodes of the chapter 09 server, one client on each, through one Redis:

    python3 book/clients/ch09-client.py [ws://127.0.0.1:9000] [ws://127.0.0.1:9010] \
        [http://127.0.0.1:9001] [http://127.0.0.1:9011]

Alice is on node 1, Bob on node 2. They join a room and publish across nodes, Alice sends Bob
a direct message, then two direct messages that bounce: one to a session that has left node 2,
one to a node that does not exist. Then the script waits for you to stop Redis
(`redis-cli shutdown nosave`), publishes during the outage, waits for you to start it again,
and publishes once more.

Needs `pip install websockets`.
"""
import asyncio
import json
import sys
import urllib.request

import websockets

NODE1 = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:9000"
NODE2 = sys.argv[2] if len(sys.argv) > 2 else "ws://127.0.0.1:9010"
ADMIN1 = sys.argv[3] if len(sys.argv) > 3 else "http://127.0.0.1:9001"
ADMIN2 = sys.argv[4] if len(sys.argv) > 4 else "http://127.0.0.1:9011"


async def recv(name, ws):
    message = await ws.recv()
    print(f"{name} <", message)
    return json.loads(message)


async def send(name, ws, message):
    text = json.dumps(message, separators=(",", ":"))
    print(f"{name} >", text)
    await ws.send(text)


def health(admin):
    with urllib.request.urlopen(admin + "/healthz") as answer:
        return json.loads(answer.read())


async def until_status(admin, status):
    while health(admin)["status"] != status:
        await asyncio.sleep(0.2)
    print(f"admin < {admin}/healthz:", json.dumps(health(admin), separators=(",", ":")))


async def main():
    async with websockets.connect(NODE1) as alice, websockets.connect(NODE2) as bob:
        # The session id names its node: node 1 hands out 1 << 48 | n, node 2 2 << 48 | n.
        await recv("alice", alice)
        bob_id = (await recv("bob  ", bob))["session"]
        for name, ws in [("alice", alice), ("bob  ", bob)]:
            await send(name, ws, {"type": "join", "id": "j", "room": "lobby"})
            await recv(name, ws)

        # A publish is delivered on the sender's node, and forwarded once through Redis.
        await send("alice", alice, {"type": "publish", "id": "p1", "room": "lobby", "data": "hi from node 1"})
        await recv("alice", alice)
        await recv("bob  ", bob)
        await send("bob  ", bob, {"type": "publish", "id": "p2", "room": "lobby", "data": "hi from node 2"})
        await recv("bob  ", bob)
        await recv("alice", alice)

        # A direct message goes to the channel of the recipient's node.
        await send("alice", alice, {"type": "direct", "id": "d1", "to": bob_id, "data": "psst"})
        await recv("alice", alice)
        await recv("bob  ", bob)

        # Carol visits node 2 and leaves; a direct message to her comes back from node 2.
        async with websockets.connect(NODE2) as carol:
            carol_id = (await recv("carol", carol))["session"]
        await asyncio.sleep(0.1)
        await send("alice", alice, {"type": "direct", "id": "d2", "to": carol_id, "data": "still there?"})
        await recv("alice", alice)
        await recv("alice", alice)

        # Node 9 does not exist: nobody subscribes to ws:node:9, and node 1 answers at once.
        await send("alice", alice, {"type": "direct", "id": "d3", "to": str(9 << 48 | 1), "data": "?"})
        await recv("alice", alice)
        await recv("alice", alice)

        print("admin <", json.dumps(health(ADMIN1), separators=(",", ":")))
        print("admin <", json.dumps(health(ADMIN2), separators=(",", ":")))

        print("-- now stop Redis: redis-cli shutdown nosave")
        await until_status(ADMIN1, "degraded")
        # Refused, not acknowledged and silently delivered to half the room.
        await send("alice", alice, {"type": "publish", "id": "p3", "room": "lobby", "data": "anyone?"})
        await recv("alice", alice)
        # Node 2 still serves its own sessions: an echo needs no Redis.
        await send("bob  ", bob, {"type": "echo", "id": "e1", "data": "still here"})
        await recv("bob  ", bob)

        print("-- now start Redis again")
        await until_status(ADMIN1, "ok")
        await until_status(ADMIN2, "ok")
        await send("alice", alice, {"type": "publish", "id": "p4", "room": "lobby", "data": "back"})
        await recv("alice", alice)
        await recv("bob  ", bob)


asyncio.run(main())
