//! Interactive mode: a line editor (rustyline: editing, history) on its own thread, because
//! it blocks; it sends parsed commands to the async side over a channel. Received messages
//! are printed through rustyline's external printer, which redraws the prompt below them
//! instead of writing over the line being typed.

use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use rustyline::error::ReadlineError;
use rustyline::{DefaultEditor, ExternalPrinter as _};
use tokio::sync::mpsc;

use super::command::{self, Command, HELP};
use super::output::{Printed, Screen};

/// Commands waiting for the connection; typing blocks when the connection is this far behind.
const QUEUE: usize = 64;

/// How long the printer may take, at exit, to hand the last lines to the line editor.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(1);

/// How long the line editor gets, at exit, to draw the lines it was handed: it draws them in
/// its own thread, when its read wakes up, and has no way to say it did.
const DRAW_GRACE: Duration = Duration::from_millis(100);

/// The terminal's settings, restored at exit even if the editor thread is still reading in
/// raw mode when the connection ends.
pub(crate) struct Terminal {
    #[cfg(unix)]
    saved: Option<nix::sys::termios::Termios>,
    /// The screen, to let the last lines (the close, the final notes) reach the terminal
    /// before the process ends.
    screen: Option<Screen>,
}

impl Terminal {
    fn save() -> Self {
        Self {
            #[cfg(unix)]
            saved: nix::sys::termios::tcgetattr(std::io::stdin()).ok(),
            screen: None,
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        if let Some(screen) = &self.screen {
            if screen.flush(FLUSH_TIMEOUT) {
                std::thread::sleep(DRAW_GRACE);
            }
        }
        // The editor thread may have left its prompt on the last line: clear it.
        eprint!("\r\x1b[2K");
        #[cfg(unix)]
        if let Some(saved) = &self.saved {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                saved,
            );
        }
    }
}

/// Starts the editor and printer threads. Returns the commands typed, the screen to print
/// on, and a guard that restores the terminal when dropped.
pub(crate) fn start(
    slash: bool,
    binary: bool,
    colour: bool,
) -> Result<(mpsc::Receiver<Command>, Screen, Terminal), String> {
    let mut terminal = Terminal::save();
    let mut editor =
        DefaultEditor::new().map_err(|e| format!("cannot start the line editor: {e}"))?;
    let mut printer = editor
        .create_external_printer()
        .map_err(|e| format!("cannot start the line editor: {e}"))?;
    let (lines_tx, lines_rx) = std_mpsc::channel::<Printed>();
    std::thread::Builder::new()
        .name("printer".into())
        .spawn(move || {
            for printed in lines_rx {
                match printed {
                    Printed::Line(line) => {
                        if printer.print(format!("{line}\n")).is_err() {
                            break;
                        }
                    }
                    Printed::Flush(done) => {
                        let _ = done.send(());
                    }
                }
            }
        })
        .map_err(|e| format!("cannot start a thread: {e}"))?;
    let screen = Screen::new(lines_tx, colour);
    terminal.screen = Some(screen.clone());
    let (commands_tx, commands_rx) = mpsc::channel(QUEUE);
    let notes = screen.clone();
    std::thread::Builder::new()
        .name("line editor".into())
        .spawn(move || {
            let prompt = if colour { "\x1b[1m>\x1b[0m " } else { "> " };
            loop {
                let line = match editor.readline(prompt) {
                    Ok(line) => line,
                    // Ctrl-C and Ctrl-D both close normally, as wscat does.
                    Err(ReadlineError::Interrupted | ReadlineError::Eof) => break,
                    Err(e) => {
                        notes.note(&format!("line editor: {e}"));
                        break;
                    }
                };
                if !line.is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                }
                let command = match command::parse(&line, slash, binary) {
                    Ok(Command::Help) => {
                        HELP.lines().for_each(|line| notes.note(line));
                        continue;
                    }
                    Ok(command) => command,
                    Err(e) => {
                        notes.note(&e);
                        continue;
                    }
                };
                let quit = command == Command::Quit;
                if commands_tx.blocking_send(command).is_err() || quit {
                    return;
                }
            }
            let _ = commands_tx.blocking_send(Command::Quit);
        })
        .map_err(|e| format!("cannot start a thread: {e}"))?;
    Ok((commands_rx, screen, terminal))
}
