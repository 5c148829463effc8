//! permessage-deflate (RFC 7692): per-message DEFLATE compression of data messages.
//!
//! [`DeflateConfig`] is the negotiation half ([`ExtensionConfig`]): it writes the client's
//! offer, checks the server's response, and as a server picks among the client's offers. Each
//! produces a [`PerMessageDeflate`], the [`Extension`] that transforms messages after the
//! handshake. Parameters are read and written in `params`, the transform lives in `codec`.
//!
//! # Window sizes of 8 bits
//!
//! RFC 7692 allows LZ77 windows of 2^8 to 2^15 bytes, but a raw DEFLATE compressor with a
//! 256-byte window cannot be had from our backend: zlib-rs (like zlib since 1.2.9) refuses
//! `windowBits` of 8 for raw streams, and flate2's `Compress::new_with_window_bits` panics on
//! 8 before zlib-rs is reached (the test `flate2_refuses_a_raw_window_of_8_bits` pins this).
//! Compressing with 9 bits instead is not something we may rely on: zlib-rs 0.6 does keep its
//! match distances to at most 2^9 - 262 = 250 bytes for a 9-bit window (zlib's `MAX_DIST`), but
//! that is an internal detail, not part of flate2's contract, and a peer that enforces a
//! 256-byte window would fail the connection if it ever changed. So:
//!
//! - Inflating is never affected: we always inflate with a 15-bit window, which decodes any
//!   stream compressed with a window of at most 15 bits.
//! - When the agreement limits *our* compressor to 8 bits (the client asked a server for
//!   `server_max_window_bits=8`, a server answered a client with `client_max_window_bits=8`,
//!   or our own configuration says 8), we accept it and honour it by sending every message
//!   uncompressed, which RFC 7692 always allows. Incoming messages are still inflated.
//! - As a server, an offer that would force this is only taken when no later offer from the
//!   same client lets us compress.
//!
//! # Limitation
//!
//! A sender that ends a message with a block with BFINAL set (RFC 7692 7.2.3.4) ends its
//! DEFLATE stream; we restart the inflater after it, with an empty window. A peer that then
//! refers back into the earlier history fails with [`InvalidCompressedData`] (1002) rather
//! than being decoded: flate2 offers no way to carry the window across the end of a stream.
//! Senders that flush with BFINAL (a fallback for platforms without a sync flush) usually
//! restart their compressor after it, which works.
//!
//! [`InvalidCompressedData`]: crate::ProtocolError::InvalidCompressedData

mod codec;
mod params;

pub use codec::PerMessageDeflate;

use codec::Agreement;
use params::{ClientBits, ParamError, Params, MAX_WINDOW_BITS, MIN_WINDOW_BITS, NAME};

use crate::error::HandshakeError;
use crate::extension::{Extension, ExtensionConfig, ExtensionOffer};

const HEADER: &str = "Sec-WebSocket-Extensions";

