"""A Python `websockets` echo server: the third-party server our client is tested against.

Serves one connection on 127.0.0.1 (port 0 unless --port), then exits. It prints JSON lines on
stdout: `listening` (with the port), `connected` (with the negotiated extensions), `pong` when
told to ping first, and `closed` (the close code and reason it received). Exit status 0 only if
every check on its side passed.

    --compression deflate|deflate-tight|none
                                 accept permessage-deflate (deflate-tight: and require no
                                 context takeover both ways and window bits 9)
    --ping-first PAYLOAD         send a ping, wait for its pong, then send "pong:PAYLOAD"
    --close-after N              after echoing N data messages, close with
    --close-code C --close-reason R
"""

import argparse
import asyncio
import json
import sys

from websockets.asyncio.server import serve
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.exceptions import ConnectionClosed

TIMEOUT = 30.0


def report(**fields):
    print(json.dumps(fields), flush=True)


async def handle(ws, args, outcome):
    report(
        event="connected",
        offered=ws.request.headers.get("Sec-WebSocket-Extensions"),
        extensions=ws.response.headers.get("Sec-WebSocket-Extensions"),
    )
    echoed = 0
    try:
        if args.ping_first is not None:
            pong = await ws.ping(args.ping_first.encode())
            await asyncio.wait_for(pong, TIMEOUT)
            report(event="pong", ok=True, payload=args.ping_first)
            await ws.send("pong:" + args.ping_first)
        async for message in ws:
            await ws.send(message)
            echoed += 1
            if echoed == args.close_after:
                await ws.close(args.close_code, args.close_reason)
                break
    except ConnectionClosed:
        pass  # Reported below, from the connection's own record.
    except Exception as e:  # noqa: BLE001 - anything else fails this peer.
        report(event="error", error=repr(e))
        outcome["ok"] = False
    await ws.wait_closed()
    report(event="closed", code=ws.close_code, reason=ws.close_reason, echoed=echoed)
    outcome["done"].set()


def compression_options(name):
    if name == "deflate-tight":
        tight = ServerPerMessageDeflateFactory(
            server_no_context_takeover=True,
            client_no_context_takeover=True,
            server_max_window_bits=9,
            client_max_window_bits=9,
        )
        return {"compression": None, "extensions": [tight]}
    return {"compression": None if name == "none" else "deflate"}


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--compression", choices=["deflate", "deflate-tight", "none"], default="deflate"
    )
    parser.add_argument("--ping-first")
    parser.add_argument("--close-after", type=int, default=0)
    parser.add_argument("--close-code", type=int, default=1000)
    parser.add_argument("--close-reason", default="")
    args = parser.parse_args()

    outcome = {"ok": True, "done": asyncio.Event()}
    async with serve(
        lambda ws: handle(ws, args, outcome),
        "127.0.0.1",
        args.port,
        **compression_options(args.compression),
        max_size=64 << 20,
        # No keepalive pings: the client's script expects only the pings it asked for.
        ping_interval=None,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        report(event="listening", port=port)
        try:
            await asyncio.wait_for(outcome["done"].wait(), TIMEOUT)
        except asyncio.TimeoutError:
            report(event="error", error=f"no finished connection within {TIMEOUT} s")
            return 1
    return 0 if outcome["ok"] else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
