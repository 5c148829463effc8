//! Where received messages go: stdout lines (pipe mode), marked lines on the terminal
//! (interactive mode), or a child's stdin (`--exec`).

use std::fmt::Write as _;
use std::sync::mpsc;
use std::time::Duration;

use switchboard::Message;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// What the printer thread is sent: a line to print, or a request to answer once every line
/// sent before it has been handed to the line editor.
#[derive(Debug)]
pub(crate) enum Printed {
    Line(String),
    Flush(mpsc::Sender<()>),
}

/// Marked lines for the terminal, printed above the prompt by the line editor's printer.
#[derive(Debug, Clone)]
pub(crate) struct Screen {
    lines: mpsc::Sender<Printed>,
    colour: bool,
}

impl Screen {
    pub(crate) fn new(lines: mpsc::Sender<Printed>, colour: bool) -> Self {
        Self { lines, colour }
    }

    pub(crate) fn print(&self, line: String) {
        let _ = self.lines.send(Printed::Line(line));
    }

    /// Waits, up to `timeout`, until the printer has taken every line printed so far. False
    /// if it did not answer in time or is gone.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let (done, answer) = mpsc::channel();
        self.lines.send(Printed::Flush(done)).is_ok() && answer.recv_timeout(timeout).is_ok()
    }

    pub(crate) fn received(&self, message: &Message) {
        self.print(marked("<", message, self.colour.then_some(GREEN)));
    }

    pub(crate) fn sent(&self, message: &Message) {
        self.print(marked(">", message, self.colour.then_some(BLUE)));
    }

    pub(crate) fn note(&self, text: &str) {
        self.print(match self.colour {
            true => format!("{DIM}* {text}{RESET}"),
            false => format!("* {text}"),
        });
    }
}

const GREEN: &str = "\x1b[32m";
const BLUE: &str = "\x1b[34m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

/// `< text`, `< (binary, 3 bytes) 010203`, `< (ping) data`, in `colour` if given.
pub(crate) fn marked(marker: &str, message: &Message, colour: Option<&str>) -> String {
    let body = match message {
        Message::Text(text) => text.as_str().to_owned(),
        Message::Binary(data) => format!("(binary, {} bytes) {}", data.len(), hex(data)),
        Message::Ping(data) => format!("(ping) {}", String::from_utf8_lossy(data)),
        Message::Pong(data) => format!("(pong) {}", String::from_utf8_lossy(data)),
        Message::Close(Some(frame)) => format!("(close {}) {}", frame.code, frame.reason),
        Message::Close(None) => "(close)".to_owned(),
    };
    let line = format!("{marker} {body}");
    let line = line.trim_end().to_owned();
    match colour {
        Some(colour) => format!("{colour}{line}{RESET}"),
        None => line,
    }
}

fn hex(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len() * 2);
    for byte in data {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// The receiving side of a session.
pub(crate) enum Output {
    /// Each text or binary message as a line, as received (pipe mode, `--exec`).
    Lines(Box<dyn AsyncWrite + Send + Unpin>),
    /// Marked lines, pings and pongs included (interactive mode).
    Screen(Screen),
}

impl Output {
    pub(crate) async fn received(&mut self, message: &Message) -> std::io::Result<()> {
        match self {
            Output::Lines(out) => {
                let payload = match message {
                    Message::Text(text) => text.as_bytes(),
                    Message::Binary(data) => data,
                    _ => return Ok(()),
                };
                out.write_all(payload).await?;
                out.write_all(b"\n").await?;
                out.flush().await
            }
            Output::Screen(screen) => {
                screen.received(message);
                Ok(())
            }
        }
    }

    /// Shows what went out; only the screen does.
    pub(crate) fn sent(&self, message: &Message) {
        if let Output::Screen(screen) = self {
            screen.sent(message);
        }
    }

    /// A notice: on the screen, or on stderr in the other modes.
    pub(crate) fn note(&self, text: &str) {
        match self {
            Output::Screen(screen) => screen.note(text),
            Output::Lines(_) => eprintln!("switchboard: {text}"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use switchboard::{CloseCode, CloseFrame};

    #[test]
    fn marked_lines() {
        assert_eq!(marked("<", &Message::text("hi"), None), "< hi");
        assert_eq!(
            marked("<", &Message::binary(vec![0, 255]), None),
            "< (binary, 2 bytes) 00ff"
        );
        assert_eq!(
            marked("<", &Message::Ping(b"x".to_vec().into()), None),
            "< (ping) x"
        );
        assert_eq!(
            marked("<", &Message::Pong(Vec::new().into()), None),
            "< (pong)"
        );
        let close = Message::Close(Some(CloseFrame::new(CloseCode::from(4000), "bye")));
        assert_eq!(marked(">", &close, None), "> (close 4000) bye");
        assert_eq!(
            marked("<", &Message::text("hi"), Some(GREEN)),
            "\x1b[32m< hi\x1b[0m"
        );
    }

    #[tokio::test]
    async fn screen_lines_go_to_the_printer_channel() {
        let (tx, rx) = mpsc::channel();
        let mut output = Output::Screen(Screen::new(tx, false));
        output.received(&Message::text("in")).await.unwrap();
        output.sent(&Message::text("out"));
        output.note("closed");
        let lines: Vec<String> = rx
            .try_iter()
            .filter_map(|printed| match printed {
                Printed::Line(line) => Some(line),
                Printed::Flush(_) => None,
            })
            .collect();
        assert_eq!(lines, ["< in", "> out", "* closed"]);
    }

    #[test]
    fn flush_answers_once_the_printer_has_taken_the_lines_before_it() {
        let (tx, rx) = mpsc::channel();
        let screen = Screen::new(tx, false);
        let taken = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let printer = {
            let taken = taken.clone();
            std::thread::spawn(move || {
                for printed in rx {
                    match printed {
                        Printed::Line(line) => {
                            // A slow terminal: the lines must still all be taken first.
                            std::thread::sleep(Duration::from_millis(20));
                            taken.lock().unwrap().push(line);
                        }
                        Printed::Flush(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            })
        };
        screen.note("one");
        screen.note("two");
        assert!(screen.flush(Duration::from_secs(10)));
        assert_eq!(*taken.lock().unwrap(), ["* one", "* two"]);
        drop(screen);
        printer.join().unwrap();
    }

    #[test]
    fn flush_without_a_printer_returns_false() {
        let (tx, rx) = mpsc::channel();
        drop(rx);
        assert!(!Screen::new(tx, false).flush(Duration::from_secs(10)));
        // A printer that never answers: the wait ends at the timeout.
        let (tx, _rx) = mpsc::channel();
        assert!(!Screen::new(tx, false).flush(Duration::from_millis(10)));
    }
}