/// What permessage-deflate this endpoint is willing to use, in either role.
///
/// Window sizes are base-2 logarithms of the LZ77 window, 8 to 15; values outside that range
/// are clamped into it. The defaults (context takeover both ways, 32 KiB windows, level 1,
/// 32-byte threshold) favour speed and good ratios for streams of similar messages.
///
/// ```
/// use switchboard_proto::extension::{deflate::DeflateConfig, ExtensionConfig};
///
/// let client = DeflateConfig::default();
/// let mut server = DeflateConfig::default();
/// server.server_max_window_bits = 12; // a smaller window for our compressor
///
/// let offers = client.client_offers();
/// assert_eq!(offers[0].to_string(), "permessage-deflate; client_max_window_bits");
/// let (response, _server_side) = server.server_accept(&offers).expect("an acceptable offer");
/// assert_eq!(response.to_string(), "permessage-deflate; server_max_window_bits=12");
/// let _client_side = client.client_accept(&response)?;
/// # Ok::<(), switchboard_proto::HandshakeError>(())
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeflateConfig {
    /// Ask for (client) or impose (server) that the server compress each message with an empty
    /// window. Default false: keeping the window lets a message refer back to earlier ones,
    /// which is where streams of similar small messages (chat, JSON updates) gain the most.
    ///
    /// A server always honours a client's request for this, whatever this field says.
    pub server_no_context_takeover: bool,
    /// Ask for (client) or impose (server) that the client compress each message with an empty
    /// window. Default false, for the same reason. A server honours a client's offer of it.
    pub client_no_context_takeover: bool,
    /// The largest window the server compresses with. Default 15 (32 KiB, no limit).
    ///
    /// A client sends it as `server_max_window_bits` when below 15; a server answers with at
    /// most this. A smaller window shrinks the compressor's window and hash chains at some
    /// cost in ratio. 8 means the server sends uncompressed (see the module documentation).
    pub server_max_window_bits: u8,
    /// The largest window the client compresses with. Default 15 (32 KiB, no limit).
    ///
    /// A client offers `client_max_window_bits=N` when below 15 and compresses with at most
    /// that; a server answers a client that offered the parameter with at most this. 8 means
    /// the client sends uncompressed (see the module documentation).
    pub client_max_window_bits: u8,
    /// The flate2 compression level, 0 (store) to 9 (best); larger values count as 9.
    /// Default 1.
    ///
    /// Latency and CPU per message matter more to a busy endpoint than the last bytes of
    /// ratio. On a stream of 180-byte JSON messages with context takeover, level 1 compressed
    /// about ten times faster than zlib's default level 6 (0.3 us against 3.2 us a message,
    /// flate2 with zlib-rs, release build) for output about 15% larger (20% of the input
    /// against 17%).
    pub compression_level: u32,
    /// Messages shorter than this many bytes are sent uncompressed. Default 32.
    ///
    /// A message under 32 bytes can save at most that many bytes, which does not pay for a
    /// compress call here and an inflate call at the peer. Above it, with context takeover,
    /// messages of a repetitive stream shrink a lot (in the measurement behind
    /// [`compression_level`](Self::compression_level), 32-byte tails of the messages lost 25
    /// bytes each). Without a shared window (`*_no_context_takeover`) nothing under about 64
    /// bytes shrinks at all, so raise this to 64 or more there. Set 0 to compress every
    /// non-empty message. A message whose compressed form is not smaller is sent as it is
    /// whenever that costs no shared history.
    pub min_compress_size: usize,
    /// Client: offer a bare `client_max_window_bits`, inviting the server to limit our window.
    /// Default true, as browsers do; it costs nothing and lets a memory-conscious server ask
    /// for a smaller window. Ignored when `client_max_window_bits` is below 15, which is then
    /// offered with its value.
    pub offer_client_max_window_bits: bool,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        Self {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: MAX_WINDOW_BITS,
            client_max_window_bits: MAX_WINDOW_BITS,
            compression_level: 1,
            min_compress_size: 32,
            offer_client_max_window_bits: true,
        }
    }
}

