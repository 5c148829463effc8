//! The `Sec-WebSocket-Extensions` header grammar (RFC 6455 9.1).
//!
//! ```text
//! extension-list = 1#extension
//! extension      = extension-token *( ";" extension-param )
//! extension-param = token [ "=" (token | quoted-string) ]
//! ```

use std::fmt;

use crate::error::HandshakeError;

const HEADER: &str = "Sec-WebSocket-Extensions";

/// One element of an extension list: an extension name and its parameters, as offered by a
/// client or answered by a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionOffer {
    /// The extension token, such as `permessage-deflate`.
    pub name: String,
    /// The parameters, in order.
    pub params: Vec<ExtensionParam>,
}

/// An extension parameter: a name, and a value unless it is a bare flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionParam {
    /// The parameter name.
    pub name: String,
    /// The value, unquoted; `None` for a bare parameter.
    pub value: Option<String>,
}

impl ExtensionOffer {
    /// An element with no parameters.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            params: Vec::new(),
        }
    }

    /// Adds a parameter (builder style).
    pub fn with_param(mut self, name: impl Into<String>, value: Option<String>) -> Self {
        self.params.push(ExtensionParam {
            name: name.into(),
            value,
        });
        self
    }
}

impl fmt::Display for ExtensionOffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for param in &self.params {
            write!(f, "; {}", param.name)?;
            if let Some(value) = &param.value {
                write!(f, "={value}")?;
            }
        }
        Ok(())
    }
}

/// Parses one `Sec-WebSocket-Extensions` header value into its elements. Several header lines
/// are parsed one by one and their elements concatenated.
pub fn parse_extensions(value: &str) -> Result<Vec<ExtensionOffer>, HandshakeError> {
    let invalid = HandshakeError::InvalidHeader(HEADER);
    let mut lexer = Lexer { rest: value };
    let mut out = Vec::new();
    loop {
        lexer.skip_ws();
        if lexer.eat(',') {
            // Empty list elements are allowed by the #rule (RFC 7230 7).
            continue;
        }
        if lexer.rest.is_empty() {
            break;
        }
        let mut offer = ExtensionOffer::new(lexer.token().ok_or(invalid.clone())?);
        loop {
            lexer.skip_ws();
            if lexer.eat(';') {
                lexer.skip_ws();
                let name = lexer.token().ok_or(invalid.clone())?;
                lexer.skip_ws();
                let value = if lexer.eat('=') {
                    lexer.skip_ws();
                    Some(lexer.value().ok_or(invalid.clone())?)
                } else {
                    None
                };
                offer.params.push(ExtensionParam {
                    name: name.to_owned(),
                    value,
                });
            } else if lexer.eat(',') || lexer.rest.is_empty() {
                break;
            } else {
                return Err(invalid);
            }
        }
        out.push(offer);
    }
    Ok(out)
}

struct Lexer<'a> {
    rest: &'a str,
}

impl<'a> Lexer<'a> {
    fn skip_ws(&mut self) {
        self.rest = self.rest.trim_start_matches([' ', '\t']);
    }

    fn eat(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn token(&mut self) -> Option<&'a str> {
        let end = self
            .rest
            .find(|c: char| !is_tchar(c))
            .unwrap_or(self.rest.len());
        if end == 0 {
            return None;
        }
        let (token, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(token)
    }

    /// A token or a quoted string (RFC 7230 3.2.6), returned unquoted.
    fn value(&mut self) -> Option<String> {
        if !self.eat('"') {
            return self.token().map(str::to_owned);
        }
        let mut value = String::new();
        let mut chars = self.rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.rest = &self.rest[i + 1..];
                    return Some(value);
                }
                '\\' => value.push(chars.next()?.1),
                c if c.is_control() => return None,
                c => value.push(c),
            }
        }
        None
    }
}

/// RFC 7230 3.2.6 tchar.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

#[cfg(test)]
mod rfc6455_9_1_extension_header {
    use super::*;

    #[test]
    fn parses_several_extensions_with_params() {
        let parsed = parse_extensions(
            "permessage-deflate; client_max_window_bits, permessage-deflate;server_max_window_bits=10 , x-foo",
        )
        .unwrap();
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[0].name, "permessage-deflate");
        assert_eq!(parsed[0].params[0].name, "client_max_window_bits");
        assert_eq!(parsed[0].params[0].value, None);
        assert_eq!(parsed[1].params[0].value.as_deref(), Some("10"));
        assert_eq!(parsed[2], ExtensionOffer::new("x-foo"));
    }

    #[test]
    fn quoted_values_are_unquoted() {
        let parsed =
            parse_extensions(r#"permessage-deflate; server_max_window_bits="10""#).unwrap();
        assert_eq!(parsed[0].params[0].value.as_deref(), Some("10"));
    }

    #[test]
    fn empty_elements_are_skipped() {
        assert_eq!(parse_extensions(" , ,").unwrap(), vec![]);
    }

    #[test]
    fn garbage_is_rejected() {
        for bad in [
            "permessage-deflate;",
            "a b",
            "a; =1",
            "a; b=\"open",
            "a; b=",
            "@",
        ] {
            assert!(parse_extensions(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn display_round_trips() {
        let offer = ExtensionOffer::new("permessage-deflate")
            .with_param("client_max_window_bits", None)
            .with_param("server_max_window_bits", Some("12".into()));
        let text = offer.to_string();
        assert_eq!(
            text,
            "permessage-deflate; client_max_window_bits; server_max_window_bits=12"
        );
        assert_eq!(parse_extensions(&text).unwrap(), vec![offer]);
    }
}
