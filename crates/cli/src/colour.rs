//! Whether to colour what goes to a terminal: only a terminal gets colours, and `NO_COLOR` or
//! `TERM=dumb` turns them off (<https://no-color.org>).

use std::io::IsTerminal;

/// Colours on stdout: the interactive client's screen.
pub(crate) fn on_stdout() -> bool {
    wanted(std::io::stdout().is_terminal())
}

/// Colours on stderr: log lines. Redirected to a file, they stay plain text.
pub(crate) fn on_stderr() -> bool {
    wanted(std::io::stderr().is_terminal())
}

fn wanted(terminal: bool) -> bool {
    terminal
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var("TERM").map_or(true, |term| term != "dumb")
}