impl DeflateConfig {
    fn server_bits(&self) -> u8 {
        self.server_max_window_bits
            .clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS)
    }

    fn client_bits(&self) -> u8 {
        self.client_max_window_bits
            .clamp(MIN_WINDOW_BITS, MAX_WINDOW_BITS)
    }

    /// The parameters of the client's single offer.
    fn offer(&self) -> Params {
        let client_bits = self.client_bits();
        Params {
            server_no_context_takeover: self.server_no_context_takeover,
            client_no_context_takeover: self.client_no_context_takeover,
            server_max_window_bits: Some(self.server_bits()).filter(|&b| b < MAX_WINDOW_BITS),
            client_max_window_bits: if client_bits < MAX_WINDOW_BITS {
                ClientBits::Value(client_bits)
            } else if self.offer_client_max_window_bits {
                ClientBits::Bare
            } else {
                ClientBits::Absent
            },
        }
    }

    fn agreement(
        &self,
        params: Params,
        compress_bits: u8,
        compress_no_context_takeover: bool,
        decompress_no_context_takeover: bool,
    ) -> Agreement {
        Agreement {
            params,
            compress_bits,
            compress_no_context_takeover,
            decompress_no_context_takeover,
            level: self.compression_level,
            min_compress_size: self.min_compress_size,
        }
    }

    /// Server: the response and agreement for one offer, or `None` if it cannot be accepted.
    fn answer(&self, offer: &ExtensionOffer) -> Option<Agreement> {
        if offer.name != NAME {
            return None;
        }
        // RFC 7692 7: a server MUST decline an offer with unknown, invalid or repeated parameters.
        let asked = Params::parse(offer).ok()?;
        // RFC 7692 7.1.2.1: accept server_max_window_bits with the same or a smaller value.
        let server_bits = asked
            .server_max_window_bits
            .map_or(self.server_bits(), |asked| asked.min(self.server_bits()));
        let client_bits = match asked.client_max_window_bits {
            // RFC 7692 7.1.2.2: MUST NOT send client_max_window_bits unless it was offered.
            ClientBits::Absent => ClientBits::Absent,
            ClientBits::Bare if self.client_bits() == MAX_WINDOW_BITS => ClientBits::Absent,
            ClientBits::Bare => ClientBits::Value(self.client_bits()),
            // RFC 7692 7.1.2.2: a value equal to or smaller than the offered one.
            ClientBits::Value(asked) => ClientBits::Value(asked.min(self.client_bits())),
        };
        let response = Params {
            // RFC 7692 7.1.1.1: the server accepts server_no_context_takeover by echoing it.
            server_no_context_takeover: asked.server_no_context_takeover
                || self.server_no_context_takeover,
            client_no_context_takeover: asked.client_no_context_takeover
                || self.client_no_context_takeover,
            server_max_window_bits: (asked.server_max_window_bits.is_some()
                || server_bits < MAX_WINDOW_BITS)
                .then_some(server_bits),
            client_max_window_bits: client_bits,
        };
        Some(self.agreement(
            response,
            server_bits,
            response.server_no_context_takeover,
            response.client_no_context_takeover,
        ))
    }

    /// Client: checks the server's response against our offer (RFC 7692 7.1).
    fn check_response(&self, response: &ExtensionOffer) -> Result<Agreement, HandshakeError> {
        let not_offered = HandshakeError::ExtensionNotOffered;
        if response.name != NAME {
            return Err(not_offered);
        }
        // RFC 7692 7: the client MUST fail the connection on a response with unknown, invalid or
        // repeated parameters.
        let got = Params::parse(response).map_err(|e| match e {
            ParamError::Unknown => HandshakeError::ExtensionNotOffered,
            ParamError::Malformed => HandshakeError::InvalidHeader(HEADER),
        })?;
        let offered = self.offer();
        // RFC 7692 7.1.1.1: a server accepts server_no_context_takeover by including it.
        if offered.server_no_context_takeover && !got.server_no_context_takeover {
            return Err(not_offered);
        }
        match (offered.server_max_window_bits, got.server_max_window_bits) {
            // RFC 7692 7.1.2.1: a server accepts server_max_window_bits by including it, with
            // the same or a smaller value.
            (Some(_), None) => return Err(not_offered),
            (Some(asked), Some(bits)) if bits > asked => return Err(not_offered),
            _ => {}
        }
        let client_bits = match (offered.client_max_window_bits, got.client_max_window_bits) {
            (_, ClientBits::Absent) => self.client_bits(),
            // RFC 7692 7.1.2.2: in a response the parameter MUST have a value.
            (_, ClientBits::Bare) => return Err(HandshakeError::InvalidHeader(HEADER)),
            // RFC 7692 7.1.2.2: the server MUST NOT send it unless the client offered it.
            (ClientBits::Absent, ClientBits::Value(_)) => return Err(not_offered),
            (ClientBits::Value(asked), ClientBits::Value(bits)) if bits > asked => {
                return Err(not_offered)
            }
            (_, ClientBits::Value(bits)) => bits.min(self.client_bits()),
        };
        Ok(self.agreement(
            got,
            client_bits,
            // RFC 7692 7.1.1.2: a server may impose client_no_context_takeover unasked.
            got.client_no_context_takeover || self.client_no_context_takeover,
            got.server_no_context_takeover,
        ))
    }
}

