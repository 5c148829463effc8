//! `--exec CMD`: a program's stdout lines become messages and received messages become lines
//! on its stdin, as websocat's `cmd:`/`sh-c:` do.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command as Process};
use tokio::sync::mpsc;

use super::command::Command;
use super::output::Output;
use switchboard::Message;

/// Starts `sh -c CMD` (stderr passes through). The source ends when its stdout closes, which
/// closes the connection normally. The child is killed if it outlives the connection.
pub(crate) fn start(
    cmd: &str,
    binary: bool,
) -> Result<(mpsc::Receiver<Command>, Output, Child), String> {
    let mut child = Process::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(format!("cannot run {cmd:?}: no pipes"));
    };
    Ok((lines(stdout, binary), Output::Lines(Box::new(stdin)), child))
}

/// Each line of `input` (without its newline) as a message; the channel closes at its end.
pub(crate) fn lines<R>(input: R, binary: bool) -> mpsc::Receiver<Command>
where
    R: AsyncRead + Send + Unpin + 'static,
{
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let mut lines = BufReader::new(input).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let message = match binary {
                true => Message::binary(line.into_bytes()),
                false => Message::text(line),
            };
            if tx.send(Command::Send(message)).await.is_err() {
                break;
            }
        }
    });
    rx
}
