"""A Python `websocket-client` WebSocketApp, callback style, against our echo server.

on_open sends the first message; each on_message checks the echo and sends the next (one at a
time, so neither side blocks writing a large message the other is not reading). After the last
echo it pings; on_pong closes with a code and reason; on_close checks the code the server sent
back. Prints one JSON line per step. Exit status 0 only if every step passed.

    websocket_client_app.py URL [--large BYTES] [--close-code C] [--close-reason R]
"""

import argparse
import json
import random
import sys
import threading

import websocket
from websocket import ABNF

TIMEOUT = 30.0


class Script:
    def __init__(self, args):
        self.args = args
        self.failed = 0
        self.closed = False
        line = "The quick brown fox jumps over the lazy dog, ünïcödé. "
        large_text = (line * (args.large // len(line) + 1))[: args.large]
        # (step, message); the echo must equal the message. None stands for a message sent in two
        # frames, echoed as one.
        self.steps = [
            ("text", "héllo, switchboard ☃ 🌍"),
            ("binary", bytes(range(256)) * 4),
            ("empty_text", ""),
            ("fragmented", None),
            ("large_text", large_text),
            ("large_binary", random.Random(6455).randbytes(args.large)),
        ]
        self.current = -1

    def report(self, step, ok, **fields):
        if not ok:
            self.failed += 1
        print(json.dumps({"step": step, "ok": bool(ok), **fields}), flush=True)

    def send_next(self, app):
        self.current += 1
        if self.current == len(self.steps):
            app.sock.ping("app-ping")
            return
        step, message = self.steps[self.current]
        if message is None:
            app.sock.send_frame(ABNF.create_frame("part one, ", ABNF.OPCODE_TEXT, 0))
            app.sock.send_frame(ABNF.create_frame("part two", ABNF.OPCODE_CONT, 1))
        elif isinstance(message, bytes):
            app.send_bytes(message)
        else:
            app.send_text(message)

    # WebSocketApp callbacks.

    def on_open(self, app):
        headers = app.sock.getheaders() or {}
        extensions = headers.get("sec-websocket-extensions")
        # websocket-client offers no extension, so none may be negotiated.
        self.report("handshake", extensions is None, status=app.sock.getstatus(), extensions=extensions)
        self.send_next(app)

    def on_message(self, app, message):
        step, sent = self.steps[self.current]
        expected = "part one, part two" if sent is None else sent
        ok = type(message) is type(expected) and message == expected
        self.report(step, ok, sent=len(expected), received=len(message))
        self.send_next(app)

    def on_pong(self, app, data):
        self.report("ping", data == b"app-ping", payload=data.decode(errors="replace"))
        app.close(status=self.args.close_code, reason=self.args.close_reason)

    def on_close(self, app, code, reason):
        self.closed = True
        self.report("close", code == self.args.close_code, code=code, reason=reason)

    def on_error(self, app, error):
        self.report("error", False, error=repr(error))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--large", type=int, default=4 << 20)
    parser.add_argument("--close-code", type=int, default=4001)
    parser.add_argument("--close-reason", default="bye")
    args = parser.parse_args()

    script = Script(args)
    websocket.setdefaulttimeout(TIMEOUT)
    app = websocket.WebSocketApp(
        args.url,
        on_open=script.on_open,
        on_message=script.on_message,
        on_pong=script.on_pong,
        on_close=script.on_close,
        on_error=script.on_error,
    )

    def give_up():
        script.report("timeout", False, after_s=TIMEOUT)
        app.close()

    timer = threading.Timer(TIMEOUT, give_up)
    timer.start()
    try:
        app.run_forever()
    finally:
        timer.cancel()
    if not script.closed:
        script.report("close", False, error="on_close was not called")
    if script.current < len(script.steps):
        script.report("steps", False, error=f"stopped at step {script.current}")
    return 1 if script.failed else 0


if __name__ == "__main__":
    sys.exit(main())
