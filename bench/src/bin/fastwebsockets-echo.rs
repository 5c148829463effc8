//! An echo server on fastwebsockets: the upgrade through hyper (the crate's `upgrade`
//! feature), then frames read and written back one at a time, as the crate's own echo example
//! does. Fragmented messages are reassembled (`FragmentCollector`) so every message comes back
//! whole; pings and closes are answered by the library (auto-pong, auto-close).
//!
//! fastwebsockets writes each frame to the socket as it is given, so there is no batching to
//! ask for: one write per echoed message.

use std::process::ExitCode;

use fastwebsockets::{upgrade, FragmentCollector, OpCode, WebSocketError};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use switchboard_bench_peers::{run, Options};
use tokio::net::TcpStream;

const NAME: &str = "fastwebsockets-echo";

fn main() -> ExitCode {
    let options = Options::from_args(NAME, false);
    run(NAME, &options, serve)
}

async fn serve(stream: TcpStream) {
    let service = service_fn(upgrade_request);
    let connection = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    let _ = connection.await;
}

async fn upgrade_request(
    mut request: Request<Incoming>,
) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let (response, upgraded) = upgrade::upgrade(&mut request)?;
    tokio::spawn(async move {
        if let Ok(ws) = upgraded.await {
            let _ = echo(FragmentCollector::new(ws)).await;
        }
    });
    Ok(response)
}

async fn echo(
    mut ws: FragmentCollector<TokioIo<hyper::upgrade::Upgraded>>,
) -> Result<(), WebSocketError> {
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
}
