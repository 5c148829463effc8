//! `switchboard serve` on Redis: several nodes acting as one hub. Each test starts its own
//! `redis-server` on a free loopback port in a temporary directory (never a shared or system
//! instance) and its own nodes on 127.0.0.1:0, then breaks things on purpose: a node killed,
//! Redis restarted empty, Redis stopped.
//!
//! `scripts/test.sh` installs `redis-server` (Debian package) when it is missing; run by hand
//! without it, these tests say so and pass only outside CI.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::hub::{rand_u64, timeout, Proto, Serve};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

const API_KEY: &str = "k";

/// A `redis-server` of the test's own; killed when dropped.
struct Redis {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    persistent: bool,
}

impl Redis {
    /// Starts one without persistence (a restart loses everything), or `None` when
    /// `redis-server` is not installed and this is not CI.
    async fn start(persistent: bool) -> Option<Self> {
        let installed = std::process::Command::new("redis-server")
            .arg("--version")
            .output()
            .is_ok();
        if !installed {
            assert!(
                std::env::var_os("CI").is_none(),
                "redis-server is not installed (scripts/test.sh installs it)"
            );
            eprintln!("skipped: redis-server is not installed (apt-get install redis-server)");
            return None;
        }
        let dir = std::env::temp_dir().join(format!("switchboard-redis-{:x}", rand_u64()));
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let mut redis = Self {
            child: None,
            port,
            dir,
            persistent,
        };
        redis.restart().await;
        Some(redis)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// (Re)starts the server on the same port and waits until it answers.
    async fn restart(&mut self) {
        let persistence: &[&str] = if self.persistent {
            &["--appendonly", "yes", "--appendfsync", "always"]
        } else {
            &["--appendonly", "no"]
        };
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--daemonize", "no", "--protected-mode", "yes"])
            .args(persistence)
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        self.child = Some(child);
        timeout(async {
            while !self.answers().await {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }

    async fn answers(&self) -> bool {
        let Ok(mut tcp) = TcpStream::connect(("127.0.0.1", self.port)).await else {
            return false;
        };
        let mut reply = [0u8; 7];
        tcp.write_all(b"PING\r\n").await.is_ok()
            && tcp.read_exact(&mut reply).await.is_ok()
            && &reply == b"+PONG\r\n"
    }

    /// Sends one command in RESP and returns the first line of the reply.
    async fn command(&self, words: &[&str]) -> String {
        let mut tcp = TcpStream::connect(("127.0.0.1", self.port)).await.unwrap();
        let mut request = format!("*{}\r\n", words.len());
        for word in words {
            request.push_str(&format!("${}\r\n{word}\r\n", word.len()));
        }
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut reply = vec![0u8; 256];
        let n = timeout(tcp.read(&mut reply)).await.unwrap();
        String::from_utf8_lossy(&reply[..n]).trim_end().to_owned()
    }

    /// Kills the server (SIGKILL) and waits for it to be gone.
    async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.start_kill().unwrap();
            timeout(child.wait()).await.unwrap();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A loopback port nobody listens on now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A node on `redis`, with the API on, presence entries that outlive a dead node by 2 s,
/// and Redis operations that give up after 500 ms.
async fn node(redis: &Redis) -> Serve {
    let config = format!(
        "api_key = \"{API_KEY}\"\n[engine]\nredis = [\"{}\"]\npresence_ttl_secs = 2\nredis_timeout_ms = 500\n",
        redis.url()
    );
    let serve = Serve::start(&config).await;
    wait_healthy(&serve).await;
    serve
}

async fn health(serve: &Serve) -> (u16, Value) {
    let (status, body) = serve.get("/health").await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

async fn wait_healthy(serve: &Serve) {
    timeout(async {
        while health(serve).await.0 != 200 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

async fn publish(serve: &Serve, channel: &str, data: Value) -> (u16, Value) {
    let body = json!({"channel": channel, "data": data}).to_string();
    serve.api("publish", Some(API_KEY), &body).await
}

/// Publishes `data` and returns its offset.
async fn published(serve: &Serve, channel: &str, data: Value) -> u64 {
    let (status, reply) = publish(serve, channel, data).await;
    assert_eq!(status, 200, "{reply}");
    reply["result"]["offset"].as_u64().unwrap()
}

async fn presence_ids(serve: &Serve, channel: &str) -> Vec<String> {
    let body = json!({ "channel": channel }).to_string();
    let (status, reply) = serve.api("presence", Some(API_KEY), &body).await;
    assert_eq!(status, 200, "{reply}");
    let mut ids: Vec<String> = reply["result"]["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// The next `n` publications: (offset, data.i).
async fn next_publications(client: &mut Proto, n: usize) -> Vec<(u64, u64)> {
    let mut got = Vec::new();
    for _ in 0..n {
        let push = client.publication().await;
        got.push((
            push["offset"].as_u64().unwrap(),
            push["data"]["i"].as_u64().unwrap(),
        ));
    }
    got
}

#[tokio::test]
async fn publications_on_one_node_reach_subscribers_on_every_node_in_order() {
    let Some(redis) = Redis::start(false).await else {
        return;
    };
    let (one, two, three) = (node(&redis).await, node(&redis).await, node(&redis).await);
    let mut on_two = two.connected(None).await;
    let mut on_three = three.connected(None).await;
    for client in [&mut on_two, &mut on_three] {
        let result = client.subscribe("news").await;
        assert_eq!(result["offset"], 0, "{result}");
    }
    // A plain room on node 3, fed by a client publishing on node 1.
    let mut plain = three.plain("lobby").await;

    for i in 0..20 {
        assert_eq!(published(&one, "news", json!({ "i": i })).await, i + 1);
    }
    let expected: Vec<(u64, u64)> = (0..20).map(|i| (i + 1, i)).collect();
    assert_eq!(next_publications(&mut on_two, 20).await, expected);
    assert_eq!(next_publications(&mut on_three, 20).await, expected);

    let mut publisher = one.connected(None).await;
    let reply = publisher
        .call(
            "publish",
            json!({"channel": "lobby", "data": {"text": "hi"}}),
        )
        .await;
    assert!(reply.get("result").is_some(), "{reply}");
    let message = common::hub::recv(&mut plain).await;
    assert_eq!(
        message,
        switchboard::Message::text(r#"{"text":"hi"}"#),
        "plain rooms get the data as published"
    );

    // Presence and history are the same from every node.
    let everyone = presence_ids(&one, "news").await;
    assert_eq!(everyone.len(), 2, "{everyone:?}");
    assert_eq!(presence_ids(&two, "news").await, everyone);
    let body = json!({"channel": "news", "limit": 5}).to_string();
    let (status, history) = three.api("history", Some(API_KEY), &body).await;
    assert_eq!(status, 200, "{history}");
    let offsets: Vec<u64> = history["result"]["publications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets, [16, 17, 18, 19, 20]);

    // The API's disconnect reaches the user's connections on every node (anonymous
    // connections are the user "").
    let (status, reply) = one.api("disconnect", Some(API_KEY), r#"{"user":""}"#).await;
    assert_eq!(status, 200, "{reply}");
    for client in [&mut on_two, &mut on_three] {
        let push = client.disconnect_push().await;
        assert_eq!(
            (push["code"].clone(), push["reconnect"].clone()),
            (json!(4005), json!(false))
        );
    }
}

#[tokio::test]
async fn clients_of_a_killed_node_recover_on_another_and_its_presence_expires() {
    let Some(redis) = Redis::start(false).await else {
        return;
    };
    let (one, mut two, three) = (node(&redis).await, node(&redis).await, node(&redis).await);
    let mut client = two.connected(None).await;
    let epoch = client.subscribe("feed").await["epoch"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut watcher = three.connected(None).await;
    watcher.subscribe("feed").await;
    for i in 0..3 {
        published(&one, "feed", json!({ "i": i })).await;
    }
    let seen = next_publications(&mut client, 3).await;
    assert_eq!(presence_ids(&one, "feed").await.len(), 2);

    two.kill().await;
    assert!(client.frame().await.is_none(), "node 2 is gone");
    for i in 3..8 {
        published(&one, "feed", json!({ "i": i })).await;
    }

    // The client comes back on node 3 and asks for what followed offset 3.
    let mut again = three.connected(None).await;
    let reply = again
        .call(
            "subscribe",
            json!({"channel": "feed", "recover": true, "offset": seen[2].0, "epoch": epoch}),
        )
        .await;
    let result = &reply["result"];
    assert_eq!(result["recovered"], true, "{reply}");
    let missed: Vec<u64> = result["publications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["data"]["i"].as_u64().unwrap())
        .collect();
    assert_eq!(missed, [3, 4, 5, 6, 7], "exactly what was missed, in order");
    published(&one, "feed", json!({"i": 8})).await;
    assert_eq!(
        next_publications(&mut again, 1).await,
        [(9, 8)],
        "then live"
    );

    // Node 2's entry stops being refreshed and expires (TTL 2 s); the others stay.
    timeout(async {
        while presence_ids(&one, "feed").await.len() != 2 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert_eq!(next_publications(&mut watcher, 9).await.len(), 9);
}

#[tokio::test]
async fn after_redis_restarts_empty_clients_are_told_their_position_is_lost() {
    let Some(mut redis) = Redis::start(false).await else {
        return;
    };
    let (one, two) = (node(&redis).await, node(&redis).await);
    let mut client = two.connected(None).await;
    let subscribed = client.subscribe("feed").await;
    let epoch = subscribed["epoch"].as_str().unwrap().to_owned();
    for i in 0..3 {
        published(&one, "feed", json!({ "i": i })).await;
    }
    assert_eq!(next_publications(&mut client, 3).await.len(), 3);

    redis.stop().await;
    redis.restart().await;
    wait_healthy(&one).await;
    wait_healthy(&two).await;

    // Node 2 finds the stream in a new epoch and tells its subscriber so.
    let push = client.disconnect_push().await;
    assert_eq!(
        (push["code"].clone(), push["reconnect"].clone()),
        (json!(4006), json!(true))
    );
    let mut again = one.connected(None).await;
    let reply = again
        .call(
            "subscribe",
            json!({"channel": "feed", "recover": true, "offset": 3, "epoch": epoch}),
        )
        .await;
    assert_eq!(reply["result"]["recovered"], false, "{reply}");
    assert_ne!(reply["result"]["epoch"], json!(epoch), "{reply}");
    assert_eq!(published(&two, "feed", json!({"i": 100})).await, 1);
    assert_eq!(next_publications(&mut again, 1).await, [(1, 100)]);
}

#[tokio::test]
async fn while_redis_is_down_publishes_fail_loudly_and_subscriptions_come_back() {
    // Persistent, so that a stop is an outage and not a loss.
    let Some(mut redis) = Redis::start(true).await else {
        return;
    };
    let (one, two) = (node(&redis).await, node(&redis).await);
    let mut subscriber = two.connected(None).await;
    subscriber.subscribe("feed").await;
    let mut publisher = one.connected(None).await;
    assert_eq!(published(&one, "feed", json!({"i": 0})).await, 1);
    assert_eq!(next_publications(&mut subscriber, 1).await, [(1, 0)]);

    redis.stop().await;
    let (status, reply) = publish(&one, "feed", json!({"i": 1})).await;
    assert_eq!(status, 503, "{reply}");
    let reply = publisher
        .call("publish", json!({"channel": "feed", "data": {"i": 2}}))
        .await;
    assert_eq!(reply["error"]["code"], 108, "{reply}");
    let (status, body) = timeout(async {
        loop {
            let (status, body) = health(&one).await;
            if status == 503 {
                return (status, body);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(status, 503);
    assert_eq!(body["engine"]["healthy"], false, "{body}");
    let (_, metrics) = one.get("/metrics").await;
    assert!(metrics.contains("switchboard_engine_up 0"), "{metrics}");

    // Back: the nodes reconnect and resubscribe; the subscriber, still connected, gets the
    // next publication, and history holds only what was acknowledged.
    redis.restart().await;
    wait_healthy(&one).await;
    wait_healthy(&two).await;
    assert_eq!(published(&one, "feed", json!({"i": 3})).await, 2);
    assert_eq!(next_publications(&mut subscriber, 1).await, [(2, 3)]);
    let body = json!({"channel": "feed", "limit": 10}).to_string();
    let (_, history) = one.api("history", Some(API_KEY), &body).await;
    let kept: Vec<u64> = history["result"]["publications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["data"]["i"].as_u64().unwrap())
        .collect();
    assert_eq!(kept, [0, 3], "{history}");
}

#[tokio::test]
async fn a_node_that_loses_its_pubsub_connection_fills_the_gap_from_history() {
    let Some(redis) = Redis::start(false).await else {
        return;
    };
    let (one, two) = (node(&redis).await, node(&redis).await);
    let mut subscriber = two.connected(None).await;
    subscriber.subscribe("feed").await;
    assert_eq!(published(&one, "feed", json!({"i": 0})).await, 1);
    assert_eq!(next_publications(&mut subscriber, 1).await, [(1, 0)]);

    // Redis drops every pub/sub connection; publications go on meanwhile.
    let killed = redis.command(&["CLIENT", "KILL", "TYPE", "pubsub"]).await;
    assert!(killed.starts_with(':'), "{killed}");
    for i in 1..50 {
        published(&one, "feed", json!({ "i": i })).await;
    }
    // Each exactly once, in order, whether it came live or from history after the node
    // resubscribed; and the subscriber was never told to reconnect.
    let expected: Vec<(u64, u64)> = (1..50).map(|i| (i + 1, i)).collect();
    assert_eq!(next_publications(&mut subscriber, 49).await, expected);
    assert!(subscriber.pushes.iter().all(|p| p["push"] != "disconnect"));
    let (_, metrics) = two.get("/metrics").await;
    assert!(
        metrics.contains("switchboard_engine_reconnects_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("switchboard_engine_streams_lost_total 0"),
        "{metrics}"
    );
}
