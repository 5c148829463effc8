//! Idle mode: hold the connections open and quiet until the end of the run, so the server's
//! memory per connection can be read off (its RSS divided by the connections held).

use switchboard::{CloseCode, Message};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::echo::CountedWs;
use super::Plan;

/// Holds a WebSocket until `plan.end`, answering the server's pings (receiving drives the
/// replies). Fails if the server closes it or it breaks first.
pub(crate) async fn websocket(mut ws: CountedWs, plan: Plan) -> Result<(), String> {
    let deadline = tokio::time::sleep_until(plan.end.into());
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            biased;
            () = &mut deadline => break,
            received = ws.recv() => match received {
                Some(Ok(Message::Close(frame))) => {
                    return Err(format!("the server closed the connection: {frame:?}"))
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(format!("connection failed: {e}")),
                None => return Err("the server closed the connection".into()),
            },
        }
    }
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        ws.close(CloseCode::NORMAL_CLOSURE, ""),
    )
    .await;
    Ok(())
}

/// Holds a raw TCP connection until `plan.end`. Fails if the server closes it first.
pub(crate) async fn raw_tcp(mut stream: TcpStream, plan: Plan) -> Result<(), String> {
    let mut scratch = [0; 64];
    let deadline = tokio::time::sleep_until(plan.end.into());
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            biased;
            () = &mut deadline => return Ok(()),
            read = stream.read(&mut scratch) => match read {
                Ok(0) => return Err("the server closed the connection".into()),
                Ok(_) => {}
                Err(e) => return Err(format!("connection failed: {e}")),
            },
        }
    }
}
