//! The loop of one connection: commands from a source (stdin, the line editor, a child
//! process, `-x`) go out; received messages go to an [`Output`]; the way it ends becomes the
//! exit code.

use std::process::ExitCode;
use std::time::Duration;

use switchboard::reconnect::{Event, Stop};
use switchboard::{CloseCode, CloseFrame, Error, Message, Reconnecting, WebSocket};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::command::Command;
use super::output::Output;
use crate::exit;

/// How a session behaves, from the flags.
#[derive(Debug, Clone, Default)]
pub(crate) struct Behaviour {
    /// Print the first text or binary message, then close (`--once`).
    pub(crate) once: bool,
    /// After the source ends, wait this long for replies before closing (`--wait`).
    pub(crate) wait: Option<Duration>,
    /// Send every received message back (`--echo`).
    pub(crate) echo: bool,
}

/// Where commands come from. `None`: nowhere (only `-x`, `--echo`); the connection stays
/// open until the server closes it or `--once` is satisfied.
pub(crate) type Source = Option<mpsc::Receiver<Command>>;

/// Runs one connection to its end.
pub(crate) async fn run<S>(
    mut ws: WebSocket<S>,
    initial: Vec<Command>,
    mut source: Source,
    mut output: Output,
    behaviour: Behaviour,
) -> ExitCode
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut state = State::default();
    for command in initial {
        if let Err(e) = state.apply(&mut ws, &output, command, true).await {
            return finish(&ws, &state, Some(e));
        }
    }
    // The source is finished with: nothing more to send after the wait.
    let mut close_at: Option<Instant> = None;
    loop {
        let reading = source.is_some() && !state.closing;
        tokio::select! {
            command = recv(&mut source), if reading => match command {
                Some(command) => {
                    // A typed data line is already on screen, after the prompt.
                    if let Err(e) = state.apply(&mut ws, &output, command, false).await {
                        return finish(&ws, &state, Some(e));
                    }
                }
                None => {
                    source = None;
                    match behaviour.wait {
                        Some(wait) => close_at = Some(Instant::now() + wait),
                        // --once waits for its message however long it takes.
                        None if behaviour.once => {}
                        None => {
                            let normal = Command::Close(CloseCode::NORMAL_CLOSURE, String::new());
                            if let Err(e) = state.apply(&mut ws, &output, normal, true).await {
                                return finish(&ws, &state, Some(e));
                            }
                        }
                    }
                }
            },
            () = sleep_until(close_at), if close_at.is_some() && !state.closing => {
                close_at = None;
                if behaviour.once && !state.got_one {
                    output.note("no message arrived within --wait");
                }
                let normal = Command::Close(CloseCode::NORMAL_CLOSURE, String::new());
                if let Err(e) = state.apply(&mut ws, &output, normal, true).await {
                    return finish(&ws, &state, Some(e));
                }
            }
            received = ws.recv() => match received {
                Some(Ok(message)) => {
                    if let Err(e) = state.received(&mut ws, &mut output, &behaviour, message).await {
                        return finish(&ws, &state, Some(e));
                    }
                }
                Some(Err(e)) => return finish(&ws, &state, Some(e)),
                None => return finish(&ws, &state, None),
            },
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// We sent a close frame: whatever code the server answers with, the close is ours.
    closing: bool,
    /// `--once` has printed its message.
    got_one: bool,
}

impl State {
    /// Sends what `command` says; `show_data` also shows a text or binary message on the
    /// screen.
    async fn apply<S>(
        &mut self,
        ws: &mut WebSocket<S>,
        output: &Output,
        command: Command,
        show_data: bool,
    ) -> Result<(), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        if self.closing {
            return Ok(());
        }
        let message = match command {
            Command::Send(message) => message,
            Command::Close(code, reason) => Message::Close(Some(CloseFrame::new(code, &reason))),
            Command::Quit => Message::Close(Some(CloseFrame::new(CloseCode::NORMAL_CLOSURE, ""))),
            Command::Help => return Ok(()),
        };
        self.closing = matches!(message, Message::Close(_));
        if show_data || !message.is_data() {
            output.sent(&message);
        }
        // Keep reading after our close: replies in flight are still printed, and the stream
        // ends with the server's close frame.
        ws.send(message).await
    }

    async fn received<S>(
        &mut self,
        ws: &mut WebSocket<S>,
        output: &mut Output,
        behaviour: &Behaviour,
        message: Message,
    ) -> Result<(), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let data = message.is_data();
        if behaviour.once && (self.got_one || !data) {
            return Ok(());
        }
        if matches!(output, Output::Lines(_)) && !data {
            return Ok(());
        }
        if let Err(e) = output.received(&message).await {
            // The reader of our output went away (a closed pipe, an exited --exec child).
            output.note(&format!("cannot write a received message: {e}"));
            return self.apply(ws, output, Command::Quit, true).await;
        }
        if behaviour.once {
            self.got_one = true;
            return self.apply(ws, output, Command::Quit, true).await;
        }
        if behaviour.echo && data && !self.closing {
            return ws.send(message).await;
        }
        Ok(())
    }
}

