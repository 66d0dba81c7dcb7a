"""Talks to the chapter 01 server: python3 book/clients/ch01-client.py [ws://127.0.0.1:9000]

Needs `pip install websockets`.
"""
import asyncio
import socket
import sys
from urllib.parse import urlparse

import websockets

URL = sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:9000"


async def main():
    async with websockets.connect(URL) as ws:
        await ws.send("hello")  # a text frame
        print("<", await ws.recv())
        await ws.send(b"\x00\x01\x02")  # a binary frame
        print("<", await ws.recv())
        await (await ws.ping())  # the server's library answers with a Pong
        print("< pong")
    # Leaving the `async with` sent a Close frame and waited for the server's Close.

    # Not a WebSocket handshake: the server drops it and keeps serving.
    url = urlparse(URL)
    with socket.create_connection((url.hostname, url.port)) as http:
        http.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        print("plain HTTP answer:", http.recv(1024))


asyncio.run(main())
