"""
The floor under a cold file: the least any caching proxy written in Python
must do to pass a file on while fetching it, measured beside the upstream.

A cold file through cheesecache is received, hashed, written to its blob and
sent on.  To tell what that costs from what cheesecache adds, this runs a
proxy with no framework at all (blocking sockets, one client at a time, a
1 MiB buffer) in four shapes, each with more of the work:

  relay    receive and send on, nothing else;
  hash     the same, with the sha256 of every byte;
  store    hash, write to a temporary file, send on from memory;
  sendfile hash and write in one thread, C{sendfile} what is written from
           another (cheesecache's shape).

For each shape it takes pairs of downloads with curl, the file straight from
the upstream, then through the proxy, and prints one line per pair::

    python bench/coldfloor.py UPSTREAM_FILE_URL [--pairs N]

    shape<TAB>upstream bytes/s<TAB>proxy bytes/s<TAB>proxy bytes

Only loopback upstreams are accepted.  bench/run.sh runs it beside its cold
pairs, so that RESULTS.md can say how far the plain floor is from nginx.
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from typing import Callable, Optional, Tuple

SHAPES = ("relay", "hash", "store", "sendfile")
BUFFER = 1 << 20


def readHead(sock: socket.socket) -> Tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed in the head")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def contentLength(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise ValueError("the upstream gave no Content-Length")


def proxyOne(shape: str, client: socket.socket, upstream: urllib.parse.SplitResult) -> None:
    request, _ = readHead(client)
    target = request.split(b" ")[1]
    up = socket.create_connection((upstream.hostname, upstream.port or 80))
    up.sendall(
        b"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
        % (target, upstream.netloc.encode())
    )
    head, rest = readHead(up)
    length = contentLength(head)
    client.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % length)
    digest = hashlib.sha256()
    out = tempfile.TemporaryFile() if shape in ("store", "sendfile") else None
    written = 0
    ready = threading.Condition()

    def sendWritten() -> None:
        sent = 0
        assert out is not None
        while sent < length:
            with ready:
                while written == sent:
                    ready.wait()
                upto = written
            while sent < upto:
                sent += os.sendfile(client.fileno(), out.fileno(), sent, upto - sent)

    sender: Optional[threading.Thread] = None
    if shape == "sendfile":
        sender = threading.Thread(target=sendWritten)
        sender.start()

    def take(data: memoryview) -> None:
        nonlocal written
        if shape != "relay":
            digest.update(data)
        if out is not None:
            out.write(data)
            out.flush()
        if sender is not None:
            with ready:
                written += len(data)
                ready.notify()
        else:
            client.sendall(data)

    received = len(rest)
    if rest:
        take(memoryview(rest))
    buffer = memoryview(bytearray(BUFFER))
    while received < length:
        n = up.recv_into(buffer, BUFFER)
        if not n:
            break
        take(buffer[:n])
        received += n
    if sender is not None:
        sender.join()
    up.close()
    client.close()
    if out is not None:
        out.close()


def serve(shape: str, listening: socket.socket, upstream: str) -> None:
    parts = urllib.parse.urlsplit(upstream)
    while True:
        client, _ = listening.accept()
        proxyOne(shape, client, parts)


def curl(url: str) -> Tuple[float, int]:
    out = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-m", "120", "-w", "%{speed_download} %{size_download}", url],
        check=True, capture_output=True, text=True,
    ).stdout.split()
    return float(out[0]), int(out[1])


def main(argv: Optional[list] = None, write: Callable[[str], object] = sys.stdout.write) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the file's URL on a loopback upstream")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--serve", choices=SHAPES, help=argparse.SUPPRESS)
    parser.add_argument("--fd", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    parts = urllib.parse.urlsplit(args.url)
    if parts.scheme != "http" or not ipaddress.ip_address(socket.gethostbyname(parts.hostname or "")).is_loopback:
        raise SystemExit("coldfloor.py: the upstream must be plain HTTP on loopback")
    if args.serve:
        serve(args.serve, socket.socket(fileno=args.fd), f"{parts.scheme}://{parts.netloc}/")
        return
    for shape in SHAPES:
        listening = socket.socket()
        listening.bind(("127.0.0.1", 0))
        listening.listen(8)
        port = listening.getsockname()[1]
        proxy = subprocess.Popen(
            [sys.executable, __file__, args.url, "--serve", shape, "--fd", str(listening.fileno())],
            pass_fds=[listening.fileno()],
        )
        listening.close()
        try:
            through = urllib.parse.urlunsplit(("http", f"127.0.0.1:{port}", parts.path, parts.query, ""))
            for _ in range(args.pairs):
                direct, _ = curl(args.url)
                proxied, size = curl(through)
                write(f"{shape}\t{direct:.0f}\t{proxied:.0f}\t{size}\n")
                time.sleep(0.2)
        finally:
            proxy.terminate()
            proxy.wait()


if __name__ == "__main__":
    main()
