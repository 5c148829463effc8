//! The per-message transform (RFC 7692 7.2): DEFLATE with a sync flush on the way out,
//! bounded streaming inflate on the way in.

use std::fmt;

use bytes::BytesMut;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::params::{Params, MAX_WINDOW_BITS, NAME};
use crate::error::ProtocolError;
use crate::extension::{Extension, RSV1};

/// The empty stored block a sync flush ends with: removed after compressing (RFC 7692 7.2.1),
/// put back before inflating (RFC 7692 7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The smallest window flate2 can compress with. zlib and zlib-rs refuse a raw DEFLATE window
/// of 8 bits and flate2 panics on it; see the module documentation for what we do instead.
const MIN_COMPRESS_BITS: u8 = 9;

/// Output goes straight into the caller's `BytesMut`, with no buffer of our own: `out` grows
/// by a step of zeroed bytes, flate2 writes into them, and `out` is cut back to what was
/// written. The first step of a call is sized from its input, later ones double up to
/// `MAX_STEP`, so a small message costs a small fill, a large one few calls into flate2, and a
/// compression bomb grows the message by at most `MAX_STEP` at a time and never past the
/// limit. (Writing into spare capacity without the fill would need `unsafe`: `BytesMut` only
/// exposes it as uninitialised memory.)
const MIN_STEP: usize = 256;
const MAX_STEP: usize = 256 * 1024;

/// What one endpoint does after the handshake, from its own point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Agreement {
    /// The parameters in the server's response, kept for `Debug`.
    pub(super) params: Params,
    /// The largest window our compressor may use (8 to 15 bits).
    pub(super) compress_bits: u8,
    /// Start every outgoing message with an empty window.
    pub(super) compress_no_context_takeover: bool,
    /// The peer starts every message with an empty window, so we may too.
    pub(super) decompress_no_context_takeover: bool,
    /// flate2 compression level, 0 to 9.
    pub(super) level: u32,
    /// Messages shorter than this go out uncompressed.
    pub(super) min_compress_size: usize,
}

impl Agreement {
    /// Whether our compressor can honour the window the peer allowed us.
    pub(super) fn compresses(&self) -> bool {
        self.compress_bits >= MIN_COMPRESS_BITS
    }
}

/// The negotiated permessage-deflate extension (RFC 7692): compresses outgoing data messages
/// and inflates incoming ones whose first frame has RSV1 set.
///
/// Built by [`DeflateConfig`](super::DeflateConfig) during the opening handshake. Each
/// direction's DEFLATE state is allocated when first needed, so a connection that never sends
/// (or never receives) a compressed message never pays for it; no other buffer is kept.
///
/// After [`decode`](Extension::decode) or [`decode_finish`](Extension::decode_finish) fails,
/// the inflate state is lost and every later call returns the same error.
pub struct PerMessageDeflate {
    agreement: Agreement,
    compressor: Option<Compress>,
    decompressor: Option<Decompress>,
    /// Input went into the current DEFLATE stream in this message, so the message's end must
    /// feed it the sync-flush tail. False for a message that carried no bytes, and right after
    /// a block with BFINAL set, so neither leaves half a stored-block header in the inflater.
    tail_pending: bool,
    failed: Option<ProtocolError>,
}

impl PerMessageDeflate {
    pub(super) fn new(agreement: Agreement) -> Self {
        Self {
            agreement,
            compressor: None,
            decompressor: None,
            tail_pending: false,
            failed: None,
        }
    }

    fn inflate(
        &mut self,
        input: &[u8],
        out: &mut BytesMut,
        limit: usize,
    ) -> Result<(), ProtocolError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        // Inflating with a window at least as large as the peer's is always correct, and
        // zlib-rs allocates the full 32 KiB window whatever size it is given, so a smaller one
        // would save nothing; flate2 also resets a 15-bit inflater in place, while any other
        // size is rebuilt (an allocation per message under no context takeover).
        let decompressor = self
            .decompressor
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, MAX_WINDOW_BITS));
        let mut stream = Inflate {
            decompressor,
            tail_pending: &mut self.tail_pending,
        };
        let result = stream.run(input, out, limit);
        if let Err(error) = &result {
            self.failed = Some(error.clone());
        }
        result
    }
}

