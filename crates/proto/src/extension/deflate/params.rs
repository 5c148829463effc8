//! The permessage-deflate parameters (RFC 7692 7.1): reading them from one element of
//! `Sec-WebSocket-Extensions`, and writing them back.

use crate::extension::ExtensionOffer;

/// The registered extension token (RFC 7692 7).
pub(super) const NAME: &str = "permessage-deflate";

const SERVER_NO_CONTEXT_TAKEOVER: &str = "server_no_context_takeover";
const CLIENT_NO_CONTEXT_TAKEOVER: &str = "client_no_context_takeover";
const SERVER_MAX_WINDOW_BITS: &str = "server_max_window_bits";
const CLIENT_MAX_WINDOW_BITS: &str = "client_max_window_bits";

/// The smallest and largest LZ77 window sizes, as base-2 logarithms (RFC 7692 7.1.2).
pub(super) const MIN_WINDOW_BITS: u8 = 8;
pub(super) const MAX_WINDOW_BITS: u8 = 15;

/// Why a parameter list cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ParamError {
    /// A parameter RFC 7692 does not define.
    Unknown,
    /// A parameter given twice, a flag given a value, or a window size that is missing or is
    /// not 8 to 15 in plain decimal.
    Malformed,
}

/// How `client_max_window_bits`, the one parameter whose value is optional, appeared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum ClientBits {
    /// Not present.
    #[default]
    Absent,
    /// Present without a value: in an offer, "you may limit my window" (RFC 7692 7.1.2.2).
    Bare,
    /// Present with a window size.
    Value(u8),
}

/// The parameters of one offer or response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Params {
    pub(super) server_no_context_takeover: bool,
    pub(super) client_no_context_takeover: bool,
    pub(super) server_max_window_bits: Option<u8>,
    pub(super) client_max_window_bits: ClientBits,
}

impl Params {
    /// Reads the parameters of `element`. Any unknown, repeated or ill-formed parameter makes
    /// the whole element unusable (RFC 7692 7).
    pub(super) fn parse(element: &ExtensionOffer) -> Result<Self, ParamError> {
        let mut params = Self::default();
        let mut seen = [false; 4];
        for param in &element.params {
            let value = param.value.as_deref();
            let slot = match param.name.as_str() {
                SERVER_NO_CONTEXT_TAKEOVER => {
                    // RFC 7692 7.1.1.1: this parameter has no value.
                    params.server_no_context_takeover = flag(value)?;
                    0
                }
                CLIENT_NO_CONTEXT_TAKEOVER => {
                    // RFC 7692 7.1.1.2: this parameter has no value.
                    params.client_no_context_takeover = flag(value)?;
                    1
                }
                SERVER_MAX_WINDOW_BITS => {
                    // RFC 7692 7.1.2.1: the value is required.
                    let bits = value.and_then(window_bits).ok_or(ParamError::Malformed)?;
                    params.server_max_window_bits = Some(bits);
                    2
                }
                CLIENT_MAX_WINDOW_BITS => {
                    // RFC 7692 7.1.2.2: the value is optional (meaningful only in an offer).
                    params.client_max_window_bits = match value {
                        None => ClientBits::Bare,
                        Some(v) => ClientBits::Value(window_bits(v).ok_or(ParamError::Malformed)?),
                    };
                    3
                }
                _ => return Err(ParamError::Unknown),
            };
            // RFC 7692 7: an element with more than one of the same parameter is invalid.
            if std::mem::replace(&mut seen[slot], true) {
                return Err(ParamError::Malformed);
            }
        }
        Ok(params)
    }

    /// The element carrying these parameters, in a fixed order.
    pub(super) fn to_element(self) -> ExtensionOffer {
        let mut element = ExtensionOffer::new(NAME);
        if self.server_no_context_takeover {
            element = element.with_param(SERVER_NO_CONTEXT_TAKEOVER, None);
        }
        if self.client_no_context_takeover {
            element = element.with_param(CLIENT_NO_CONTEXT_TAKEOVER, None);
        }
        if let Some(bits) = self.server_max_window_bits {
            element = element.with_param(SERVER_MAX_WINDOW_BITS, Some(bits.to_string()));
        }
        match self.client_max_window_bits {
            ClientBits::Absent => {}
            ClientBits::Bare => element = element.with_param(CLIENT_MAX_WINDOW_BITS, None),
            ClientBits::Value(bits) => {
                element = element.with_param(CLIENT_MAX_WINDOW_BITS, Some(bits.to_string()));
            }
        }
        element
    }
}

fn flag(value: Option<&str>) -> Result<bool, ParamError> {
    match value {
        None => Ok(true),
        Some(_) => Err(ParamError::Malformed),
    }
}

