"""A Python `websockets` client: the third-party client our echo server is tested against.

Runs a fixed script against an echo server and prints one JSON line per step
(`{"step": ..., "ok": ...}`). Exit status 0 only if every step passed.

    websockets_client.py URL [--compression deflate|deflate-tight|none]
                             [--expect-extension yes|no] [--large BYTES]
                             [--close-code C] [--close-reason R]

`deflate` is websockets' default offer; `deflate-tight` asks for no context takeover both ways
and 512-byte windows (window bits 9), the smallest RFC 7692 parameters zlib supports.
"""

import argparse
import asyncio
import json
import random
import sys

from websockets.asyncio.client import connect
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

TIMEOUT = 20.0


class Script:
    def __init__(self):
        self.failed = 0

    def report(self, step, ok, **fields):
        if not ok:
            self.failed += 1
        print(json.dumps({"step": step, "ok": bool(ok), **fields}), flush=True)

    async def echo(self, ws, step, message):
        await asyncio.wait_for(ws.send(message), TIMEOUT)
        received = await asyncio.wait_for(ws.recv(), TIMEOUT)
        same_type = type(received) is type(message)
        self.report(step, same_type and received == message, sent=len(message), received=len(received))


def compression_options(name):
    if name == "deflate-tight":
        tight = ClientPerMessageDeflateFactory(
            server_no_context_takeover=True,
            client_no_context_takeover=True,
            server_max_window_bits=9,
            client_max_window_bits=9,
        )
        return {"compression": None, "extensions": [tight]}
    return {"compression": None if name == "none" else "deflate"}


async def run(args, script):
    async with connect(
        args.url,
        **compression_options(args.compression),
        max_size=64 << 20,
        ping_interval=None,
        open_timeout=TIMEOUT,
        close_timeout=TIMEOUT,
    ) as ws:
        extensions = ws.response.headers.get("Sec-WebSocket-Extensions")
        negotiated = extensions is not None and extensions.startswith("permessage-deflate")
        expected = {"yes": True, "no": False, None: negotiated}[args.expect_extension]
        script.report("handshake", negotiated == expected, extensions=extensions)

        await script.echo(ws, "text", "héllo, switchboard ☃ 🌍")
        await script.echo(ws, "binary", bytes(range(256)) * 4)
        await script.echo(ws, "empty_text", "")
        await script.echo(ws, "empty_binary", b"")

        # A message in three frames, each over the 1 KiB below which some peers do not compress.
        pieces = ["α" * 700, "β" * 700 + "-", "γ" * 700]
        await asyncio.wait_for(ws.send(pieces), TIMEOUT)
        received = await asyncio.wait_for(ws.recv(), TIMEOUT)
        script.report("fragmented", received == "".join(pieces), received=len(received))

        line = "The quick brown fox jumps over the lazy dog, ünïcödé. "
        text = (line * (args.large // len(line) + 1))[: args.large]
        await script.echo(ws, "large_text", text)
        data = random.Random(6455).randbytes(args.large)
        await script.echo(ws, "large_binary", data)

        pong = await ws.ping(b"their-ping")
        latency = await asyncio.wait_for(pong, TIMEOUT)
        script.report("ping", True, latency_ms=round(latency * 1000, 3))

        await asyncio.wait_for(ws.close(args.close_code, args.close_reason), TIMEOUT)
        script.report(
            "close",
            ws.close_code == args.close_code,
            code=ws.close_code,
            reason=ws.close_reason,
        )


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument(
        "--compression", choices=["deflate", "deflate-tight", "none"], default="deflate"
    )
    parser.add_argument("--expect-extension", choices=["yes", "no"])
    parser.add_argument("--large", type=int, default=4 << 20)
    parser.add_argument("--close-code", type=int, default=4001)
    parser.add_argument("--close-reason", default="bye")
    args = parser.parse_args()
    script = Script()
    try:
        await run(args, script)
    except Exception as e:  # noqa: BLE001 - any exception is a failed step.
        script.report("error", False, error=repr(e))
    return 1 if script.failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