impl fmt::Debug for PerMessageDeflate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerMessageDeflate")
            .field("agreement", &self.agreement)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl Extension for PerMessageDeflate {
    fn name(&self) -> &str {
        NAME
    }

    fn reserved_bits(&self) -> u8 {
        // RFC 7692 6: permessage-deflate uses RSV1 as the "Per-Message Compressed" bit.
        RSV1
    }

    fn decode_start(&mut self, rsv: u8) -> bool {
        self.tail_pending = false;
        rsv & RSV1 != 0
    }

    fn decode(
        &mut self,
        input: &[u8],
        out: &mut BytesMut,
        limit: usize,
    ) -> Result<(), ProtocolError> {
        if input.is_empty() {
            return self.failed.clone().map_or(Ok(()), Err);
        }
        self.inflate(input, out, limit)
    }

    fn decode_finish(&mut self, out: &mut BytesMut, limit: usize) -> Result<(), ProtocolError> {
        if self.tail_pending {
            // RFC 7692 7.2.2: append 0x00 0x00 0xff 0xff to the payload, then inflate.
            self.inflate(&TAIL, out, limit)?;
        }
        self.tail_pending = false;
        if self.agreement.decompress_no_context_takeover {
            // RFC 7692 7.2.2: with the peer's no_context_takeover we MAY inflate each message
            // with an empty window. We do, so a peer that breaks its promise is caught.
            if let Some(decompressor) = &mut self.decompressor {
                decompressor.reset(false);
            }
        }
        self.failed.clone().map_or(Ok(()), Err)
    }

    fn encode(&mut self, payload: &[u8], out: &mut BytesMut) -> Option<u8> {
        let agreement = self.agreement;
        // Compressing nothing cannot win, and would force a sync flush of no data.
        if !agreement.compresses() || payload.is_empty() {
            return None;
        }
        if payload.len() < agreement.min_compress_size {
            return None;
        }
        let compressor = self.compressor.get_or_insert_with(|| {
            let level = Compression::new(agreement.level.min(9));
            Compress::new_with_window_bits(level, false, agreement.compress_bits)
        });
        let start = out.len();
        let flushed = deflate(compressor, payload, out);
        if !flushed || !out[start..].ends_with(&TAIL) {
            // flate2 does not fail on a healthy stream; if it ever does, send the message as it
            // is, and forget what the compressor saw so our window stays equal to the peer's.
            out.truncate(start);
            compressor.reset();
            return None;
        }
        // RFC 7692 7.2.1: remove the 0x00 0x00 0xff 0xff the sync flush ended with.
        out.truncate(out.len() - TAIL.len());
        if agreement.compress_no_context_takeover {
            // RFC 7692 7.2.1: with our no_context_takeover agreed, we MUST start compressing
            // each new message with an empty window.
            compressor.reset();
        }
        if out.len() - start >= payload.len() {
            // No gain. Sending the payload as it is means the peer never inflates it, so our
            // window must forget it too. Without context takeover that is already done. With
            // it, forgetting is free when the payload filled the whole window anyway; a
            // shorter one is sent compressed after all (a few bytes more), because the history
            // it keeps is what makes the following messages small.
            let window = 1usize << agreement.compress_bits;
            if agreement.compress_no_context_takeover || payload.len() >= window {
                out.truncate(start);
                compressor.reset();
                return None;
            }
        }
        Some(RSV1)
    }
}

/// Compresses `input` with a sync flush, appending the output to `out`. Returns false if
/// flate2 reports an error or stops making progress.
fn deflate(compressor: &mut Compress, mut input: &[u8], out: &mut BytesMut) -> bool {
    // Typical messages compress to well under half their size.
    let mut step = (input.len() / 2).clamp(MIN_STEP, MAX_STEP);
    loop {
        let start = out.len();
        out.resize(start + step, 0);
        let (in_before, out_before) = (compressor.total_in(), compressor.total_out());
        let result = compressor.compress(input, &mut out[start..], FlushCompress::Sync);
        let consumed = (compressor.total_in() - in_before) as usize;
        let produced = (compressor.total_out() - out_before) as usize;
        out.truncate(start + produced);
        if result.is_err() {
            return false;
        }
        input = input.get(consumed..).unwrap_or_default();
        // zlib: a flush is complete once a call returns with output space left over.
        if input.is_empty() && produced < step {
            return true;
        }
        if consumed == 0 && produced == 0 {
            return false;
        }
        step = (step * 2).min(MAX_STEP);
    }
}

