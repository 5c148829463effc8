"""A third-party client, Python `websockets`, against the hub, `switchboard serve`.

Each test starts its own hub on 127.0.0.1 with a configuration file of its own, and follows
docs/protocol.md: plain rooms pass text and binary messages as they were sent; one
`switchboard.v1.json` connection carries two channels, each in offset order, with presence; a
client that disconnects recovers exactly what was published meanwhile; the HTTP API publishes
with the right key and refuses a wrong one; and JWT connection tokens (HS256, built here from
the standard library) are accepted, or refused as forged or expired. Every wait is bounded.
"""

import asyncio
import base64
import collections
import contextlib
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

PROTOCOL = "switchboard.v1.json"
# One wait (a handshake, a frame, an HTTP request), and a whole scenario.
STEP_TIMEOUT = 5.0
SCENARIO_TIMEOUT = 20.0

API_KEY = "an interop test key"
API_CONFIG = f'api_key = "{API_KEY}"\n'
SECRET = "an interop test secret, long enough for HS256"
JWT_CONFIG = f'[jwt]\nhmac_secret = "{SECRET}"\n'


def run(scenario):
    asyncio.run(asyncio.wait_for(scenario, SCENARIO_TIMEOUT))


async def step(awaitable):
    return await asyncio.wait_for(awaitable, STEP_TIMEOUT)


def websocket(url, **options):
    """A `websockets` client connection with its defaults (it offers permessage-deflate),
    bounded in time and never through a proxy."""
    return connect(
        url, proxy=None, open_timeout=STEP_TIMEOUT, close_timeout=STEP_TIMEOUT, **options
    )


