//! UTF-8 for text messages (RFC 6455 5.6 and 8.1).
//!
//! Text is validated once, at the edge, and the result is proven by a type: [`Utf8Bytes`] can
//! only be built from bytes that passed validation. Messages that arrive in pieces (fragments,
//! or a frame split across reads) go through [`Utf8Validator`], which fails as soon as the bytes
//! seen so far cannot be the start of valid UTF-8, rather than at the end of the message.

use std::fmt;

use bytes::Bytes;

/// Bytes that are valid UTF-8, cheap to clone and to slice (a [`Bytes`] underneath).
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Utf8Bytes(Bytes);

/// The bytes were not valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8;

impl fmt::Display for InvalidUtf8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid UTF-8")
    }
}

impl std::error::Error for InvalidUtf8 {}

impl Utf8Bytes {
    /// A `Utf8Bytes` for a static string, without copying.
    pub const fn from_static(text: &'static str) -> Self {
        Self(Bytes::from_static(text.as_bytes()))
    }

    /// Wraps bytes that this crate has already validated (incrementally, as they arrived).
    pub(crate) fn from_validated(bytes: Bytes) -> Self {
        debug_assert!(simdutf8::basic::from_utf8(&bytes).is_ok());
        Self(bytes)
    }

    /// The text.
    ///
    /// This crate has no `unsafe` code, so it cannot skip the check that turns bytes into a
    /// `str`; the check runs at SIMD speed (many GB/s) and the common paths of the stack
    /// (forwarding, echoing, parsing JSON from bytes) never need it: use
    /// [`as_bytes`](Self::as_bytes) or [`into_bytes`](Self::into_bytes) there.
    pub fn as_str(&self) -> &str {
        // Never falls back: every constructor validated these bytes and they are immutable.
        simdutf8::basic::from_utf8(&self.0).unwrap_or_default()
    }

    /// The UTF-8 bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The underlying buffer, shared.
    pub(crate) fn as_shared(&self) -> &Bytes {
        &self.0
    }

    /// The underlying buffer.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = InvalidUtf8;

    fn try_from(bytes: Bytes) -> Result<Self, InvalidUtf8> {
        if !is_valid(&bytes) {
            return Err(InvalidUtf8);
        }
        Ok(Self(bytes))
    }
}

impl TryFrom<Vec<u8>> for Utf8Bytes {
    type Error = InvalidUtf8;

    fn try_from(bytes: Vec<u8>) -> Result<Self, InvalidUtf8> {
        Self::try_from(Bytes::from(bytes))
    }
}

impl From<String> for Utf8Bytes {
    fn from(text: String) -> Self {
        Self(Bytes::from(text))
    }
}

impl From<&str> for Utf8Bytes {
    fn from(text: &str) -> Self {
        Self(Bytes::copy_from_slice(text.as_bytes()))
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(text: Utf8Bytes) -> Self {
        text.0
    }
}

impl AsRef<[u8]> for Utf8Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Borrowed bytes that are valid UTF-8: the borrowed counterpart of [`Utf8Bytes`], as lent by
/// [`MessageRef::Text`](crate::MessageRef::Text).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Utf8Ref<'a>(&'a [u8]);

impl<'a> Utf8Ref<'a> {
    /// Wraps bytes that this crate has already validated.
    pub(crate) fn from_validated(bytes: &'a [u8]) -> Self {
        debug_assert!(simdutf8::basic::from_utf8(bytes).is_ok());
        Self(bytes)
    }

    /// The text. As with [`Utf8Bytes::as_str`], this runs the check that turns bytes into a
    /// `str` again; [`as_bytes`](Self::as_bytes) is free.
    pub fn as_str(&self) -> &'a str {
        // Never falls back: every constructor validated these bytes and they are immutable.
        simdutf8::basic::from_utf8(self.0).unwrap_or_default()
    }

    /// The UTF-8 bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> From<&'a str> for Utf8Ref<'a> {
    fn from(text: &'a str) -> Self {
        Self(text.as_bytes())
    }
}

impl<'a> From<&'a Utf8Bytes> for Utf8Ref<'a> {
    fn from(text: &'a Utf8Bytes) -> Self {
        Self(text.as_bytes())
    }
}

impl<'a> TryFrom<&'a [u8]> for Utf8Ref<'a> {
    type Error = InvalidUtf8;

    fn try_from(bytes: &'a [u8]) -> Result<Self, InvalidUtf8> {
        if !is_valid(bytes) {
            return Err(InvalidUtf8);
        }
        Ok(Self(bytes))
    }
}

impl From<Utf8Ref<'_>> for Utf8Bytes {
    fn from(text: Utf8Ref<'_>) -> Self {
        Self(Bytes::copy_from_slice(text.0))
    }
}

impl AsRef<[u8]> for Utf8Ref<'_> {
    fn as_ref(&self) -> &[u8] {
        self.0
    }
}

impl PartialEq<str> for Utf8Ref<'_> {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for Utf8Ref<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl fmt::Debug for Utf8Ref<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Ref<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An incremental UTF-8 validator for text that arrives in pieces.
///
/// It keeps at most three bytes of an unfinished character between calls, so memory stays
/// constant whatever the message size.
#[derive(Debug, Clone, Default)]
pub struct Utf8Validator {
    pending: [u8; 4],
    pending_len: u8,
}