/// One inflate call's worth of borrowed state.
struct Inflate<'a> {
    decompressor: &'a mut Decompress,
    tail_pending: &'a mut bool,
}

impl Inflate<'_> {
    /// Inflates all of `input`, appending to `out` and failing before `out` would pass `limit`.
    fn run(
        &mut self,
        mut input: &[u8],
        out: &mut BytesMut,
        limit: usize,
    ) -> Result<(), ProtocolError> {
        // Compressed text typically inflates to 3 to 10 times its size.
        let mut step = input.len().saturating_mul(4).clamp(MIN_STEP, MAX_STEP);
        loop {
            let start = out.len();
            let room = step.min(limit.saturating_sub(start));
            let (in_before, out_before) =
                (self.decompressor.total_in(), self.decompressor.total_out());
            let result = if room == 0 {
                // At the limit: any further byte of output is one too many. It goes to the
                // stack, never into `out`.
                let mut probe = [0u8; 1];
                self.decompressor
                    .decompress(input, &mut probe, FlushDecompress::None)
            } else {
                out.resize(start + room, 0);
                self.decompressor
                    .decompress(input, &mut out[start..], FlushDecompress::None)
            };
            let consumed = (self.decompressor.total_in() - in_before) as usize;
            let produced = (self.decompressor.total_out() - out_before) as usize;
            out.truncate(start + produced.min(room));
            let status = result.map_err(|_| ProtocolError::InvalidCompressedData)?;
            if produced > room {
                return Err(ProtocolError::MessageTooBig { limit });
            }
            input = input.get(consumed..).unwrap_or_default();
            if consumed > 0 {
                *self.tail_pending = true;
            }
            if status == Status::StreamEnd {
                // RFC 7692 7.2.3.4: a sender may end with a block with BFINAL set, which ends
                // the DEFLATE stream; anything after it (such as the 0x00 the RFC's example
                // carries) starts a new stream.
                self.decompressor.reset(false);
                *self.tail_pending = false;
                if input.is_empty() {
                    return Ok(());
                }
                continue;
            }
            if room > 0 && produced == room {
                // Output space ran out: more may be pending even with no input left.
                step = (step * 2).min(MAX_STEP);
                continue;
            }
            if input.is_empty() {
                return Ok(());
            }
            if consumed == 0 {
                // zlib only stops with room and input left at the end of the stream.
                return Err(ProtocolError::InvalidCompressedData);
            }
        }
    }
}

// The tests below take this file past the 600-line soft cap; the code above is about 320.
#[cfg(test)]
pub(super) mod test_support {
    use super::*;

    /// An endpoint with the given agreement, compressing every non-empty message.
    pub(in crate::extension::deflate) fn endpoint(
        compress_bits: u8,
        compress_no_context_takeover: bool,
        decompress_no_context_takeover: bool,
    ) -> PerMessageDeflate {
        endpoint_with_level(
            compress_bits,
            compress_no_context_takeover,
            decompress_no_context_takeover,
            1,
        )
    }

    pub(in crate::extension::deflate) fn endpoint_with_level(
        compress_bits: u8,
        compress_no_context_takeover: bool,
        decompress_no_context_takeover: bool,
        level: u32,
    ) -> PerMessageDeflate {
        PerMessageDeflate::new(Agreement {
            params: Params::default(),
            compress_bits,
            compress_no_context_takeover,
            decompress_no_context_takeover,
            level,
            min_compress_size: 0,
        })
    }

