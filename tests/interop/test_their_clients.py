"""Third-party clients against our server (`switchboard echo`).

Python `websockets` and Node `ws` run the same script, with permessage-deflate offered (with
default or with the tightest parameters) or not, and our server accepting it or not: text, binary, empty messages, a message in three frames,
about 4 MiB of text and 4 MiB of incompressible binary, a ping answered by our server, and a
close with 4001 "bye" whose code our server echoes. Python `websocket-client`'s WebSocketApp
does the same from its callbacks (it offers no compression).
"""

import pytest

from harness import node_peer, python_peer, steps

SCRIPT = [
    "handshake",
    "text",
    "binary",
    "empty_text",
    "empty_binary",
    "fragmented",
    "large_text",
    "large_binary",
    "ping",
    "close",
]
APP_SCRIPT = [
    "handshake",
    "text",
    "binary",
    "empty_text",
    "fragmented",
    "large_text",
    "large_binary",
    "ping",
    "close",
]


def check(client, expected_steps):
    status = client.wait()
    done = steps(client)
    failed = [step for step in done if not step["ok"]]
    assert not failed, f"failed steps: {failed}\n{client.describe()}"
    assert [step["step"] for step in done] == expected_steps, client.describe()
    assert status == 0, client.describe()
    return {step["step"]: step for step in done}


# (what the client offers, whether our server accepts permessage-deflate). `deflate-tight`
# asks for no context takeover both ways and window bits 9.
COMPRESSION = {
    "offers-deflate-server-deflate": ("deflate", True),
    "offers-tight-server-deflate": ("deflate-tight", True),
    "offers-deflate-server-plain": ("deflate", False),
    "offers-none-server-deflate": ("none", True),
    "offers-none-server-plain": ("none", False),
}


@pytest.mark.parametrize("compression", list(COMPRESSION))
@pytest.mark.parametrize("peer", ["websockets", "ws"])
def test_client_script(peer, compression, spawn, echo_server, node):
    offer, server_deflate = COMPRESSION[compression]
    url = echo_server(deflate=server_deflate)
    negotiated = offer != "none" and server_deflate
    argv = {
        "websockets": python_peer("websockets_client.py"),
        "ws": node_peer(node, "ws_client.mjs"),
    }[peer] + [
        url,
        "--compression",
        offer,
        "--expect-extension",
        "yes" if negotiated else "no",
        "--close-code",
        "4001",
        "--close-reason",
        "bye",
    ]
    results = check(spawn(argv, f"{peer} client"), SCRIPT)

    extensions = results["handshake"]["extensions"]
    if negotiated:
        assert extensions.startswith("permessage-deflate"), extensions
    else:
        assert extensions is None, extensions
    if offer == "deflate-tight":
        params = {p.strip() for p in extensions.split(";")}
        assert {"server_no_context_takeover", "client_no_context_takeover"} <= params
        assert {"server_max_window_bits=9", "client_max_window_bits=9"} <= params
    # Our server answers a close frame with the same code (RFC 6455 5.5.1).
    assert results["close"]["code"] == 4001


@pytest.mark.parametrize("server_deflate", [True, False], ids=["server-deflate", "server-plain"])
def test_websocket_client_app(server_deflate, spawn, echo_server):
    url = echo_server(deflate=server_deflate)
    argv = python_peer("websocket_client_app.py") + [url, "--close-code", "4001"]
    results = check(spawn(argv, "websocket-client WebSocketApp"), APP_SCRIPT)
    assert results["handshake"]["status"] == 101
    assert results["handshake"]["extensions"] is None
    assert results["close"]["code"] == 4001