impl Utf8Validator {
    /// A validator at the start of a message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Validates the next piece of the message.
    ///
    /// Fails as soon as the bytes seen so far cannot begin a valid UTF-8 string, even if the
    /// offending character is not complete yet (RFC 6455 8.1: invalid text MUST fail the
    /// connection; Autobahn section 6 checks that this happens without waiting for the end).
    pub fn feed(&mut self, mut input: &[u8]) -> Result<(), InvalidUtf8> {
        if self.pending_len > 0 {
            input = self.complete_pending(input)?;
            if self.pending_len > 0 {
                // The input ran out before the pending character did.
                return Ok(());
            }
        }
        if is_valid(input) {
            return Ok(());
        }
        // Slow path: find out whether the error is an unfinished last character.
        match simdutf8::compat::from_utf8(input) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(InvalidUtf8),
            Err(e) => {
                let tail = &input[e.valid_up_to()..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = tail.len() as u8;
                Ok(())
            }
        }
    }

    /// Ends the message: an unfinished character at the end is an error.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let unfinished = self.pending_len > 0;
        self.pending_len = 0;
        if unfinished {
            Err(InvalidUtf8)
        } else {
            Ok(())
        }
    }

    /// Adds bytes from `input` to the pending character; returns the rest of `input`.
    fn complete_pending<'a>(&mut self, input: &'a [u8]) -> Result<&'a [u8], InvalidUtf8> {
        let have = usize::from(self.pending_len);
        let want = sequence_len(self.pending[0]);
        let take = (want - have).min(input.len());
        self.pending[have..have + take].copy_from_slice(&input[..take]);
        let len = have + take;
        match simdutf8::compat::from_utf8(&self.pending[..len]) {
            Ok(_) => self.pending_len = 0,
            Err(e) if e.error_len().is_some() => return Err(InvalidUtf8),
            Err(_) => self.pending_len = len as u8,
        }
        Ok(&input[take..])
    }
}

/// Below this length, text is first checked for ASCII a word at a time.
const SHORT_TEXT: usize = 64;

/// Whether `bytes` are valid UTF-8.
///
/// simdutf8 hands inputs shorter than its SIMD block to `std`'s byte-wise validator, which
/// costs about a hundred instructions for a 16-byte message; short text is nearly always ASCII
/// (chat lines, small JSON), which `is_ascii` settles a word at a time.
fn is_valid(bytes: &[u8]) -> bool {
    (bytes.len() < SHORT_TEXT && bytes.is_ascii()) || simdutf8::basic::from_utf8(bytes).is_ok()
}

/// The length of the sequence a leading byte starts. Only called on bytes that the validator
/// already accepted as the start of an unfinished sequence, so 1 never happens in practice.
fn sequence_len(first: u8) -> usize {
    match first {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

#[cfg(test)]
mod rfc6455_8_1_utf8 {
    use super::*;

    fn feed_in_pieces(bytes: &[u8], piece: usize) -> Result<(), InvalidUtf8> {
        let mut v = Utf8Validator::new();
        for chunk in bytes.chunks(piece.max(1)) {
            v.feed(chunk)?;
        }
        v.finish()
    }

    #[test]
    fn valid_text_passes_in_any_split() {
        let text = "κόσμε, hello, 😀 mixed ✓".as_bytes();
        for piece in 1..=text.len() {
            assert_eq!(feed_in_pieces(text, piece), Ok(()), "piece {piece}");
        }
    }

    #[test]
    fn invalid_byte_fails_at_once() {
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(b"abc\xff"), Err(InvalidUtf8));
    }

    #[test]
    fn impossible_prefix_fails_before_the_character_ends() {
        // ED A0 would start a UTF-16 surrogate: invalid as soon as the second byte is seen.
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(b"\xed"), Ok(()));
        assert_eq!(v.feed(b"\xa0"), Err(InvalidUtf8));
        // F4 90 would be above U+10FFFF.
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(b"ok\xf4"), Ok(()));
        assert_eq!(v.feed(b"\x90"), Err(InvalidUtf8));
    }

    #[test]
    fn truncated_character_fails_at_finish() {
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(b"\xe2\x82"), Ok(()));
        assert_eq!(v.finish(), Err(InvalidUtf8));
    }

    #[test]
    fn character_split_over_three_pieces() {
        let mut v = Utf8Validator::new();
        for piece in [&b"\xf0"[..], b"\x9f", b"\x98", b"\x80!"] {
            assert_eq!(v.feed(piece), Ok(()));
        }
        assert_eq!(v.finish(), Ok(()));
    }

    #[test]
    fn utf8_bytes_rejects_invalid_input() {
        assert!(Utf8Bytes::try_from(Bytes::from_static(b"\xc3\x28")).is_err());
        assert_eq!(
            Utf8Bytes::try_from(Bytes::from_static(b"ok")).unwrap(),
            "ok"
        );
    }
}
