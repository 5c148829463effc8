//! `switchboard serve` processes and a `switchboard.v1.json` client for the hub's end-to-end
//! tests: each test starts its own servers on 127.0.0.1:0, with their own configuration.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use switchboard::{ClientBuilder, MaybeTlsStream, Message, WebSocket};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Child;

use super::switchboard;

/// Bounds every wait: a test that hangs fails instead.
pub const BOUND: Duration = Duration::from_secs(20);

pub type Ws = WebSocket<MaybeTlsStream>;

/// A `switchboard serve` process with its own configuration file; killed when dropped.
pub struct Serve {
    pub child: Child,
    pub addr: String,
    dir: PathBuf,
}

impl Serve {
    pub async fn start(config: &str) -> Self {
        Self::start_with(config, &[]).await
    }

    /// Starts one with extra command-line arguments.
    pub async fn start_with(config: &str, args: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "switchboard-serve-{}-{:x}",
            std::process::id(),
            rand_u64()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("switchboard.toml");
        std::fs::write(&path, config).unwrap();
        let mut child = switchboard()
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&path)
            .args(args)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(BOUND, lines.next_line())
            .await
            .expect("serve did not start in time")
            .unwrap()
            .unwrap_or_default();
        let addr = first
            .strip_prefix("switchboard serve: listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line: {first:?}"))
            .to_owned();
        Self { child, addr, dir }
    }

    pub async fn plain(&self, channel: &str) -> Ws {
        let url = format!("ws://{}/ws/{channel}", self.addr);
        let (ws, _) = timeout(switchboard::connect(&url)).await.unwrap();
        ws
    }

    pub async fn protocol(&self, path: &str) -> Proto {
        self.protocol_with(path, None).await
    }

    pub async fn protocol_with(&self, path: &str, extra_subprotocol: Option<&str>) -> Proto {
        let mut builder = ClientBuilder::new(format!("ws://{}{path}", self.addr))
            .subprotocol("switchboard.v1.json");
        if let Some(extra) = extra_subprotocol {
            builder = builder.subprotocol(extra);
        }
        let (ws, response) = timeout(builder.connect()).await.unwrap();
        let selected = response
            .headers()
            .get("sec-websocket-protocol")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(selected.as_deref(), Some("switchboard.v1.json"));
        Proto {
            ws,
            next_id: 0,
            pushes: VecDeque::new(),
        }
    }

    /// A connected protocol client (anonymous unless `token`).
    pub async fn connected(&self, token: Option<&str>) -> Proto {
        let mut client = self.protocol("/ws").await;
        let params = match token {
            Some(token) => json!({"token": token}),
            None => json!({}),
        };
        let reply = client.call("connect", params).await;
        assert!(reply.get("result").is_some(), "{reply}");
        client
    }

    pub async fn api(&self, method: &str, key: Option<&str>, body: &str) -> (u16, Value) {
        let mut headers = String::new();
        if let Some(key) = key {
            headers = format!("Authorization: apikey {key}\r\n");
        }
        let (status, body) = http(
            &self.addr,
            &format!(
                "POST /api/{method} HTTP/1.1\r\nHost: x\r\n{headers}Content-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        )
        .await;
        let json = serde_json::from_str(&body).unwrap_or(Value::Null);
        (status, json)
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        http(
            &self.addr,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        )
        .await
    }

    /// Ends the process at once (SIGKILL): no goodbye to its clients, no clean-up in Redis.
    pub async fn kill(&mut self) {
        self.child.start_kill().unwrap();
        timeout(self.child.wait()).await.unwrap();
    }

    pub fn terminate(&self) {
        let pid = self.child.id().unwrap().to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn rand_u64() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
}

pub async fn timeout<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(BOUND, future)
        .await
        .expect("timed out")
}

/// One HTTP/1.1 exchange on a fresh connection: (status, body).
pub async fn http(addr: &str, request: &str) -> (u16, String) {
    timeout(async {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        tcp.read_to_end(&mut response).await.unwrap();
        let response = String::from_utf8_lossy(&response).into_owned();
        let status = response[9..12].parse().unwrap();
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default();
        (status, body)
    })
    .await
}

/// A `switchboard.v1.json` client: commands with ids, pushes kept until asked for.
pub struct Proto {
    pub ws: Ws,
    next_id: u32,
    pub pushes: VecDeque<Value>,
}

impl Proto {
    pub async fn send_raw(&mut self, frame: Value) {
        timeout(self.ws.send(Message::text(frame.to_string())))
            .await
            .unwrap();
    }

    /// The next frame as JSON; `None` when the connection closes.
    pub async fn frame(&mut self) -> Option<Value> {
        loop {
            match timeout(self.ws.recv()).await {
                Some(Ok(Message::Text(text))) => {
                    return Some(serde_json::from_str(text.as_str()).unwrap())
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    /// Sends a command and returns its reply; pushes that arrive first are kept.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send_raw(json!({"id": id, "method": method, "params": params}))
            .await;
        loop {
            let frame = self
                .frame()
                .await
                .expect("closed while waiting for a reply");
            if frame.get("push").is_some() {
                self.pushes.push_back(frame);
            } else {
                assert_eq!(frame["id"], id, "{frame}");
                return frame;
            }
        }
    }

    pub async fn push(&mut self) -> Value {
        match self.pushes.pop_front() {
            Some(push) => push,
            None => self.frame().await.expect("closed while waiting for a push"),
        }
    }

    /// The next publication push, skipping joins and leaves.
    pub async fn publication(&mut self) -> Value {
        loop {
            let push = self.push().await;
            if push["push"] == "publication" {
                return push;
            }
        }
    }

    /// The `disconnect` push, skipping joins, leaves and publications before it.
    pub async fn disconnect_push(&mut self) -> Value {
        loop {
            let push = self.push().await;
            if push["push"] == "disconnect" {
                return push;
            }
        }
    }

    pub async fn subscribe(&mut self, channel: &str) -> Value {
        let reply = self.call("subscribe", json!({"channel": channel})).await;
        reply["result"].clone()
    }
}

pub async fn recv(ws: &mut Ws) -> Message {
    timeout(ws.recv()).await.unwrap().unwrap()
}
