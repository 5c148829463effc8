"""An echo server on Python's websockets (its asyncio implementation), the compression peer
of scripts/bench-suite.sh: `async for message in websocket: await websocket.send(message)`,
as the library's own echo example is written.

Same flags as the Rust peers: --listen ADDR (default 127.0.0.1:0), --deflate to accept
permessage-deflate with the library's default settings (it is refused otherwise, so that a
run without it measures framing alone), and --threads, accepted and ignored (asyncio runs one
thread). Prints `websockets-echo: listening on ADDR` once it accepts connections.
"""

import argparse
import asyncio
import sys

from websockets.asyncio.server import serve


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


async def main():
    parser = argparse.ArgumentParser(prog="websockets-echo")
    parser.add_argument("--listen", default="127.0.0.1:0", metavar="ADDR")
    parser.add_argument("--threads", type=int, default=None, help="ignored: asyncio is one thread")
    parser.add_argument("--deflate", action="store_true")
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    async with serve(
        echo,
        host.strip("[]"),
        int(port),
        compression="deflate" if args.deflate else None,
        # No message size limit beyond the benchmark's own (64 KiB messages and up).
        max_size=None,
        # The benchmark opens hundreds of connections at once; asyncio's default backlog is 100.
        backlog=1024,
    ) as server:
        host, port = server.sockets[0].getsockname()[:2]
        print(f"websockets-echo: listening on {host}:{port}", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