    /// Inflates one message given in `pieces`, as the connection feeds frames.
    pub(in crate::extension::deflate) fn inflate_message(
        ext: &mut dyn Extension,
        pieces: &[&[u8]],
        limit: usize,
    ) -> Result<Vec<u8>, ProtocolError> {
        assert!(ext.decode_start(RSV1));
        let mut out = BytesMut::new();
        for piece in pieces {
            ext.decode(piece, &mut out, limit)?;
            assert!(out.len() <= limit);
        }
        ext.decode_finish(&mut out, limit)?;
        assert!(out.len() <= limit);
        Ok(out.to_vec())
    }

    /// Compresses one message; `None` if it went out uncompressed.
    pub(in crate::extension::deflate) fn deflate_message(
        ext: &mut dyn Extension,
        payload: &[u8],
    ) -> Option<Vec<u8>> {
        let mut out = BytesMut::new();
        let rsv = ext.encode(payload, &mut out)?;
        assert_eq!(rsv, RSV1);
        Some(out.to_vec())
    }
}

#[cfg(test)]
mod rfc7692_7_2_compression {
    use super::test_support::*;
    use super::*;

    const HELLO: &[u8] = b"Hello";
    /// RFC 7692 7.2.3.1: "Hello" in one compressed DEFLATE block.
    const HELLO_COMPRESSED: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    /// RFC 7692 7.2.3.2: the second "Hello", referring back to the first.
    const HELLO_AGAIN: [u8; 5] = [0xf2, 0x00, 0x11, 0x00, 0x00];
    const UNLIMITED: usize = usize::MAX;

    #[test]
    fn hello_compresses_to_the_rfc_bytes() {
        let mut ext = endpoint(15, false, false);
        assert_eq!(
            deflate_message(&mut ext, HELLO),
            Some(HELLO_COMPRESSED.to_vec())
        );
    }

    #[test]
    fn context_takeover_shares_the_window_across_messages() {
        // RFC 7692 7.2.3.2, at zlib's default level, gives the RFC's bytes.
        let mut ext = endpoint_with_level(15, false, false, 6);
        assert_eq!(
            deflate_message(&mut ext, HELLO),
            Some(HELLO_COMPRESSED.to_vec())
        );
        assert_eq!(deflate_message(&mut ext, HELLO), Some(HELLO_AGAIN.to_vec()));
        // Level 1 finds an encoding shorter still; it too refers back to the first message.
        let mut ext = endpoint(15, false, false);
        assert_eq!(
            deflate_message(&mut ext, HELLO),
            Some(HELLO_COMPRESSED.to_vec())
        );
        let again = deflate_message(&mut ext, HELLO).unwrap();
        assert!(again.len() <= HELLO_AGAIN.len(), "{again:02x?}");
        let mut shared = endpoint(15, false, false);
        inflate_message(&mut shared, &[&HELLO_COMPRESSED], UNLIMITED).unwrap();
        assert_eq!(
            inflate_message(&mut shared, &[&again], UNLIMITED).unwrap(),
            HELLO
        );
        let mut fresh = endpoint(15, false, false);
        let alone = inflate_message(&mut fresh, &[&again], UNLIMITED);
        assert_eq!(alone, Err(ProtocolError::InvalidCompressedData));
    }

    #[test]
    fn no_context_takeover_starts_every_message_afresh() {
        let message = b"Hello, Hello, Hello, Hello, Hello!";
        let mut ext = endpoint(15, true, false);
        let first = deflate_message(&mut ext, message).unwrap();
        for _ in 0..3 {
            assert_eq!(deflate_message(&mut ext, message).unwrap(), first);
        }
        let mut peer = endpoint(15, false, true);
        for _ in 0..3 {
            assert_eq!(
                inflate_message(&mut peer, &[&first], UNLIMITED).unwrap(),
                message
            );
        }
    }

    #[test]
    fn decodes_the_rfc_messages_with_a_shared_window() {
        let mut ext = endpoint(15, false, false);
        let first = inflate_message(&mut ext, &[&HELLO_COMPRESSED], UNLIMITED);
        assert_eq!(first.unwrap(), HELLO);
        let second = inflate_message(&mut ext, &[&HELLO_AGAIN], UNLIMITED);
        assert_eq!(second.unwrap(), HELLO);
    }

