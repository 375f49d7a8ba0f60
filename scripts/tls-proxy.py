#!/usr/bin/env python3
"""A TLS-terminating forwarder in front of the host's HTTP listener, the way an operator
serves the live venue page over HTTPS (docs/MARKETDATA.md §7): it accepts TLS
connections and forwards each one's plaintext to the host and back, WebSocket upgrades
included. Python's standard library only.

    scripts/tls-proxy.py --cert CERT.pem --key KEY.pem --to HOST:PORT
        [--listen 127.0.0.1:0] [--port-file FILE] [--inject-after-upgrade FILE]

--port-file: the port it listens on is written there (decimal and a newline, renamed
into place) once it accepts connections.
--inject-after-upgrade: for tests (Tests/IntegrationTests/VenuePageTests.swift). Each
line of FILE is sent to the browser as one WebSocket text message right after the
host's 101 response to an upgrade, before the host's own messages: what a feed that
cannot be trusted might send.
"""
import argparse
import asyncio
import os
import signal
import ssl
import sys


def text_frame(payload: bytes) -> bytes:
    """One unmasked final text frame (RFC 6455 §5.2), as a server sends it."""
    n = len(payload)
    if n < 126:
        head = bytes([0x81, n])
    elif n < 1 << 16:
        head = bytes([0x81, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x81, 127]) + n.to_bytes(8, "big")
    return head + payload


async def copy(reader, writer, first=b""):
    """Copies reader to writer until end of stream, then closes writer."""
    try:
        if first:
            writer.write(first)
            await writer.drain()
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


async def to_browser(reader, writer, inject):
    """The host's side. With frames to inject, the connection's first response head is
    read whole, and the frames follow it if it is a 101."""
    head = b""
    if inject:
        while b"\r\n\r\n" not in head:
            data = await reader.read(1 << 16)
            if not data:
                break
            head += data
        end = head.find(b"\r\n\r\n") + 4
        if end >= 4 and head.startswith(b"HTTP/1.1 101 "):
            head = head[:end] + inject + head[end:]
    await copy(reader, writer, head)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--to", required=True, metavar="HOST:PORT")
    parser.add_argument("--listen", default="127.0.0.1:0", metavar="HOST:PORT")
    parser.add_argument("--port-file")
    parser.add_argument("--inject-after-upgrade", metavar="FILE")
    args = parser.parse_args()
    # A parent may have left SIGTERM blocked (a Swift test's spawning thread does): stop on it.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    to_host, to_port = args.to.rsplit(":", 1)
    listen_host, listen_port = args.listen.rsplit(":", 1)
    inject = b""
    if args.inject_after_upgrade:
        with open(args.inject_after_upgrade, "rb") as f:
            inject = b"".join(text_frame(line.rstrip(b"\n")) for line in f)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)

    async def handle(browser_reader, browser_writer):
        try:
            host_reader, host_writer = await asyncio.open_connection(to_host, int(to_port))
        except OSError as error:
            print(f"tls-proxy: {args.to}: {error}", file=sys.stderr)
            browser_writer.close()
            return
        await asyncio.gather(
            copy(browser_reader, host_writer), to_browser(host_reader, browser_writer, inject))

    async def serve():
        server = await asyncio.start_server(handle, listen_host, int(listen_port), ssl=context)
        port = server.sockets[0].getsockname()[1]
        if args.port_file:
            with open(args.port_file + ".tmp", "w") as f:
                f.write(f"{port}\n")
            os.replace(args.port_file + ".tmp", args.port_file)
        print(f"tls-proxy: https://{listen_host}:{port} -> http://{args.to}", file=sys.stderr, flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