impl ExtensionConfig for DeflateConfig {
    fn name(&self) -> &str {
        NAME
    }

    fn client_offers(&self) -> Vec<ExtensionOffer> {
        vec![self.offer().to_element()]
    }

    fn client_accept(
        &self,
        response: &ExtensionOffer,
    ) -> Result<Box<dyn Extension>, HandshakeError> {
        let agreement = self.check_response(response)?;
        Ok(Box::new(PerMessageDeflate::new(agreement)))
    }

    fn server_accept(
        &self,
        offers: &[ExtensionOffer],
    ) -> Option<(ExtensionOffer, Box<dyn Extension>)> {
        // The first acceptable offer wins, unless it would stop us from compressing (a window
        // of 8 bits) and a later one would not.
        let mut answers = offers.iter().filter_map(|offer| self.answer(offer));
        let first = answers.next()?;
        let chosen = if first.compresses() {
            first
        } else {
            answers.find(Agreement::compresses).unwrap_or(first)
        };
        Some((
            chosen.params.to_element(),
            Box::new(PerMessageDeflate::new(chosen)),
        ))
    }
}

// The tests below take this file past the 600-line soft cap; the code above is under 300.
#[cfg(test)]
mod rfc7692_7_1_negotiation {
    use super::codec::test_support::{deflate_message, inflate_message};
    use super::*;
    use crate::extension::parse_extensions;

    /// A change to the default config.
    type Tweak = fn(&mut DeflateConfig);

    fn config(tweak: impl FnOnce(&mut DeflateConfig)) -> DeflateConfig {
        let mut config = DeflateConfig::default();
        tweak(&mut config);
        config
    }

    fn element(header: &str) -> ExtensionOffer {
        let mut elements = parse_extensions(header).unwrap();
        assert_eq!(elements.len(), 1, "{header}");
        elements.remove(0)
    }

    fn offer_text(config: &DeflateConfig) -> String {
        let offers = config.client_offers();
        assert_eq!(offers.len(), 1);
        offers[0].to_string()
    }

    /// The server's answer to `offers`, as header text.
    fn answer_text(config: &DeflateConfig, offers: &str) -> Option<String> {
        let offers = parse_extensions(offers).unwrap();
        config.server_accept(&offers).map(|(response, ext)| {
            assert_eq!(ext.name(), NAME);
            response.to_string()
        })
    }

    // Client offers.

    #[test]
    fn default_offer_invites_a_client_window_limit() {
        assert_eq!(
            offer_text(&DeflateConfig::default()),
            "permessage-deflate; client_max_window_bits"
        );
        assert_eq!(DeflateConfig::default().name(), "permessage-deflate");
    }

    #[test]
    fn offers_follow_the_config() {
        let cases: [(Tweak, &str); 7] = [
            (
                |c| c.offer_client_max_window_bits = false,
                "permessage-deflate",
            ),
            (
                |c| c.client_max_window_bits = 10,
                "permessage-deflate; client_max_window_bits=10",
            ),
            (
                |c| {
                    c.client_max_window_bits = 8;
                    c.offer_client_max_window_bits = false;
                },
                "permessage-deflate; client_max_window_bits=8",
            ),
            (
                |c| c.server_max_window_bits = 12,
                "permessage-deflate; server_max_window_bits=12; client_max_window_bits",
            ),
            (
                |c| c.server_no_context_takeover = true,
                "permessage-deflate; server_no_context_takeover; client_max_window_bits",
            ),
            (
                |c| c.client_no_context_takeover = true,
                "permessage-deflate; client_no_context_takeover; client_max_window_bits",
            ),
            // Out-of-range sizes are clamped: 20 is 15 (no limit), 3 is 8.
            (
                |c| {
                    c.server_max_window_bits = 20;
                    c.client_max_window_bits = 3;
                },
                "permessage-deflate; client_max_window_bits=8",
            ),
        ];
        for (tweak, expected) in cases {
            assert_eq!(offer_text(&config(tweak)), expected);
        }
    }

    // Client: checking the server's response (RFC 7692 7, 7.1).