async fn recv(source: &mut Source) -> Option<Command> {
    match source {
        Some(source) => source.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The exit code for how the connection ended.
fn finish<S>(ws: &WebSocket<S>, state: &State, error: Option<Error>) -> ExitCode {
    if let Some(e) = error {
        return exit::fail(exit::ABNORMAL_CLOSE, e);
    }
    match ws.close_code() {
        // A close we asked for ends cleanly whatever code it carried (e.g. `/close 4000`).
        _ if state.closing => ExitCode::from(exit::OK),
        Some(CloseCode::NORMAL_CLOSURE) | Some(CloseCode::NO_STATUS_RECEIVED) | None => {
            ExitCode::from(exit::OK)
        }
        Some(code) => {
            let reason = ws.close_reason().unwrap_or("");
            exit::fail(
                exit::ABNORMAL_CLOSE,
                format!("connection closed with {code} {reason}").trim_end(),
            )
        }
    }
}

/// `--reconnect`: the same, over a client that reconnects with backoff. Messages typed while
/// disconnected wait in the client's queue. Ends when the server closes normally, we close,
/// or the client gives up.
pub(crate) async fn run_reconnecting(
    mut client: Reconnecting,
    initial: Vec<Command>,
    mut source: Source,
    mut output: Output,
    behaviour: Behaviour,
) -> ExitCode {
    let handle = client.handle();
    let mut pending: Vec<Command> = initial;
    let echo_handle = client.handle();
    let closing = std::cell::Cell::new(false);
    let mut got_one = false;
    let command_or_close = |command: Command, output: &Output| -> Result<(), String> {
        let message = match command {
            Command::Send(message) => message,
            Command::Close(code, reason) => {
                closing.set(true);
                return handle.close(code, &reason).map_err(|e| e.to_string());
            }
            Command::Quit => {
                closing.set(true);
                return handle
                    .close(CloseCode::NORMAL_CLOSURE, "")
                    .map_err(|e| e.to_string());
            }
            Command::Help => return Ok(()),
        };
        output.sent(&message);
        handle.try_send(message).map_err(|e| e.to_string())
    };
    for command in pending.drain(..) {
        if let Err(e) = command_or_close(command, &output) {
            output.note(&e);
        }
    }
    loop {
        tokio::select! {
            command = recv(&mut source) => match command {
                Some(command) => {
                    if let Err(e) = command_or_close(command, &output) {
                        output.note(&e);
                    }
                }
                None => {
                    source = None;
                    if !behaviour.once {
                        if let Some(wait) = behaviour.wait {
                            tokio::time::sleep(wait).await;
                        }
                        let _ = command_or_close(Command::Quit, &output);
                    }
                }
            },
            event = client.recv() => match event {
                Some(Event::Open(opened)) => output.note(if opened.is_reconnect() {
                    "reconnected"
                } else {
                    "connected"
                }),
                Some(Event::Message(message)) => {
                    if behaviour.once && got_one {
                        continue;
                    }
                    if output.received(&message).await.is_err() {
                        let _ = command_or_close(Command::Quit, &output);
                    }
                    if behaviour.once {
                        got_one = true;
                        let _ = command_or_close(Command::Quit, &output);
                    } else if behaviour.echo {
                        let _ = echo_handle.try_send(message);
                    }
                }
                Some(Event::Error(e)) => output.note(&e.to_string()),
                Some(Event::Closed(closed)) => output.note(format!(
                    "connection closed with {} {}",
                    closed.code, closed.reason
                ).trim_end()),
                Some(Event::Reconnecting(next)) => output.note(&format!(
                    "reconnecting in {:.1} s (attempt {})",
                    next.delay.as_secs_f64(),
                    next.attempt
                )),
                Some(Event::Stopped(stop)) => return stopped(&stop, closing.get()),
                Some(_) => {}
                None => return exit::fail(exit::FAILURE, "the reconnecting client stopped"),
            },
        }
    }
}

fn stopped(stop: &Stop, closing: bool) -> ExitCode {
    match stop {
        Stop::Requested | Stop::ClosedByServer { .. } if closing => ExitCode::from(exit::OK),
        Stop::Requested => ExitCode::from(exit::OK),
        Stop::ClosedByServer { code, .. } if *code == CloseCode::NORMAL_CLOSURE => {
            ExitCode::from(exit::OK)
        }
        Stop::ClosedByServer { code, reason } => exit::fail(
            exit::ABNORMAL_CLOSE,
            format!("connection closed with {code} {reason}").trim_end(),
        ),
        Stop::Failed => ExitCode::from(exit::CONNECT_FAILED),
        other => exit::fail(exit::CONNECT_FAILED, other),
    }
}
