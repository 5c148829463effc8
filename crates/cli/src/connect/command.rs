//! What a typed line (or an `-x` argument) means: a message, or a slash command.

use switchboard::{CloseCode, Message};

/// One line's meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// Send this message (text or binary).
    Send(Message),
    /// Send a close frame and wait for the server's.
    Close(CloseCode, String),
    /// Close normally (1000) and exit.
    Quit,
    /// Print the commands.
    Help,
}

/// The text of `/help`.
pub(crate) const HELP: &str = "\
commands:
  /ping [data]                 send a ping
  /pong [data]                 send an unsolicited pong
  /close [code [reason]]       close (default 1000) and wait for the server's close
  /binary <hex>                send a binary message, e.g. /binary 68 69 or /binary 6869
  /quit                        close normally and exit (also Ctrl-D)
  /help                        this list
  //text                       send \"/text\" (a leading / escaped by doubling it)
anything else is sent as a message (--no-slash sends every line as it is)";

/// Parses a typed line. With `slash` off every line is a message; `binary` sends lines as
/// binary messages instead of text.
pub(crate) fn parse(line: &str, slash: bool, binary: bool) -> Result<Command, String> {
    let message = |text: &str| {
        if binary {
            Message::binary(text.as_bytes().to_vec())
        } else {
            Message::text(text.to_owned())
        }
    };
    if !slash || !line.starts_with('/') {
        return Ok(Command::Send(message(line)));
    }
    if let Some(escaped) = line.strip_prefix("//") {
        return Ok(Command::Send(message(&format!("/{escaped}"))));
    }
    let (name, rest) = line.split_once(' ').unwrap_or((line, ""));
    let rest = rest.trim_start();
    match name {
        "/ping" => control(rest).map(|data| Command::Send(Message::Ping(data.into()))),
        "/pong" => control(rest).map(|data| Command::Send(Message::Pong(data.into()))),
        "/close" => close(rest),
        "/binary" => hex(rest).map(|data| Command::Send(Message::binary(data))),
        "/quit" | "/exit" => Ok(Command::Quit),
        "/help" | "/?" => Ok(Command::Help),
        _ => Err(format!(
            "unknown command {name} (/help lists them; //text sends \"/text\")"
        )),
    }
}

/// RFC 6455 5.5: control frame payloads are at most 125 bytes.
fn control(data: &str) -> Result<Vec<u8>, String> {
    if data.len() > 125 {
        return Err(format!(
            "a ping or pong carries at most 125 bytes, not {}",
            data.len()
        ));
    }
    Ok(data.as_bytes().to_vec())
}

fn close(args: &str) -> Result<Command, String> {
    let (code, reason) = args.split_once(' ').unwrap_or((args, ""));
    if code.is_empty() {
        return Ok(Command::Close(CloseCode::NORMAL_CLOSURE, String::new()));
    }
    let code: u16 = code
        .parse()
        .map_err(|_| format!("close code must be a number, not {code:?}"))?;
    let code = CloseCode::from(code);
    // RFC 6455 7.4: 1005, 1006, 1015 and unassigned codes must not be sent.
    if !code.is_valid_on_wire() {
        return Err(format!(
            "{code} cannot be sent in a close frame (use 1000, 1001, ... or 3000-4999)"
        ));
    }
    // RFC 6455 5.5: the close payload (2-byte code + reason) is at most 125 bytes.
    if reason.len() > 123 {
        return Err(format!(
            "a close reason is at most 123 bytes, not {}",
            reason.len()
        ));
    }
    Ok(Command::Close(code, reason.to_owned()))
}

/// Hex digits, with optional spaces between bytes: `68 69`, `6869`, `0x68 0x69`.
pub(crate) fn hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: String = text
        .split_whitespace()
        .map(|word| word.strip_prefix("0x").unwrap_or(word))
        .collect();
    if !digits.len().is_multiple_of(2) {
        return Err("hex needs two digits per byte".into());
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            let pair = digits.get(i..i + 2).unwrap_or_default();
            u8::from_str_radix(pair, 16).map_err(|_| format!("not hex: {pair:?}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn slash(line: &str) -> Result<Command, String> {
        parse(line, true, false)
    }

    #[test]
    fn plain_lines_are_text_or_binary_messages() {
        assert_eq!(slash("hello"), Ok(Command::Send(Message::text("hello"))));
        assert_eq!(
            parse("hello", true, true),
            Ok(Command::Send(Message::binary(b"hello".to_vec())))
        );
        assert_eq!(slash(""), Ok(Command::Send(Message::text(""))));
    }

    #[test]
    fn no_slash_sends_commands_as_they_are() {
        for line in ["/close 4000 bye", "/quit", "//x", "/nonsense"] {
            assert_eq!(
                parse(line, false, false),
                Ok(Command::Send(Message::text(line)))
            );
        }
    }

    #[test]
    fn close_with_code_and_reason() {
        assert_eq!(
            slash("/close 4000 bye now"),
            Ok(Command::Close(CloseCode::from(4000), "bye now".into()))
        );
        assert_eq!(
            slash("/close"),
            Ok(Command::Close(CloseCode::NORMAL_CLOSURE, String::new()))
        );
        assert_eq!(
            slash("/close 1001"),
            Ok(Command::Close(CloseCode::GOING_AWAY, String::new()))
        );
        assert!(slash("/close abc").unwrap_err().contains("number"));
        assert!(slash("/close 1005").unwrap_err().contains("cannot be sent"));
        assert!(slash(&format!("/close 1000 {}", "r".repeat(124))).is_err());
    }

    #[test]
    fn ping_pong_binary_quit_help() {
        assert_eq!(
            slash("/ping"),
            Ok(Command::Send(Message::Ping(Vec::new().into())))
        );
        assert_eq!(
            slash("/ping abc"),
            Ok(Command::Send(Message::Ping(b"abc".to_vec().into())))
        );
        assert_eq!(
            slash("/pong x"),
            Ok(Command::Send(Message::Pong(b"x".to_vec().into())))
        );
        assert!(slash(&format!("/ping {}", "p".repeat(126))).is_err());
        assert_eq!(
            slash("/binary 68 69 0x21"),
            Ok(Command::Send(Message::binary(b"hi!".to_vec())))
        );
        assert_eq!(
            slash("/binary 6869"),
            Ok(Command::Send(Message::binary(b"hi".to_vec())))
        );
        assert!(slash("/binary 6").is_err());
        assert!(slash("/binary zz").is_err());
        assert_eq!(slash("/quit"), Ok(Command::Quit));
        assert_eq!(slash("/help"), Ok(Command::Help));
    }

    #[test]
    fn double_slash_escapes_and_unknown_commands_are_errors() {
        assert_eq!(slash("//etc"), Ok(Command::Send(Message::text("/etc"))));
        assert!(slash("/frobnicate")
            .unwrap_err()
            .contains("unknown command"));
    }
}