/// RFC 7692 7.1.2: "a decimal integer value without leading zeroes between 8 to 15, inclusive".
/// Signs, spaces, leading zeros and anything `u8::from_str` would otherwise forgive are refused.
fn window_bits(value: &str) -> Option<u8> {
    let plain = (1..=2).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_digit())
        && !value.starts_with('0');
    if !plain {
        return None;
    }
    let bits: u8 = value.parse().ok()?;
    (MIN_WINDOW_BITS..=MAX_WINDOW_BITS)
        .contains(&bits)
        .then_some(bits)
}

#[cfg(test)]
mod rfc7692_7_1_parameters {
    use super::*;
    use crate::extension::parse_extensions;

    fn parse(header: &str) -> Result<Params, ParamError> {
        let elements = parse_extensions(header).unwrap();
        assert_eq!(elements.len(), 1, "{header}");
        Params::parse(&elements[0])
    }

    #[test]
    fn no_parameters() {
        assert_eq!(parse("permessage-deflate"), Ok(Params::default()));
    }

    #[test]
    fn every_parameter() {
        let params = parse(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits=12",
        );
        assert_eq!(
            params,
            Ok(Params {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                server_max_window_bits: Some(10),
                client_max_window_bits: ClientBits::Value(12),
            })
        );
    }

    #[test]
    fn bare_client_max_window_bits() {
        let params = parse("permessage-deflate; client_max_window_bits").unwrap();
        assert_eq!(params.client_max_window_bits, ClientBits::Bare);
    }

    #[test]
    fn every_window_size_from_8_to_15() {
        for bits in 8..=15u8 {
            let server = parse(&format!(
                "permessage-deflate; server_max_window_bits={bits}"
            ));
            assert_eq!(server.unwrap().server_max_window_bits, Some(bits));
            let client = parse(&format!(
                "permessage-deflate; client_max_window_bits={bits}"
            ));
            assert_eq!(
                client.unwrap().client_max_window_bits,
                ClientBits::Value(bits)
            );
        }
    }

    #[test]
    fn quoted_window_sizes_are_the_same_value() {
        // RFC 6455 9.1 allows a quoted-string wherever a token value may appear.
        let params = parse(r#"permessage-deflate; server_max_window_bits="9""#).unwrap();
        assert_eq!(params.server_max_window_bits, Some(9));
    }

    #[test]
    fn bad_window_sizes_are_malformed() {
        for bad in [
            "7", "16", "0", "08", "015", "+9", "-9", "9.0", "0x9", "1e1", "255", "256", "",
        ] {
            for name in [SERVER_MAX_WINDOW_BITS, CLIENT_MAX_WINDOW_BITS] {
                let element = ExtensionOffer::new(NAME).with_param(name, Some(bad.to_owned()));
                assert_eq!(
                    Params::parse(&element),
                    Err(ParamError::Malformed),
                    "{name}={bad:?}"
                );
            }
        }
    }

    #[test]
    fn server_max_window_bits_needs_a_value() {
        assert_eq!(
            parse("permessage-deflate; server_max_window_bits"),
            Err(ParamError::Malformed)
        );
    }

    #[test]
    fn flags_take_no_value() {
        for header in [
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover=true",
            r#"permessage-deflate; client_no_context_takeover="""#,
        ] {
            assert_eq!(parse(header), Err(ParamError::Malformed), "{header}");
        }
    }

    #[test]
    fn duplicates_are_malformed() {
        for header in [
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
            "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
            "permessage-deflate; client_max_window_bits; client_max_window_bits",
        ] {
            assert_eq!(parse(header), Err(ParamError::Malformed), "{header}");
        }
    }

    #[test]
    fn unknown_parameters() {
        for header in [
            "permessage-deflate; x-foo",
            "permessage-deflate; client_max_window_bits; mem_level=8",
            // Parameter names are matched exactly, as every peer in the wild spells them.
            "permessage-deflate; Server_No_Context_Takeover",
        ] {
            assert_eq!(parse(header), Err(ParamError::Unknown), "{header}");
        }
    }

    #[test]
    fn writing_then_reading_gives_the_same_parameters() {
        for client_bits in [ClientBits::Absent, ClientBits::Bare, ClientBits::Value(9)] {
            for server_bits in [None, Some(8), Some(15)] {
                for (server_nct, client_nct) in [(false, false), (true, false), (false, true)] {
                    let params = Params {
                        server_no_context_takeover: server_nct,
                        client_no_context_takeover: client_nct,
                        server_max_window_bits: server_bits,
                        client_max_window_bits: client_bits,
                    };
                    let text = params.to_element().to_string();
                    assert_eq!(parse(&text), Ok(params), "{text}");
                }
            }
        }
    }

    #[test]
    fn written_order_is_fixed() {
        let params = Params {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: Some(10),
            client_max_window_bits: ClientBits::Bare,
        };
        assert_eq!(
            params.to_element().to_string(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits"
        );
    }
}
