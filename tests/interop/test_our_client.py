"""Our client (the `interop_client` example) against third-party servers.

Python `websockets` and Node `ws` echo servers, with permessage-deflate on (with default or
with the tightest parameters) or off, and our client offering it or not. Each server first pings and waits for our library's automatic pong,
then echoes; our client pings, sends text, binary, an empty message, about 4 MiB of text and
4 MiB of incompressible binary, and checks each echo. The connection then ends either way
round: we close with 4001 "bye", or the server closes with 4002 "server bye" after the five
data messages.
"""

import pytest

from harness import events, node_peer, python_peer, steps

SCRIPT = [
    "connect",
    "server_ping",
    "ping",
    "text",
    "binary",
    "empty_text",
    "large_text",
    "large_binary",
    "close",
]
DATA_MESSAGES = 5

# (server's compression, our client offers deflate): negotiated only when both are on.
# `deflate-tight` servers require no context takeover both ways and window bits 9.
COMPRESSION = {
    "server-deflate": ("deflate", True),
    "server-tight": ("deflate-tight", True),
    "server-plain": ("none", True),
    "client-plain": ("deflate", False),
}


@pytest.mark.parametrize("ending", ["we-close", "server-closes"])
@pytest.mark.parametrize("compression", list(COMPRESSION))
@pytest.mark.parametrize("peer", ["websockets", "ws"])
def test_our_client(peer, compression, ending, spawn, interop_client_bin, node):
    server_compression, client_offers = COMPRESSION[compression]
    negotiated = server_compression != "none" and client_offers

    server_argv = {
        "websockets": python_peer("websockets_server.py"),
        "ws": node_peer(node, "ws_server.mjs"),
    }[peer] + ["--compression", server_compression, "--ping-first", "srv-ping"]
    client_argv = [interop_client_bin, "--server-ping", "srv-ping"]
    client_argv += ["--expect-extension", "yes" if negotiated else "no"]
    if not client_offers:
        client_argv.append("--no-deflate")
    if ending == "server-closes":
        server_argv += ["--close-after", str(DATA_MESSAGES), "--close-code", "4002"]
        server_argv += ["--close-reason", "server bye"]
        client_argv += ["--expect-close", "4002", "server bye"]
    else:
        client_argv += ["--close", "4001", "bye"]

    server = spawn(server_argv, f"{peer} server")
    port = server.wait_line(r'"event": ?"listening", ?"port": ?(\d+)').group(1)
    client = spawn(client_argv + [f"ws://127.0.0.1:{port}/"], "interop_client")

    client_status = client.wait()
    server_status = server.wait()
    both = client.describe() + "\n" + server.describe()
    done = steps(client)
    failed = [step for step in done if not step["ok"]]
    assert not failed, f"failed steps: {failed}\n{both}"
    assert [step["step"] for step in done] == SCRIPT, both
    assert client_status == 0, both
    assert server_status == 0, both

    # What the server saw: the handshake, our pong, and our close frame (or our reply).
    (connected,) = events(server, "connected")
    if negotiated:
        assert connected["extensions"].startswith("permessage-deflate"), both
    else:
        assert connected["extensions"] is None, both
    if negotiated and server_compression == "deflate-tight":
        params = {p.strip() for p in connected["extensions"].split(";")}
        assert {"server_no_context_takeover", "client_no_context_takeover"} <= params, both
        assert {"server_max_window_bits=9", "client_max_window_bits=9"} <= params, both
    assert [pong["ok"] for pong in events(server, "pong")] == [True], both
    (closed,) = events(server, "closed")
    assert closed["echoed"] == DATA_MESSAGES, both
    if ending == "we-close":
        assert (closed["code"], closed["reason"]) == (4001, "bye"), both
    else:
        # Our reply to the server's close frame carries its code back (RFC 6455 5.5.1).
        assert closed["code"] == 4002, both