# The HTTP API, with urllib; never through a proxy.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _post(address, method, body, key):
    request = urllib.request.Request(
        f"http://{address}/api/{method}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    if key is not None:
        request.add_header("Authorization", f"apikey {key}")
    try:
        with _HTTP.open(request, timeout=STEP_TIMEOUT) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


async def api(address, method, body, key=API_KEY):
    """`POST /api/{method}`: (status, JSON body)."""
    return await step(asyncio.to_thread(_post, address, method, body, key))


async def api_publish(address, channel, data):
    status, reply = await api(address, "publish", {"channel": channel, "data": data})
    assert status == 200, reply
    return reply["result"]


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def hs256(claims, secret=SECRET):
    """A JWT (RFC 7519) signed with HS256, as an application's backend would issue it."""
    header = {"alg": "HS256", "typ": "JWT"}
    signing_input = ".".join(
        b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    signature = hmac.new(secret.encode(), signing_input.encode("ascii"), hashlib.sha256)
    return f"{signing_input}.{b64url(signature.digest())}"


class Client:
    """A `switchboard.v1.json` client: commands with ids, pushes kept in order until asked."""

    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0
        self.pushes = collections.deque()
        self.client_id = None

    async def frame(self):
        message = await step(self.ws.recv())
        assert isinstance(message, str), f"a binary frame: {message!r}"
        frame = json.loads(message)
        assert isinstance(frame, dict), frame
        return frame

    async def call(self, method, params=None):
        """Sends a command and returns its reply; pushes that come first are kept."""
        self.next_id += 1
        command = {"id": self.next_id, "method": method}
        if params is not None:
            command["params"] = params
        await step(self.ws.send(json.dumps(command)))
        while True:
            frame = await self.frame()
            if "push" in frame:
                self.pushes.append(frame)
                continue
            assert frame.get("id") == self.next_id, frame
            assert ("result" in frame) != ("error" in frame), frame
            return frame

    async def result(self, method, params=None):
        reply = await self.call(method, params)
        assert "result" in reply, f"{method} {params}: {reply}"
        return reply["result"]

    async def connect(self, params=None):
        result = await self.result("connect", params or {})
        assert isinstance(result["client"], str) and result["client"], result
        self.client_id = result["client"]
        return result

    async def push(self, kind):
        """The next push of this kind, skipping the others."""
        while True:
            push = self.pushes.popleft() if self.pushes else await self.frame()
            assert "id" not in push, push
            if push.get("push") == kind:
                return push

    async def join_of_another(self):
        """The next `join` of another connection (one about this one is allowed)."""
        while True:
            join = await self.push("join")
            if join["info"]["client_id"] != self.client_id:
                return join


@contextlib.asynccontextmanager
async def protocol_client(address, path="/ws", subprotocols=(PROTOCOL,)):
    async with websocket(f"ws://{address}{path}", subprotocols=list(subprotocols)) as ws:
        # The server must select the protocol before anything is sent.
        assert ws.subprotocol == PROTOCOL, ws.response.headers
        yield Client(ws)


def plain_room(address, channel):
    return websocket(f"ws://{address}/ws/{channel}")


def test_plain_room_passes_text_and_binary_as_sent(serve):
    address = serve()

    async def scenario():
        async with protocol_client(address) as app:
            await app.connect({"name": "interop-app/1"})
            await app.result("subscribe", {"channel": "lobby"})
            # A plain client is in the room once its join is announced.
            async with plain_room(address, "lobby") as alice:
                alice_id = (await app.join_of_another())["info"]["client_id"]
                async with plain_room(address, "lobby") as bob:
                    await app.join_of_another()

                    text = "hello from Python websockets: é ✓"
                    await step(alice.send(text))
                    for ws in (alice, bob):
                        assert await step(ws.recv()) == text
                    publication = await app.push("publication")
                    assert publication["channel"] == "lobby", publication
                    assert publication["offset"] == 1, publication
                    assert publication["data"] == text, publication
                    assert publication["info"]["client_id"] == alice_id, publication
                    assert "binary" not in publication, publication

                    payload = bytes(range(256)) + b"\x00\xff"
                    await step(bob.send(payload))
                    for ws in (alice, bob):
                        received = await step(ws.recv())
                        assert isinstance(received, bytes), received
                        assert received == payload
                    publication = await app.push("publication")
                    assert publication["offset"] == 2, publication
                    assert publication["data"] == base64.b64encode(payload).decode(), publication
                    assert publication["binary"] is True, publication

                    # Valid JSON reaches plain clients byte for byte, and protocol clients
                    # as the JSON value.
                    json_text = '{"text": "hi",  "n": [1, 2.5]}'
                    await step(alice.send(json_text))
                    for ws in (alice, bob):
                        assert await step(ws.recv()) == json_text
                    publication = await app.push("publication")
                    assert publication["data"] == {"text": "hi", "n": [1, 2.5]}, publication

                    # What a protocol client publishes reaches plain clients as JSON text.
                    await app.result("publish", {"channel": "lobby", "data": {"from": "app"}})
                    for ws in (alice, bob):
                        assert json.loads(await step(ws.recv())) == {"from": "app"}

    run(scenario())


def test_one_connection_carries_two_channels_in_order_with_presence(serve):
    address = serve()
    channels = ["news", "chat:py"]

    async def scenario():
        async with protocol_client(address) as client, protocol_client(address) as other:
            connected = await client.connect({"name": "interop/1", "info": {"name": "Py"}})
            assert connected == {"client": client.client_id, "user": ""}, connected
            me = {"client_id": client.client_id, "user_id": "", "info": {"name": "Py"}}

            epochs = {}
            for channel in channels:
                result = await client.result("subscribe", {"channel": channel})
                assert isinstance(result["epoch"], str) and result["epoch"], result
                epochs[channel] = result["epoch"]
                assert result == {
                    "epoch": result["epoch"],
                    "offset": 0,
                    "recovering": False,
                    "recovered": False,
                    "publications": [],
                }, result

            for i in range(1, 4):
                for channel in channels:
                    data = {"channel": channel, "i": i}
                    result = await client.result("publish", {"channel": channel, "data": data})
                    assert result == {"epoch": epochs[channel], "offset": i}, result

            received = {channel: [] for channel in channels}
            for _ in range(3 * len(channels)):
                publication = await client.push("publication")
                assert publication["info"] == me, publication
                received[publication["channel"]].append(publication)
            for channel in channels:
                assert [p["offset"] for p in received[channel]] == [1, 2, 3], received
                assert [p["data"] for p in received[channel]] == [
                    {"channel": channel, "i": i} for i in range(1, 4)
                ], received

            # Presence: this client in both channels, another one in `news` too.
            await other.connect({"info": {"name": "Other"}})
            await other.result("subscribe", {"channel": "news"})
            them = {"client_id": other.client_id, "user_id": "", "info": {"name": "Other"}}
            presence = await client.result("presence", {"channel": "news"})
            clients = presence["clients"]
            assert sorted(clients, key=lambda c: c["client_id"]) == clients, presence
            assert sorted(clients, key=lambda c: c["client_id"]) == sorted(
                [me, them], key=lambda c: c["client_id"]
            ), presence
            presence = await client.result("presence", {"channel": "chat:py"})
            assert presence == {"clients": [me]}, presence
            stats = await client.result("presence_stats", {"channel": "news"})
            assert stats == {"num_clients": 2, "num_users": 1}, stats

            assert await client.result("ping") == {}
            assert await client.result("unsubscribe", {"channel": "chat:py"}) == {}
            refused = await client.call("presence", {"channel": "chat:py"})
            assert refused["error"]["code"] == 103, refused
            refused = await client.call("unsubscribe", {"channel": "chat:py"})
            assert refused["error"]["code"] == 106, refused

    run(scenario())


def test_a_client_recovers_exactly_what_it_missed(serve):
    address = serve(API_CONFIG)

    async def scenario():
        async with protocol_client(address) as first:
            await first.connect()
            subscribed = await first.result("subscribe", {"channel": "news"})
            epoch = subscribed["epoch"]
            for i in range(1, 4):
                await api_publish(address, "news", {"i": i})
                publication = await first.push("publication")
                assert (publication["offset"], publication["data"]) == (i, {"i": i}), publication
            position = {"epoch": epoch, "offset": publication["offset"]}

        # Published while no one is subscribed.
        for i in range(4, 8):
            result = await api_publish(address, "news", {"i": i})
            assert result == {"epoch": epoch, "offset": i}, result

        async with protocol_client(address) as again:
            await again.connect()
            result = await again.result(
                "subscribe", {"channel": "news", "recover": True, **position}
            )
            assert result["recovering"] is True, result
            assert result["recovered"] is True, result
            assert (result["epoch"], result["offset"]) == (epoch, 7), result
            # Published through the HTTP API, so without `info`.
            assert result["publications"] == [
                {"offset": i, "data": {"i": i}} for i in range(4, 8)
            ], result

            # Then the live stream from the next offset: no gap, no duplicate.
            await api_publish(address, "news", {"i": 8})
            publication = await again.push("publication")
            assert (publication["offset"], publication["data"]) == (8, {"i": 8}), publication

            # `history` continues the same position the same way.
            history = await again.result("history", {"channel": "news", "since": position})
            assert (history["epoch"], history["offset"]) == (epoch, 8), history
            assert [p["offset"] for p in history["publications"]] == [4, 5, 6, 7, 8], history

        # A position in another epoch cannot be continued from, and says so.
        async with protocol_client(address) as stranger:
            await stranger.connect()
            result = await stranger.result(
                "subscribe",
                {"channel": "news", "recover": True, "offset": 3, "epoch": "0000000000000000"},
            )
            assert result == {
                "epoch": epoch,
                "offset": 8,
                "recovering": True,
                "recovered": False,
                "publications": [],
            }, result

    run(scenario())


def test_http_api_publishes_with_the_key_and_refuses_a_wrong_one(serve):
    address = serve(API_CONFIG)

    async def scenario():
        async with protocol_client(address) as reader:
            await reader.connect({"info": {"name": "Reader"}})
            subscribed = await reader.result("subscribe", {"channel": "chat:room"})

            data = {"text": "maintenance at 18:00", "n": [1, None, True]}
            status, reply = await api(address, "publish", {"channel": "chat:room", "data": data})
            assert status == 200, reply
            assert reply == {"result": {"epoch": subscribed["epoch"], "offset": 1}}, reply
            publication = await reader.push("publication")
            # The server published it: no `info`.
            assert publication == {
                "push": "publication",
                "channel": "chat:room",
                "offset": 1,
                "data": data,
            }, publication

            body = {"channel": "chat:room", "data": {"text": "not allowed"}}
            for key in ("a wrong key", None):
                status, reply = await api(address, "publish", body, key=key)
                assert status == 401, (key, status, reply)
                assert reply["error"]["code"] == 101, reply
                assert reply["error"]["message"], reply

            # The refused requests published nothing: the next publication is offset 2.
            status, reply = await api(address, "publish", {"channel": "chat:room", "data": 2})
            assert status == 200, reply
            publication = await reader.push("publication")
            assert (publication["offset"], publication["data"]) == (2, 2), publication

            status, reply = await api(address, "presence", {"channel": "chat:room"})
            assert status == 200, reply
            assert reply["result"]["clients"] == [
                {"client_id": reader.client_id, "user_id": "", "info": {"name": "Reader"}}
            ], reply

    run(scenario())


def test_jwt_tokens_are_accepted_and_expired_ones_refused(serve):
    address = serve(JWT_CONFIG)
    now = int(time.time())
    alice = hs256({"sub": "alice", "exp": now + 3600, "info": {"name": "Alice"}})

    async def scenario():
        async with protocol_client(address) as client:
            result = await client.connect({"token": alice, "info": {"name": "ignored"}})
            assert result["user"] == "alice", result
            await client.result("subscribe", {"channel": "room"})
            presence = await client.result("presence", {"channel": "room"})
            # The token's `info` is shown, not the one sent in `connect`.
            assert presence["clients"] == [
                {"client_id": client.client_id, "user_id": "alice", "info": {"name": "Alice"}}
            ], presence

        # The same token as a second subprotocol: the server still selects the protocol.
        async with protocol_client(address, subprotocols=(PROTOCOL, f"token.{alice}")) as client:
            result = await client.connect()
            assert result["user"] == "alice", result

        refusals = [
            # Expired an hour ago: error 109, then disconnect 4003, reconnect with a fresh one.
            (hs256({"sub": "alice", "exp": now - 3600}), 109, 4003, True),
            # Signed with another secret: error 101, then disconnect 4002, do not reconnect.
            (hs256({"sub": "mallory"}, secret="another secret, long enough"), 101, 4002, False),
        ]
        for token, error, code, reconnect in refusals:
            async with protocol_client(address) as client:
                reply = await client.call("connect", {"token": token})
                assert reply["error"]["code"] == error, reply
                push = await client.push("disconnect")
                assert (push["code"], push["reconnect"]) == (code, reconnect), push
                assert isinstance(push["reason"], str), push
                # The close frame that follows carries the same code.
                try:
                    frame = await client.frame()
                except ConnectionClosed as closed:
                    assert closed.rcvd is not None and closed.rcvd.code == code, closed
                else:
                    raise AssertionError(f"a frame after the disconnect push: {frame}")

    run(scenario())