    #[test]
    fn decodes_a_fragmented_message() {
        // RFC 7692 7.2.3.1: the same bytes split over two frames.
        let mut ext = endpoint(15, false, false);
        let pieces: [&[u8]; 2] = [&[0xf2, 0x48, 0xcd], &[0xc9, 0xc9, 0x07, 0x00]];
        assert_eq!(
            inflate_message(&mut ext, &pieces, UNLIMITED).unwrap(),
            HELLO
        );
        // And byte by byte.
        let bytes: Vec<&[u8]> = HELLO_AGAIN.chunks(1).collect();
        assert_eq!(inflate_message(&mut ext, &bytes, UNLIMITED).unwrap(), HELLO);
    }

    #[test]
    fn decodes_a_block_with_no_compression() {
        // RFC 7692 7.2.3.3
        let payload = [
            0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ];
        let mut ext = endpoint(15, false, false);
        assert_eq!(
            inflate_message(&mut ext, &[&payload], UNLIMITED).unwrap(),
            HELLO
        );
        assert_eq!(
            inflate_message(&mut ext, &[&HELLO_AGAIN], UNLIMITED).unwrap(),
            HELLO
        );
    }

    #[test]
    fn decodes_a_block_with_bfinal_set_and_carries_on() {
        // RFC 7692 7.2.3.4
        let payload = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
        let mut ext = endpoint(15, false, false);
        assert_eq!(
            inflate_message(&mut ext, &[&payload], UNLIMITED).unwrap(),
            HELLO
        );
        // The stream ended; the next message starts a new one.
        assert_eq!(
            inflate_message(&mut ext, &[&HELLO_COMPRESSED], UNLIMITED).unwrap(),
            HELLO
        );
        // Without the trailing 0x00 the RFC asks for, the message still ends cleanly.
        let bare = &payload[..7];
        assert_eq!(
            inflate_message(&mut ext, &[bare], UNLIMITED).unwrap(),
            HELLO
        );
        assert_eq!(
            inflate_message(&mut ext, &[&HELLO_COMPRESSED], UNLIMITED).unwrap(),
            HELLO
        );
    }

    #[test]
    fn decodes_two_blocks_in_one_message() {
        // RFC 7692 7.2.3.5
        let payload = [
            0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
        ];
        let mut ext = endpoint(15, false, false);
        assert_eq!(
            inflate_message(&mut ext, &[&payload], UNLIMITED).unwrap(),
            HELLO
        );
    }

    #[test]
    fn decodes_an_empty_block() {
        // RFC 7692 7.2.3.6: a lone 0x00 is an empty stored block once the tail is appended.
        let mut ext = endpoint(15, false, false);
        assert_eq!(
            inflate_message(&mut ext, &[&HELLO_COMPRESSED], UNLIMITED).unwrap(),
            HELLO
        );
        assert_eq!(
            inflate_message(&mut ext, &[&[0x00]], UNLIMITED).unwrap(),
            b""
        );
        // The window survived the empty message.
        assert_eq!(
            inflate_message(&mut ext, &[&HELLO_AGAIN], UNLIMITED).unwrap(),
            HELLO
        );
    }

    #[test]
    fn an_empty_compressed_payload_is_an_empty_message() {
        // Not valid DEFLATE once the tail is appended; we read it as empty rather than leave
        // half a stored-block header in the inflater.
        let mut ext = endpoint(15, false, false);
        assert_eq!(
            inflate_message(&mut ext, &[&HELLO_COMPRESSED], UNLIMITED).unwrap(),
            HELLO
        );
        assert_eq!(inflate_message(&mut ext, &[], UNLIMITED).unwrap(), b"");
        assert_eq!(
            inflate_message(&mut ext, &[&[], &[]], UNLIMITED).unwrap(),
            b""
        );
        assert_eq!(
            inflate_message(&mut ext, &[&HELLO_AGAIN], UNLIMITED).unwrap(),
            HELLO
        );
    }