    #[test]
    fn client_accepts_valid_responses() {
        let default = DeflateConfig::default();
        // (response parameters, our compressor's window, we reset, the server resets)
        let cases = [
            ("", 15, false, false),
            ("; server_no_context_takeover", 15, false, true),
            ("; client_no_context_takeover", 15, true, false),
            ("; server_max_window_bits=10", 15, false, false),
            ("; client_max_window_bits=10", 10, false, false),
            ("; client_max_window_bits=\"9\"", 9, false, false),
            (
                "; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=8; client_max_window_bits=8",
                8,
                true,
                true,
            ),
        ];
        for (params, bits, we_reset, server_resets) in cases {
            let response = element(&format!("permessage-deflate{params}"));
            let agreement = default.check_response(&response).unwrap();
            assert_eq!(agreement.compress_bits, bits, "{params}");
            assert_eq!(agreement.compress_no_context_takeover, we_reset, "{params}");
            assert_eq!(
                agreement.decompress_no_context_takeover, server_resets,
                "{params}"
            );
            assert!(default.client_accept(&response).is_ok());
        }
        for bits in 8..=15 {
            let response = element(&format!(
                "permessage-deflate; client_max_window_bits={bits}"
            ));
            assert_eq!(
                default.check_response(&response).unwrap().compress_bits,
                bits
            );
            let response = element(&format!(
                "permessage-deflate; server_max_window_bits={bits}"
            ));
            assert!(default.check_response(&response).is_ok());
        }
    }

    #[test]
    fn client_rejects_malformed_responses() {
        let default = DeflateConfig::default();
        let invalid = HandshakeError::InvalidHeader(HEADER);
        for params in [
            "client_max_window_bits",
            "server_max_window_bits",
            "server_max_window_bits=16",
            "server_max_window_bits=7",
            "server_max_window_bits=08",
            "server_max_window_bits=+9",
            "client_max_window_bits=16",
            "client_max_window_bits=09",
            "server_no_context_takeover=1",
            "client_no_context_takeover=x",
            "server_no_context_takeover; server_no_context_takeover",
            "client_max_window_bits=10; client_max_window_bits=10",
        ] {
            let response = element(&format!("permessage-deflate; {params}"));
            assert_eq!(
                default.check_response(&response).err(),
                Some(invalid.clone()),
                "{params}"
            );
            assert!(default.client_accept(&response).is_err());
        }
    }

    #[test]
    fn client_rejects_what_it_did_not_offer() {
        let not_offered = Some(HandshakeError::ExtensionNotOffered);
        // (our config, the response)
        let cases: [(Tweak, &str); 9] = [
            (|_| {}, "permessage-deflate; mem_level=8"),
            (|_| {}, "x-webkit-deflate-frame"),
            // RFC 7692 7.1.2.2: client_max_window_bits only if we offered it.
            (
                |c| c.offer_client_max_window_bits = false,
                "permessage-deflate; client_max_window_bits=10",
            ),
            // ... and no larger than we offered.
            (
                |c| c.client_max_window_bits = 10,
                "permessage-deflate; client_max_window_bits=11",
            ),
            (
                |c| c.client_max_window_bits = 10,
                "permessage-deflate; client_max_window_bits=15",
            ),
            // RFC 7692 7.1.2.1: server_max_window_bits no larger than we asked, and present.
            (
                |c| c.server_max_window_bits = 10,
                "permessage-deflate; server_max_window_bits=11",
            ),
            (|c| c.server_max_window_bits = 10, "permessage-deflate"),
            // RFC 7692 7.1.1.1: a requested server_no_context_takeover must be accepted.
            (
                |c| c.server_no_context_takeover = true,
                "permessage-deflate",
            ),
            (
                |c| c.server_no_context_takeover = true,
                "permessage-deflate; client_no_context_takeover",
            ),
        ];
        for (tweak, response) in cases {
            let config = config(tweak);
            assert_eq!(
                config.check_response(&element(response)).err(),
                not_offered,
                "{response}"
            );
        }
    }

