//! A plain TCP echo: every byte goes back as it came, with no framing at all. The ceiling of
//! what this machine's loopback and `switchboard bench --raw-tcp` can do, against which the
//! WebSocket servers' overhead shows.

use std::process::ExitCode;

use switchboard_bench_peers::{run, Options};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const NAME: &str = "raw-tcp-echo";

/// Read buffer per connection: one 64 KiB message in one read.
const BUFFER: usize = 64 << 10;

fn main() -> ExitCode {
    let options = Options::from_args(NAME, false);
    run(NAME, &options, serve)
}

async fn serve(mut stream: TcpStream) {
    // The buffer comes with the first bytes, so an idle connection costs only its task.
    if stream.readable().await.is_err() {
        return;
    }
    let mut buffer = vec![0; BUFFER];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buffer[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}