    #[test]
    fn peer_no_context_takeover_inflates_each_message_with_an_empty_window() {
        let mut ext = endpoint(15, false, true);
        assert_eq!(
            inflate_message(&mut ext, &[&HELLO_COMPRESSED], UNLIMITED).unwrap(),
            HELLO
        );
        assert_eq!(
            inflate_message(&mut ext, &[&HELLO_COMPRESSED], UNLIMITED).unwrap(),
            HELLO
        );
        // A message that refers back to the previous one breaks the peer's promise.
        let broken = inflate_message(&mut ext, &[&HELLO_AGAIN], UNLIMITED);
        assert_eq!(broken, Err(ProtocolError::InvalidCompressedData));
    }

    #[test]
    fn corrupt_data_fails_and_the_failure_sticks() {
        let mut ext = endpoint(15, false, false);
        // BTYPE 11 is reserved (RFC 1951 3.2.3).
        let corrupt = inflate_message(&mut ext, &[&[0xff, 0xff, 0xff]], UNLIMITED);
        assert_eq!(corrupt, Err(ProtocolError::InvalidCompressedData));
        let later = inflate_message(&mut ext, &[&HELLO_COMPRESSED], UNLIMITED);
        assert_eq!(later, Err(ProtocolError::InvalidCompressedData));
        let mut out = BytesMut::new();
        assert_eq!(
            ext.decode_finish(&mut out, UNLIMITED),
            Err(ProtocolError::InvalidCompressedData)
        );
    }

    #[test]
    fn stored_block_with_bad_lengths_is_invalid() {
        // LEN 5 with an NLEN that is not its complement.
        let payload = [
            0x00, 0x05, 0x00, 0xfa, 0xfe, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ];
        let mut ext = endpoint(15, false, false);
        let result = inflate_message(&mut ext, &[&payload], UNLIMITED);
        assert_eq!(result, Err(ProtocolError::InvalidCompressedData));
    }

    #[test]
    fn rsv1_marks_a_compressed_message() {
        let mut ext = endpoint(15, false, false);
        assert_eq!(ext.name(), "permessage-deflate");
        assert_eq!(ext.reserved_bits(), RSV1);
        assert!(ext.decode_start(RSV1));
        assert!(!ext.decode_start(0));
    }
}

#[cfg(test)]
mod limits {
    use super::test_support::*;
    use super::*;

    const MIB: usize = 1 << 20;

    /// `copies` MiB of zeros as one DEFLATE stream: one sync-flushed MiB, repeated (each copy
    /// continues the stream, referring back to the zeros before it).
    fn zeros_bomb(copies: usize) -> Vec<u8> {
        let mut compressor = Compress::new(Compression::best(), false);
        let mut one = Vec::with_capacity(MIB);
        let status = compressor.compress_vec(&vec![0; MIB], &mut one, FlushCompress::Sync);
        assert_eq!(status.unwrap(), Status::Ok);
        assert!(one.ends_with(&TAIL));
        one.repeat(copies)
    }

    #[test]
    fn a_compression_bomb_fails_at_the_limit_without_growing_past_it() {
        let bomb = zeros_bomb(100);
        assert!(bomb.len() < 200 * 1024, "{} bytes", bomb.len());
        let mut ext = endpoint(15, false, false);
        assert!(ext.decode_start(RSV1));
        let mut out = BytesMut::new();
        let mut result = Ok(());
        for piece in bomb.chunks(64 * 1024) {
            result = ext.decode(piece, &mut out, MIB);
            assert!(out.len() <= MIB);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(ProtocolError::MessageTooBig { limit: MIB }));
        // The output grew in bounded steps: BytesMut doubles its capacity, no more.
        assert!(out.capacity() <= 2 * MIB + MAX_STEP, "{}", out.capacity());
        assert!(out.iter().all(|&b| b == 0));
    }

    #[test]
    fn a_bomb_in_one_piece_fails_the_same_way() {
        let bomb = zeros_bomb(100);
        let mut ext = endpoint(15, false, false);
        let result = inflate_message(&mut ext, &[&bomb], MIB);
        assert_eq!(result, Err(ProtocolError::MessageTooBig { limit: MIB }));
    }

