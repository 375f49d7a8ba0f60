#!/usr/bin/env python3
"""A logging TCP relay for capturing the seed corpus (Fuzz/make-corpus.sh).

Usage: relay.py LISTEN_PORT_FILE TARGET_HOST:PORT OUT_DIR
Listens on 127.0.0.1:0, writes the port to LISTEN_PORT_FILE, and forwards every
connection to the target, appending what each side sent to OUT_DIR/conn-N.c2s and
OUT_DIR/conn-N.s2c. Runs until killed.
"""
import asyncio, itertools, os, sys

port_file, target, out = sys.argv[1], sys.argv[2], sys.argv[3]
host, port = target.rsplit(":", 1)
counter = itertools.count()


async def pump(reader, writer, path):
    with open(path, "ab") as log:
        try:
            while data := await reader.read(65536):
                log.write(data)
                log.flush()
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            try:
                writer.write_eof()
            except (OSError, RuntimeError):
                pass


async def handle(client_reader, client_writer):
    n = next(counter)
    server_reader, server_writer = await asyncio.open_connection(host, int(port))
    base = os.path.join(out, f"conn-{n:04d}")
    await asyncio.gather(
        pump(client_reader, server_writer, base + ".c2s"),
        pump(server_reader, client_writer, base + ".s2c"))
    client_writer.close()
    server_writer.close()


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.sockets[0].getsockname()[1]))
    os.rename(port_file + ".tmp", port_file)
    async with server:
        await server.serve_forever()

asyncio.run(main())