    #[test]
    fn client_uses_the_smaller_of_its_limit_and_the_servers() {
        let limited = config(|c| c.client_max_window_bits = 10);
        let cases = [
            ("", 10),
            ("; client_max_window_bits=10", 10),
            ("; client_max_window_bits=9", 9),
        ];
        for (params, bits) in cases {
            let response = element(&format!("permessage-deflate{params}"));
            assert_eq!(
                limited.check_response(&response).unwrap().compress_bits,
                bits,
                "{params}"
            );
        }
        let asked = config(|c| c.server_max_window_bits = 10);
        for bits in 8..=10 {
            let response = element(&format!(
                "permessage-deflate; server_max_window_bits={bits}"
            ));
            assert!(asked.check_response(&response).is_ok(), "{bits}");
        }
    }

    // Server: choosing among offers (RFC 7692 7, 7.1).

    #[test]
    fn server_answers_offers() {
        let default = DeflateConfig::default();
        let cases = [
            ("permessage-deflate", "permessage-deflate"),
            // A bare client_max_window_bits needs no answer when we do not limit the client.
            (
                "permessage-deflate; client_max_window_bits",
                "permessage-deflate",
            ),
            // A client's own limit is echoed, which binds it.
            (
                "permessage-deflate; client_max_window_bits=12",
                "permessage-deflate; client_max_window_bits=12",
            ),
            // RFC 7692 7.1.2.1: the same or a smaller value.
            (
                "permessage-deflate; server_max_window_bits=10",
                "permessage-deflate; server_max_window_bits=10",
            ),
            (
                "permessage-deflate; server_max_window_bits=15",
                "permessage-deflate; server_max_window_bits=15",
            ),
            // RFC 7692 7.1.1.1, 7.1.1.2: context takeover requests are honoured.
            (
                "permessage-deflate; server_no_context_takeover",
                "permessage-deflate; server_no_context_takeover",
            ),
            (
                "permessage-deflate; client_no_context_takeover",
                "permessage-deflate; client_no_context_takeover",
            ),
            (
                "permessage-deflate; client_max_window_bits; server_no_context_takeover; \
                 client_no_context_takeover; server_max_window_bits=9",
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=9",
            ),
        ];
        for (offers, expected) in cases {
            assert_eq!(
                answer_text(&default, offers).as_deref(),
                Some(expected),
                "{offers}"
            );
        }
        for bits in 8..=15 {
            let offer = format!("permessage-deflate; server_max_window_bits={bits}");
            assert_eq!(answer_text(&default, &offer), Some(offer.clone()));
            let offer = format!("permessage-deflate; client_max_window_bits={bits}");
            assert_eq!(answer_text(&default, &offer), Some(offer.clone()));
        }
    }

    #[test]
    fn server_applies_its_own_config() {
        let cases: [(Tweak, &str, &str); 7] = [
            (
                |c| c.server_max_window_bits = 12,
                "permessage-deflate",
                "permessage-deflate; server_max_window_bits=12",
            ),
            (
                |c| c.server_max_window_bits = 12,
                "permessage-deflate; server_max_window_bits=14",
                "permessage-deflate; server_max_window_bits=12",
            ),
            (
                |c| c.server_max_window_bits = 12,
                "permessage-deflate; server_max_window_bits=9",
                "permessage-deflate; server_max_window_bits=9",
            ),
            (
                |c| c.client_max_window_bits = 10,
                "permessage-deflate; client_max_window_bits",
                "permessage-deflate; client_max_window_bits=10",
            ),
            (
                |c| c.client_max_window_bits = 10,
                "permessage-deflate; client_max_window_bits=9",
                "permessage-deflate; client_max_window_bits=9",
            ),
            // RFC 7692 7.1.2.2: without the client's offer of it, we MUST NOT send it.
            (
                |c| c.client_max_window_bits = 10,
                "permessage-deflate",
                "permessage-deflate",
            ),
            (
                |c| {
                    c.server_no_context_takeover = true;
                    c.client_no_context_takeover = true;
                },
                "permessage-deflate",
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            ),
        ];
        for (tweak, offers, expected) in cases {
            assert_eq!(
                answer_text(&config(tweak), offers).as_deref(),
                Some(expected),
                "{offers}"
            );
        }
    }