    #[test]
    fn a_message_exactly_at_the_limit_passes() {
        let message = vec![7u8; 100_000];
        let mut sender = endpoint(15, true, false);
        let compressed = deflate_message(&mut sender, &message).unwrap();
        let mut exact = endpoint(15, false, false);
        assert_eq!(
            inflate_message(&mut exact, &[&compressed], 100_000).unwrap(),
            message
        );
        let mut short = endpoint(15, false, false);
        let result = inflate_message(&mut short, &[&compressed], 99_999);
        assert_eq!(result, Err(ProtocolError::MessageTooBig { limit: 99_999 }));
    }

    #[test]
    fn the_limit_counts_what_out_already_holds() {
        let mut sender = endpoint(15, true, false);
        let compressed = deflate_message(&mut sender, &[1; 1000]).unwrap();
        let mut ext = endpoint(15, false, false);
        assert!(ext.decode_start(RSV1));
        let mut out = BytesMut::from(&[0u8; 500][..]);
        let result = ext.decode(&compressed, &mut out, 1499);
        let result = result.and_then(|()| ext.decode_finish(&mut out, 1499));
        assert_eq!(result, Err(ProtocolError::MessageTooBig { limit: 1499 }));
        assert!(out.len() <= 1499);
    }
}

#[cfg(test)]
mod encode {
    use super::test_support::*;
    use super::*;

    const UNLIMITED: usize = usize::MAX;

