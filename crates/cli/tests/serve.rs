//! `switchboard serve` end to end, with our own client library: plain rooms, many channels on
//! one connection, recovery after a dropped connection, auth, the HTTP API, a slow consumer,
//! and graceful shutdown. Each test starts its own server on 127.0.0.1:0.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::hub::{recv, timeout, Serve};
use serde_json::json;
use switchboard::Message;
use switchboard_hub::jwt::Claims;

const SECRET: &str = "a test secret that is long enough for HS256";

fn token(claims: Claims) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn plain_rooms_pass_messages_as_they_are_and_meet_the_protocol() {
    let serve = Serve::start("").await;
    let mut alice = serve.plain("lobby").await;
    let mut bob = serve.plain("lobby").await;
    let mut app = serve.connected(None).await;
    app.subscribe("lobby").await;

    alice.send(Message::text("hello")).await.unwrap();
    assert_eq!(recv(&mut bob).await, Message::text("hello"));
    assert_eq!(
        recv(&mut alice).await,
        Message::text("hello"),
        "the sender too"
    );
    let publication = app.publication().await;
    assert_eq!(publication["data"], "hello", "{publication}");

    bob.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(recv(&mut alice).await, Message::binary(vec![1u8, 2, 3]));
    let publication = app.publication().await;
    assert_eq!(publication["data"], "AQID");
    assert_eq!(publication["binary"], true);

    alice.send(Message::text(r#"{"n":1}"#)).await.unwrap();
    assert_eq!(app.publication().await["data"], json!({"n": 1}));

    let reply = app
        .call(
            "publish",
            json!({"channel": "lobby", "data": {"text": "from the app"}}),
        )
        .await;
    assert!(reply["result"]["offset"].is_u64(), "{reply}");
    // Plain clients get the JSON text of what the app published.
    for ws in [&mut alice, &mut bob] {
        let mut message = recv(ws).await;
        while message != Message::text(r#"{"text":"from the app"}"#) {
            // The earlier messages of this test, still queued for this client.
            message = recv(ws).await;
        }
    }
}

#[tokio::test]
async fn many_channels_share_one_connection_each_in_order() {
    let serve = Serve::start("api_key = \"k\"").await;
    let mut client = serve.connected(None).await;
    for channel in ["a", "b", "chat:c"] {
        let result = client.subscribe(channel).await;
        assert_eq!(result["offset"], 0, "{result}");
    }
    for i in 0..5 {
        for channel in ["a", "b", "chat:c"] {
            let body = json!({"channel": channel, "data": {"i": i}}).to_string();
            let (status, reply) = serve.api("publish", Some("k"), &body).await;
            assert_eq!(status, 200, "{reply}");
        }
    }
    let mut seen: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    for _ in 0..15 {
        let publication = client.publication().await;
        let channel = publication["channel"].as_str().unwrap().to_owned();
        let offset = publication["offset"].as_u64().unwrap();
        assert_eq!(publication["data"]["i"], offset - 1, "{publication}");
        seen.entry(channel).or_default().push(offset);
    }
    for channel in ["a", "b", "chat:c"] {
        assert_eq!(seen[channel], [1, 2, 3, 4, 5], "{channel}");
    }
}

#[tokio::test]
async fn a_client_that_drops_recovers_exactly_what_it_missed() {
    let serve = Serve::start("api_key = \"k\"").await;
    let publish = |i: u64| {
        let body = json!({"channel": "news", "data": {"i": i}}).to_string();
        let serve = &serve;
        async move {
            let (status, reply) = serve.api("publish", Some("k"), &body).await;
            assert_eq!(status, 200, "{reply}");
            reply["result"]["offset"].as_u64().unwrap()
        }
    };
    let mut first = serve.connected(None).await;
    let subscribed = first.subscribe("news").await;
    let epoch = subscribed["epoch"].as_str().unwrap().to_owned();
    for i in 1..=3 {
        publish(i).await;
        assert_eq!(first.publication().await["offset"], i);
    }
    // Gone without a close frame, like a phone losing its network.
    drop(first);
    for i in 4..=7 {
        assert_eq!(publish(i).await, i);
    }

    let mut again = serve.connected(None).await;
    let reply = again
        .call(
            "subscribe",
            json!({"channel": "news", "recover": true, "offset": 3, "epoch": epoch}),
        )
        .await;
    let result = &reply["result"];
    assert_eq!(result["recovering"], true, "{reply}");
    assert_eq!(result["recovered"], true, "{reply}");
    assert_eq!(result["epoch"], epoch.as_str());
    assert_eq!(result["offset"], 7);
    let offsets: Vec<u64> = result["publications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets, [4, 5, 6, 7]);
    // Then the live stream, from the next offset: no gap, no duplicate.
    publish(8).await;
    assert_eq!(again.publication().await["offset"], 8);

    // A position from another epoch cannot be continued from, and says so.
    let mut stranger = serve.connected(None).await;
    let reply = stranger
        .call(
            "subscribe",
            json!({"channel": "news", "recover": true, "offset": 3, "epoch": "0000000000000000"}),
        )
        .await;
    assert_eq!(reply["result"]["recovering"], true, "{reply}");
    assert_eq!(reply["result"]["recovered"], false, "{reply}");
    assert_eq!(reply["result"]["publications"], json!([]));
    assert_eq!(reply["result"]["offset"], 8);
}

const AUTH_CONFIG: &str = r#"
[jwt]
hmac_secret = "a test secret that is long enough for HS256"

[namespaces.private]
allow_anonymous = false
allow_subscribe = false
"#;

#[tokio::test]
async fn tokens_are_accepted_refused_or_expired() {
    let serve = Serve::start(AUTH_CONFIG).await;
    let alice = token(Claims {
        sub: "alice".into(),
        exp: Some(unix_now() + 3600),
        channels: vec!["private:alice".into()],
        ..Claims::default()
    });

    let mut client = serve.protocol("/ws").await;
    let reply = client.call("connect", json!({"token": alice})).await;
    assert_eq!(reply["result"]["user"], "alice", "{reply}");
    assert!(client.subscribe("private:alice").await["epoch"].is_string());
    let refused = client
        .call("subscribe", json!({"channel": "private:bob"}))
        .await;
    assert_eq!(refused["error"]["code"], 103, "{refused}");

    let mut anonymous = serve.connected(None).await;
    let refused = anonymous
        .call("subscribe", json!({"channel": "private:alice"}))
        .await;
    assert_eq!(refused["error"]["code"], 103, "{refused}");

    // Forged: signed with another secret.
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &Claims {
            sub: "mallory".into(),
            ..Claims::default()
        },
        &jsonwebtoken::EncodingKey::from_secret(b"another secret, also long enough to sign"),
    )
    .unwrap();
    let mut client = serve.protocol("/ws").await;
    let reply = client.call("connect", json!({"token": forged})).await;
    assert_eq!(reply["error"]["code"], 101, "{reply}");
    let push = client.disconnect_push().await;
    assert_eq!(push["code"], 4002);
    assert_eq!(push["reconnect"], false);
    assert!(client.frame().await.is_none(), "closed after the push");

    let expired = token(Claims {
        sub: "alice".into(),
        exp: Some(unix_now() - 3600),
        ..Claims::default()
    });
    let mut client = serve.protocol("/ws").await;
    let reply = client.call("connect", json!({"token": expired})).await;
    assert_eq!(reply["error"]["code"], 109, "{reply}");
    let push = client.disconnect_push().await;
    assert_eq!(
        (push["code"].clone(), push["reconnect"].clone()),
        (json!(4003), json!(true))
    );
}

#[tokio::test]
async fn tokens_can_come_in_the_query_string_or_a_subprotocol() {
    let serve = Serve::start(AUTH_CONFIG).await;
    let bob = token(Claims {
        sub: "bob".into(),
        ..Claims::default()
    });
    let mut by_query = serve.protocol(&format!("/ws?token={bob}")).await;
    let reply = by_query.call("connect", json!({})).await;
    assert_eq!(reply["result"]["user"], "bob", "{reply}");

    let subprotocol = format!("token.{bob}");
    let mut by_subprotocol = serve.protocol_with("/ws", Some(&subprotocol)).await;
    let reply = by_subprotocol.call("connect", json!({})).await;
    assert_eq!(reply["result"]["user"], "bob", "{reply}");
}

#[tokio::test]
async fn the_http_api_publishes_answers_and_refuses_clearly() {
    let serve = Serve::start("api_key = \"k\"").await;
    let mut reader = serve.protocol("/ws").await;
    let reply = reader
        .call("connect", json!({"info": {"name": "Reader"}}))
        .await;
    assert!(reply["result"]["client"].is_string());
    reader.subscribe("chat:room").await;

    let (status, reply) = serve
        .api(
            "publish",
            Some("k"),
            r#"{"channel":"chat:room","data":{"text":"hi"}}"#,
        )
        .await;
    assert_eq!(
        (status, reply["result"]["offset"].clone()),
        (200, json!(1)),
        "{reply}"
    );
    let publication = reader.publication().await;
    assert_eq!(publication["data"], json!({"text": "hi"}));
    assert!(publication.get("info").is_none(), "the server published it");

    let (status, reply) = serve
        .api(
            "broadcast",
            Some("k"),
            r#"{"channels":["chat:room","other"],"data":2}"#,
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["result"]["responses"].as_array().unwrap().len(), 2);
    assert_eq!(reader.publication().await["data"], 2);

    let (status, reply) = serve
        .api("presence", Some("k"), r#"{"channel":"chat:room"}"#)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        reply["result"]["clients"][0]["info"]["name"], "Reader",
        "{reply}"
    );
    let (_, reply) = serve
        .api(
            "history",
            Some("k"),
            r#"{"channel":"chat:room","limit":10}"#,
        )
        .await;
    assert_eq!(
        reply["result"]["publications"].as_array().unwrap().len(),
        2,
        "{reply}"
    );
    let (status, reply) = serve.api("info", Some("k"), "{}").await;
    assert_eq!(status, 200);
    assert_eq!(reply["result"]["clients"], 1, "{reply}");

    let table: &[(&str, Option<&str>, &str, u16, u64)] = &[
        ("publish", None, "{}", 401, 101),
        ("publish", Some("wrong"), "{}", 401, 101),
        ("publish", Some("k"), "{not json", 400, 107),
        (
            "publish",
            Some("k"),
            r#"{"channel":"bad name","data":1}"#,
            400,
            107,
        ),
        (
            "publish",
            Some("k"),
            r#"{"channel":"nowhere:x","data":1}"#,
            404,
            102,
        ),
        ("subscribe", Some("k"), "{}", 404, 104),
    ];
    for &(method, key, body, status, code) in table {
        let (got, reply) = serve.api(method, key, body).await;
        assert_eq!(
            (got, reply["error"]["code"].as_u64()),
            (status, Some(code)),
            "{method} {body}: {reply}"
        );
        assert!(reply["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }

    // `disconnect` ends every connection of a user (anonymous users have the empty id).
    let (status, reply) = serve.api("disconnect", Some("k"), r#"{"user":""}"#).await;
    assert_eq!(
        (status, reply["result"]["disconnected"].clone()),
        (200, json!(1)),
        "{reply}"
    );
    let push = reader.disconnect_push().await;
    assert_eq!(
        (push["code"].clone(), push["reconnect"].clone()),
        (json!(4005), json!(false))
    );
}

#[tokio::test]
async fn the_api_is_off_without_a_key() {
    let serve = Serve::start("").await;
    let (status, reply) = serve.api("info", Some("anything"), "{}").await;
    assert_eq!(status, 403, "{reply}");
    assert!(reply["error"]["message"]
        .as_str()
        .unwrap()
        .contains("api_key"));
}

#[tokio::test]
async fn a_slow_consumer_is_disconnected_and_the_others_keep_receiving() {
    let serve = Serve::start("api_key = \"k\"\n[limits]\noutbox_messages = 16\n").await;
    let mut slow = serve.connected(None).await;
    slow.subscribe("feed").await;
    let mut fast = serve.connected(None).await;
    fast.subscribe("feed").await;

    const COUNT: u64 = 200;
    let payload = "x".repeat(64 << 10);
    let publisher = async {
        for i in 0..COUNT {
            let body = json!({"channel": "feed", "data": {"i": i, "pad": payload}}).to_string();
            let (status, reply) = serve.api("publish", Some("k"), &body).await;
            assert_eq!(status, 200, "{reply}");
        }
    };
    let reader = async {
        for expected in 1..=COUNT {
            assert_eq!(fast.publication().await["offset"], expected);
        }
    };
    // The slow client reads nothing meanwhile; the fast one reads everything.
    tokio::time::timeout(Duration::from_secs(60), async {
        tokio::join!(publisher, reader)
    })
    .await
    .expect("publishing or reading took too long");

    // What reached the slow client before its outbox overflowed, then the disconnect.
    let mut disconnected = false;
    while let Some(frame) = slow.frame().await {
        if frame["push"] == "disconnect" {
            assert_eq!(frame["code"], 4004, "{frame}");
            assert_eq!(frame["reconnect"], true);
            disconnected = true;
        }
    }
    let close_code = slow.ws.close_code().map(|c| c.0);
    assert!(
        disconnected || close_code == Some(4004),
        "the slow client was not disconnected as slow (close {close_code:?})"
    );
    let (_, metrics) = serve.get("/metrics").await;
    assert!(
        metrics.contains("switchboard_slow_client_disconnects_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn shutdown_tells_clients_to_reconnect_elsewhere() {
    let mut serve = Serve::start("").await;
    let mut client = serve.connected(None).await;
    client.subscribe("lobby").await;
    let mut plain = serve.plain("lobby").await;
    let (status, _) = serve.get("/health").await;
    assert_eq!(status, 200);

    serve.terminate();
    let push = client.disconnect_push().await;
    assert_eq!(push["code"], 4000);
    assert_eq!(push["reconnect"], true);
    assert!(client.frame().await.is_none());
    assert_eq!(client.ws.close_code().map(|c| c.0), Some(1001));
    // Plain clients get no pushes (joins, leaves): the next message is the close.
    match recv(&mut plain).await {
        Message::Close(frame) => assert_eq!(frame.map(|f| f.code.0), Some(1001)),
        other => panic!("unexpected message {other:?}"),
    }
    let status = timeout(serve.child.wait()).await.unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn a_plain_client_is_in_its_room_once_the_handshake_completes() {
    let serve = Serve::start("api_key = \"k\"").await;
    for i in 0..20 {
        let mut ws = serve.plain("lobby").await;
        // Published the moment the handshake is done: it must arrive.
        let body = json!({"channel": "lobby", "data": {"i": i}}).to_string();
        let (status, reply) = serve.api("publish", Some("k"), &body).await;
        assert_eq!(status, 200, "{reply}");
        assert_eq!(
            recv(&mut ws).await,
            Message::text(format!(r#"{{"i":{i}}}"#))
        );
    }
}