    #[test]
    fn server_agreement_matches_its_answer() {
        let server = config(|c| c.client_max_window_bits = 11);
        let offer = element(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits",
        );
        let agreement = server.answer(&offer).unwrap();
        assert_eq!(agreement.compress_bits, 10);
        assert!(agreement.compress_no_context_takeover);
        assert!(agreement.decompress_no_context_takeover);
        assert_eq!(
            agreement.params.client_max_window_bits,
            ClientBits::Value(11)
        );
    }

    #[test]
    fn server_skips_offers_it_cannot_accept() {
        let default = DeflateConfig::default();
        for bad in [
            "permessage-deflate; x-unknown",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=08",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; client_max_window_bits=+9",
            "permessage-deflate; client_max_window_bits=0",
            "permessage-deflate; server_no_context_takeover=true",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
            "x-webkit-deflate-frame",
        ] {
            assert_eq!(answer_text(&default, bad), None, "{bad}");
            // A declined offer lets the client's next one be considered (RFC 7692 5).
            let with_fallback = format!("{bad}, permessage-deflate; client_max_window_bits");
            assert_eq!(
                answer_text(&default, &with_fallback).as_deref(),
                Some("permessage-deflate"),
                "{bad}"
            );
        }
        assert_eq!(answer_text(&default, ""), None);
    }

    #[test]
    fn server_takes_the_first_acceptable_offer() {
        let default = DeflateConfig::default();
        let offers = "permessage-deflate; server_max_window_bits=10, permessage-deflate";
        assert_eq!(
            answer_text(&default, offers).as_deref(),
            Some("permessage-deflate; server_max_window_bits=10")
        );
    }

    #[test]
    fn server_prefers_an_offer_it_can_compress_for() {
        let default = DeflateConfig::default();
        // Alone, an 8-bit limit is accepted: we honour it by sending uncompressed.
        let only = element("permessage-deflate; server_max_window_bits=8");
        assert!(!default.answer(&only).unwrap().compresses());
        assert_eq!(
            answer_text(&default, "permessage-deflate; server_max_window_bits=8").as_deref(),
            Some("permessage-deflate; server_max_window_bits=8")
        );
        let offers = "permessage-deflate; server_max_window_bits=8, \
                      permessage-deflate; server_max_window_bits=9";
        assert_eq!(
            answer_text(&default, offers).as_deref(),
            Some("permessage-deflate; server_max_window_bits=9")
        );
    }

    // Both roles together.

    #[test]
    fn negotiated_endpoints_talk_both_ways() {
        let tweaks: [Tweak; 7] = [
            |_| {},
            |c| c.server_no_context_takeover = true,
            |c| c.client_no_context_takeover = true,
            |c| c.server_max_window_bits = 9,
            |c| c.client_max_window_bits = 10,
            |c| c.server_max_window_bits = 8,
            |c| {
                c.client_max_window_bits = 8;
                c.server_no_context_takeover = true;
            },
        ];
        let messages: [&[u8]; 3] = [
            b"{\"type\":\"hello\",\"user\":\"ada\"}",
            &[b'z'; 5000],
            b"{\"type\":\"hello\",\"user\":\"bob\"}",
        ];
        for (i, client_tweak) in tweaks.iter().enumerate() {
            for (j, server_tweak) in tweaks.iter().enumerate() {
                let client_config = config(client_tweak);
                let server_config = config(server_tweak);
                let offers = client_config.client_offers();
                let (response, mut server) = server_config.server_accept(&offers).unwrap();
                let mut client = client_config.client_accept(&response).unwrap();
                let send = |from: &mut dyn Extension, to: &mut dyn Extension, message| {
                    let received = match deflate_message(from, message) {
                        Some(wire) => inflate_message(to, &[&wire], 1 << 20).unwrap(),
                        None => message.to_vec(),
                    };
                    assert_eq!(received, message, "client {i}, server {j}: {response}");
                };
                for message in messages {
                    send(client.as_mut(), server.as_mut(), message);
                    send(server.as_mut(), client.as_mut(), message);
                }
            }
        }
    }
}
