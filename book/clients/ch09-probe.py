"""Times room messages from one node to members on every node, for the chapter 09 benchmark:

    python3 book/clients/ch09-probe.py --publisher ws://127.0.0.1:9000 \
        --member ws://127.0.0.1:9000 --member ws://127.0.0.1:9010 ... [--rate 10] [--duration 20]

One publisher and one member per --member URL join the room `probe` (keep it out of the load's
room), and the publisher publishes --rate messages a second, each carrying the time it was
sent. Every member times each message it receives against the same clock, so the latency
needs no clock synchronisation: publisher and members live in this one process. Prints, per
member, what it received and the latency percentiles.

`wsload broadcast` cannot time a delivery from one node to another: its publisher and its
members connect to the same URL. This probe does only that, with a handful of connections, so
it can run next to the load without adding to it.

Needs `pip install websockets`.
"""
import argparse
import asyncio
import json
import time

import websockets

parser = argparse.ArgumentParser()
parser.add_argument("--publisher", required=True)
parser.add_argument("--member", action="append", required=True)
parser.add_argument("--room", default="probe")
parser.add_argument("--rate", type=float, default=10)
parser.add_argument("--duration", type=float, default=20)
args = parser.parse_args()


async def joined(url):
    ws = await websockets.connect(url, max_queue=None)
    await ws.recv()  # welcome
    await ws.send(json.dumps({"type": "join", "id": "j", "room": args.room}))
    reply = json.loads(await ws.recv())
    assert reply["type"] == "ack", reply
    return ws


async def member(ws, samples):
    async for text in ws:
        received = time.monotonic_ns()
        message = json.loads(text)
        if message.get("type") == "message" and isinstance(message.get("data"), dict):
            samples.append((received - message["data"]["t"]) / 1e6)


async def publish(ws, count):
    acked, interval = 0, 1 / args.rate
    start = time.monotonic()
    for seq in range(count):
        await asyncio.sleep(max(0, start + seq * interval - time.monotonic()))
        data = {"t": time.monotonic_ns(), "seq": seq}
        await ws.send(json.dumps({"type": "publish", "room": args.room, "data": data}))
        if json.loads(await ws.recv())["type"] == "ack":
            acked += 1
    return acked


def percentile(sorted_samples, p):
    if not sorted_samples:
        return float("nan")
    return sorted_samples[min(len(sorted_samples) - 1, int(p / 100 * len(sorted_samples)))]


async def main():
    publisher = await joined(args.publisher)
    members = [await joined(url) for url in args.member]
    samples = [[] for _ in members]
    readers = [asyncio.create_task(member(ws, s)) for ws, s in zip(members, samples)]
    acked = await publish(publisher, int(args.rate * args.duration))
    await asyncio.sleep(2)  # the last deliveries
    for reader in readers:
        reader.cancel()
    print(f"publisher {args.publisher}: {acked} publishes acknowledged")
    print(f"{'member':28} {'received':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for url, s in zip(args.member, samples):
        s.sort()
        row = [percentile(s, p) for p in (50, 90, 99)] + [s[-1] if s else float("nan")]
        print(f"{url:28} {len(s):>8} " + " ".join(f"{v:8.2f}" for v in row))
    for ws in [publisher, *members]:
        await ws.close()


asyncio.run(main())