    /// Bytes that do not compress (a linear congruential generator's high bytes).
    fn noise(len: usize, mut seed: u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                (seed >> 56) as u8
            })
            .collect()
    }

    #[test]
    fn short_and_empty_messages_go_uncompressed() {
        let mut ext = PerMessageDeflate::new(Agreement {
            min_compress_size: 32,
            ..endpoint(15, false, false).agreement
        });
        let mut out = BytesMut::from(&b"queued"[..]);
        assert_eq!(ext.encode(&[b'a'; 31], &mut out), None);
        assert_eq!(ext.encode(b"", &mut out), None);
        assert_eq!(&out[..], b"queued");
        assert_eq!(ext.encode(&[b'a'; 32], &mut out), Some(RSV1));
        let mut peer = endpoint(15, false, false);
        let inflated = inflate_message(&mut peer, &[&out[6..]], UNLIMITED).unwrap();
        assert_eq!(inflated, [b'a'; 32]);
        // Empty is never compressed, even with no threshold.
        assert_eq!(endpoint(15, false, false).encode(b"", &mut out), None);
    }

    #[test]
    fn output_is_appended_after_what_out_holds() {
        let mut ext = endpoint(15, false, false);
        let mut out = BytesMut::from(&b"header"[..]);
        assert_eq!(ext.encode(b"Hello", &mut out), Some(RSV1));
        assert_eq!(&out[..6], b"header");
        assert_eq!(&out[6..], [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    }

    #[test]
    fn incompressible_messages_go_uncompressed_without_context_takeover() {
        let mut ext = endpoint(15, true, false);
        let mut out = BytesMut::new();
        assert_eq!(ext.encode(&noise(1000, 1), &mut out), None);
        assert!(out.is_empty());
    }

    #[test]
    fn a_large_incompressible_message_goes_uncompressed_and_is_forgotten() {
        let mut ext = endpoint(15, false, false);
        let payload = noise(40_000, 2);
        let mut out = BytesMut::new();
        assert_eq!(ext.encode(&payload, &mut out), None);
        assert!(out.is_empty());
        // The peer never saw that payload, so the next message must not refer to it (its end
        // would still be in a window that remembered it).
        let next = payload[payload.len() - 1000..].repeat(2);
        let compressed = deflate_message(&mut ext, &next).unwrap();
        let mut peer = endpoint(15, false, false);
        assert_eq!(
            inflate_message(&mut peer, &[&compressed], UNLIMITED).unwrap(),
            next
        );
    }

    #[test]
    fn a_small_incompressible_message_keeps_the_shared_window() {
        let mut ext = endpoint(15, false, false);
        let mut peer = endpoint(15, false, false);
        let payload = noise(100, 3);
        let compressed = deflate_message(&mut ext, &payload).unwrap();
        assert!(compressed.len() >= payload.len());
        assert_eq!(
            inflate_message(&mut peer, &[&compressed], UNLIMITED).unwrap(),
            payload
        );
        // Both windows hold it, so repeating it costs a few bytes.
        let again = deflate_message(&mut ext, &payload).unwrap();
        assert!(again.len() < 10, "{}", again.len());
        assert_eq!(
            inflate_message(&mut peer, &[&again], UNLIMITED).unwrap(),
            payload
        );
    }

    #[test]
    fn large_messages_round_trip() {
        let payload: Vec<u8> = (0..300_000u32)
            .map(|i| (i % 251) as u8 ^ (i / 4096) as u8)
            .collect();
        let mut ext = endpoint(15, false, false);
        let compressed = deflate_message(&mut ext, &payload).unwrap();
        assert!(compressed.len() < payload.len() / 10);
        let mut peer = endpoint(15, false, false);
        let pieces: Vec<&[u8]> = compressed.chunks(777).collect();
        assert_eq!(
            inflate_message(&mut peer, &pieces, UNLIMITED).unwrap(),
            payload
        );
    }
}

#[cfg(test)]
mod window_bits {
    use super::test_support::*;
    use super::*;

    #[test]
    fn flate2_refuses_a_raw_window_of_8_bits() {
        // The evidence behind the module documentation's decision: flate2 asserts 9..=15 (and
        // zlib-rs itself answers StreamError to a raw windowBits of 8). If this starts to
        // pass, revisit compressing under an 8-bit agreement.
        let compress = std::panic::catch_unwind(|| {
            Compress::new_with_window_bits(Compression::new(1), false, 8)
        });
        assert!(compress.is_err());
        let decompress = std::panic::catch_unwind(|| Decompress::new_with_window_bits(false, 8));
        assert!(decompress.is_err());
    }

    #[test]
    fn an_8_bit_agreement_sends_uncompressed_and_still_inflates() {
        let mut ext = endpoint(8, false, false);
        let mut out = BytesMut::new();
        assert_eq!(ext.encode(&[b'a'; 10_000], &mut out), None);
        assert!(out.is_empty());
        let mut peer = endpoint(9, false, false);
        let compressed = deflate_message(&mut peer, &[b'a'; 10_000]).unwrap();
        let inflated = inflate_message(&mut ext, &[&compressed], usize::MAX).unwrap();
        assert_eq!(inflated, [b'a'; 10_000]);
    }

    #[test]
    fn every_compressing_window_round_trips() {
        let payload: Vec<u8> = b"window bits, ".repeat(5000);
        for bits in 9..=15 {
            let mut ext = endpoint(bits, false, false);
            let mut peer = endpoint(15, false, false);
            for _ in 0..3 {
                let compressed = deflate_message(&mut ext, &payload).unwrap();
                let inflated = inflate_message(&mut peer, &[&compressed], usize::MAX);
                assert_eq!(inflated.unwrap(), payload, "{bits} bits");
            }
        }
    }
}

#[cfg(test)]
mod round_trip {
    use proptest::prelude::*;

    use super::test_support::*;

    fn payload() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..2000),
            // Compressible: few symbols, long enough to need several output steps.
            prop::collection::vec(prop::sample::select(b"ab {}\"".to_vec()), 0..40_000),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn inflate_of_deflate_is_identity(
            messages in prop::collection::vec(payload(), 1..5),
            bits in prop::sample::select(vec![8u8, 9, 10, 12, 15]),
            no_context_takeover: bool,
            peer_resets: bool,
            piece in 1usize..5000,
        ) {
            let mut sender = endpoint(bits, no_context_takeover, false);
            // A receiver may reset only when the sender does (RFC 7692 7.2.2).
            let mut receiver = endpoint(15, false, no_context_takeover && peer_resets);
            for message in &messages {
                match deflate_message(&mut sender, message) {
                    Some(compressed) => {
                        let pieces: Vec<&[u8]> = compressed.chunks(piece).collect();
                        let inflated = inflate_message(&mut receiver, &pieces, message.len());
                        prop_assert_eq!(&inflated.unwrap(), message);
                    }
                    None => prop_assert!(bits == 8 || message.len() <= 2000),
                }
            }
        }
    }
}
