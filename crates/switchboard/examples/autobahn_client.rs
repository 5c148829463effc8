//! The Autobahn TestSuite client driver: runs every case of a `wstest -m fuzzingserver`
//! against this library's client, echoing each message, then asks for the reports.
//!
//! Run by `tests/autobahn/run-client-tests.sh`, which sets `AUTOBAHN_URL` and
//! `AUTOBAHN_AGENT`.

use switchboard::proto::handshake::{parse_url, ClientOptions};
use switchboard::{client_handshake, Message, WebSocketConfig};
use tokio::net::TcpStream;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = std::env::var("AUTOBAHN_URL").unwrap_or_else(|_| "ws://127.0.0.1:9001".into());
    let agent = std::env::var("AUTOBAHN_AGENT").unwrap_or_else(|_| "switchboard".into());
    let count: u32 = match get_text(&format!("{base}/getCaseCount")).await? {
        Some(text) => text.trim().parse()?,
        None => return Err("no case count".into()),
    };
    for case in 1..=count {
        if let Err(e) = run_case(&format!("{base}/runCase?case={case}&agent={agent}")).await {
            eprintln!("case {case}: {e}");
        }
    }
    run_case(&format!("{base}/updateReports?agent={agent}")).await?;
    Ok(())
}

fn config() -> WebSocketConfig {
    let mut config = WebSocketConfig::default();
    // The suite's limits cases (9.*) send messages of up to 16 MiB.
    config.protocol.limits.max_message_size = 64 << 20;
    config.protocol.limits.max_frame_size = 64 << 20;
    config
}

async fn connect(url: &str) -> switchboard::Result<switchboard::WebSocket<TcpStream>> {
    let uri = parse_url(url)?;
    let host = uri.host().unwrap_or("127.0.0.1").to_owned();
    let stream = TcpStream::connect((host.as_str(), uri.port_u16().unwrap_or(80))).await?;
    stream.set_nodelay(true)?;
    let (ws, _) = client_handshake(stream, &uri, ClientOptions::default(), &config()).await?;
    Ok(ws)
}

async fn get_text(url: &str) -> switchboard::Result<Option<String>> {
    let mut ws = connect(url).await?;
    let mut text = None;
    while let Some(message) = ws.recv().await {
        if let Message::Text(t) = message? {
            text = Some(t.as_str().to_owned());
        }
    }
    Ok(text)
}

async fn run_case(url: &str) -> switchboard::Result<()> {
    let mut ws = connect(url).await?;
    while let Some(message) = ws.recv().await {
        let message = message?;
        if message.is_data() {
            ws.send(message).await?;
        }
    }
    Ok(())
}
