//! What the load sends: letter patterns of a fixed size, or a JSON price-ticker stream.
//!
//! Every message is a pure function of its sequence number, so an echo can be checked byte
//! for byte without keeping anything but what is in flight, and two runs send the same bytes.

use bytes::{BufMut, Bytes, BytesMut};
use switchboard::{Message, MessageRef, Utf8Ref};

/// The kinds of message content `--payload` chooses from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Kind {
    /// `--size` bytes of ASCII letters with the sequence number in front. Compresses to almost
    /// nothing, so it measures framing, not a compressor.
    Letters,
    /// JSON price-ticker updates like a market-data feed sends (about 200 bytes each): repeated
    /// keys and symbols, varying digits. A message holds as many updates as fit in `--size`
    /// bytes, at least one. Shows what permessage-deflate does to realistic traffic.
    Ticker,
}

impl Kind {
    /// The name used in reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Letters => "letters",
            Kind::Ticker => "ticker",
        }
    }
}

/// The messages a run sends, text or binary.
#[derive(Debug, Clone)]
pub(crate) struct Payload {
    kind: Kind,
    binary: bool,
    size: usize,
    /// The letter pattern every letters message starts from.
    template: Bytes,
}

impl Payload {
    pub(crate) fn new(kind: Kind, size: usize, binary: bool) -> Self {
        let template: Vec<u8> = match kind {
            Kind::Letters => (0..size).map(|i| b'a' + (i % 26) as u8).collect(),
            Kind::Ticker => Vec::new(),
        };
        Self {
            kind,
            binary,
            size,
            template: template.into(),
        }
    }

    /// The size every message has, when they all have one (letters do, ticker messages vary).
    pub(crate) fn fixed_size(&self) -> Option<usize> {
        (self.kind == Kind::Letters).then_some(self.size)
    }

    /// The message carrying `bytes`.
    pub(crate) fn wrap(&self, bytes: Bytes) -> Message {
        if self.binary {
            return Message::Binary(bytes);
        }
        // ASCII by construction (see `bytes`), so the error path is never taken.
        match switchboard::Utf8Bytes::try_from(bytes) {
            Ok(text) => Message::Text(text),
            Err(_) => Message::binary(Bytes::new()),
        }
    }
}

/// The low hexadecimal digits of `seq` that fit in `len` bytes (at most 16): all 16 digits,
/// and where the ones that fit start.
fn hex_digits(seq: u64, len: usize) -> ([u8; 16], usize) {
    (hex(seq), 16 - len.min(16))
}

/// `seq` as 16 lowercase hexadecimal digits, computed on all digits at once: every message
/// sent and every echo checked needs one, so this is on the load generator's hot path.
fn hex(seq: u64) -> [u8; 16] {
    // Spread the 16 nibbles into the 16 bytes of a u128, the lowest nibble in the lowest byte.
    let mut nibbles = u128::from(seq);
    nibbles = (nibbles | (nibbles << 32)) & 0x0000_0000_ffff_ffff_0000_0000_ffff_ffff;
    nibbles = (nibbles | (nibbles << 16)) & 0x0000_ffff_0000_ffff_0000_ffff_0000_ffff;
    nibbles = (nibbles | (nibbles << 8)) & 0x00ff_00ff_00ff_00ff_00ff_00ff_00ff_00ff;
    nibbles = (nibbles | (nibbles << 4)) & 0x0f0f_0f0f_0f0f_0f0f_0f0f_0f0f_0f0f_0f0f;
    let ones = u128::MAX / 0xff;
    // 1 in each byte whose nibble is 10 or more: adding 6 carries it into bit 4.
    let letters = ((nibbles + 6 * ones) >> 4) & ones;
    // '0' is 0x30, and 'a' comes 39 after '0' + 10.
    (nibbles + 0x30 * ones + 39 * letters).to_be_bytes()
}

/// What the echo of a sent message must equal: a letters message is known by its sequence
/// number alone, a ticker message is kept.
#[derive(Debug, Clone)]
pub(crate) enum Sent {
    Letters(u64),
    Bytes(Bytes),
}

/// Builds the messages of one connection, one at a time. Letters are written over one buffer,
/// so a connection sends and checks them without allocating per message: at deep pipelines
/// the load generator's core saturates before a fast server's, and every instruction it
/// saves per message leaves more of the measurement to the server.
#[derive(Debug)]
pub(crate) struct Composer {
    payload: Payload,
    /// The letters message last composed: the template with its sequence number in front.
    letters: Vec<u8>,
    /// The ticker message last composed.
    ticker: Bytes,
}

impl Composer {
    pub(crate) fn new(payload: Payload) -> Self {
        let letters = payload.template.to_vec();
        Self {
            payload,
            letters,
            ticker: Bytes::new(),
        }
    }

    /// Composes message number `seq`, which [`message`](Self::message) then lends, and
    /// returns what its echo must equal.
    pub(crate) fn compose(&mut self, seq: u64) -> Sent {
        match self.payload.kind {
            Kind::Letters => {
                let (digits, start) = hex_digits(seq, self.letters.len());
                self.letters[..16 - start].copy_from_slice(&digits[start..]);
                Sent::Letters(seq)
            }
            Kind::Ticker => {
                self.ticker = ticker(seq, self.payload.size);
                Sent::Bytes(self.ticker.clone())
            }
        }
    }

    /// The message last composed, lent.
    pub(crate) fn message(&self) -> MessageRef<'_> {
        match self.payload.kind {
            Kind::Letters => self.lend(&self.letters),
            Kind::Ticker => self.lend(&self.ticker),
        }
    }

    /// `bytes` as a text or a binary message.
    fn lend<'a>(&self, bytes: &'a [u8]) -> MessageRef<'a> {
        if self.payload.binary {
            return MessageRef::Binary(bytes);
        }
        // ASCII by construction, so the check never fails.
        Utf8Ref::try_from(bytes).map_or(MessageRef::Binary(&[]), MessageRef::Text)
    }

    /// The message last composed, as an owned message to queue.
    pub(crate) fn owned_message(&self) -> Message {
        match self.payload.kind {
            Kind::Letters => self.payload.wrap(Bytes::copy_from_slice(&self.letters)),
            Kind::Ticker => self.payload.wrap(self.ticker.clone()),
        }
    }

    /// The payload the messages are made of.
    pub(crate) fn payload(&self) -> &Payload {
        &self.payload
    }

    /// The length of the message `sent` stands for.
    pub(crate) fn len(&self, sent: &Sent) -> usize {
        match sent {
            Sent::Letters(_) => self.payload.template.len(),
            Sent::Bytes(bytes) => bytes.len(),
        }
    }

    /// Whether `echo` is the message `sent` stands for.
    pub(crate) fn matches(&self, sent: &Sent, echo: &[u8]) -> bool {
        match sent {
            Sent::Letters(seq) => {
                let template = &self.payload.template[..];
                let (digits, start) = hex_digits(*seq, template.len());
                let count = 16 - start;
                echo.len() == template.len()
                    && echo[..count] == digits[start..]
                    && echo[count..] == template[count..]
            }
            Sent::Bytes(bytes) => echo == &bytes[..],
        }
    }
}

/// Instruments of the ticker: symbol, a typical price, and the decimals it is quoted with.
const INSTRUMENTS: [(&str, f64, usize); 12] = [
    ("BTC-USD", 67_250.0, 2),
    ("ETH-USD", 3_412.5, 2),
    ("SOL-USD", 148.2, 3),
    ("XRP-USD", 0.5231, 5),
    ("DOGE-USD", 0.1284, 6),
    ("AAPL", 189.84, 2),
    ("MSFT", 421.9, 2),
    ("NVDA", 903.56, 2),
    ("TSLA", 177.29, 2),
    ("EUR-USD", 1.0842, 5),
    ("GBP-USD", 1.2671, 5),
    ("USD-JPY", 151.37, 3),
];

/// Milliseconds since the epoch of the first update: a fixed instant, so runs are repeatable.
const FIRST_TIMESTAMP_MS: u64 = 1_717_000_000_000;

/// Ticker message number `seq`: one update, or a JSON array of as many as fit in `size` bytes.
fn ticker(seq: u64, size: usize) -> Bytes {
    let first = update(seq, 0);
    if first.len() >= size {
        return first.into();
    }
    let mut out = BytesMut::with_capacity(size);
    out.put_u8(b'[');
    out.put_slice(first.as_bytes());
    for index in 1.. {
        let next = update(seq, index);
        // The comma and the closing bracket must fit too.
        if out.len() + 1 + next.len() + 1 > size {
            break;
        }
        out.put_u8(b',');
        out.put_slice(next.as_bytes());
    }
    out.put_u8(b']');
    out.freeze()
}

/// Update `index` of message `seq`, as one JSON object. Prices are strings, as many exchanges
/// send them, so their decimals are exact.
fn update(seq: u64, index: u64) -> String {
    let mut random = SplitMix64(seq.wrapping_mul(1_000_003).wrapping_add(index));
    let (symbol, base, decimals) = INSTRUMENTS[(random.next() % INSTRUMENTS.len() as u64) as usize];
    // Within 2% of the typical price, a spread of 1 to 20 basis points.
    let last = base * (1.0 + random.unit(-0.02, 0.02));
    let half_spread = last * random.unit(0.000_05, 0.001);
    let size = random.unit(0.001, 250.0);
    let volume = base.recip() * random.unit(1e6, 5e8);
    let change = random.unit(-6.0, 6.0);
    let side = if random.next() & 1 == 0 {
        "buy"
    } else {
        "sell"
    };
    // Three updates a millisecond; wrapping only matters to sequence numbers no run reaches.
    let timestamp = FIRST_TIMESTAMP_MS
        .wrapping_add(seq.wrapping_mul(3))
        .wrapping_add(index);
    format!(
        "{{\"type\":\"ticker\",\"seq\":{seq},\"symbol\":\"{symbol}\",\"ts\":{timestamp},\
         \"bid\":\"{bid:.decimals$}\",\"ask\":\"{ask:.decimals$}\",\"last\":\"{last:.decimals$}\",\
         \"last_size\":\"{size:.4}\",\"side\":\"{side}\",\"volume_24h\":\"{volume:.2}\",\
         \"change_24h_pct\":\"{change:.2}\"}}",
        bid = last - half_spread,
        ask = last + half_spread,
    )
}

/// A small deterministic generator (SplitMix64): the ticker needs varied digits, not secrets.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `low..high`.
    fn unit(&mut self, low: f64, high: f64) -> f64 {
        let fraction = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        low + (high - low) * fraction
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Composes message `seq` and returns its bytes and what its echo is checked against.
    fn compose(composer: &mut Composer, seq: u64) -> (Vec<u8>, Sent) {
        let sent = composer.compose(seq);
        (composer.message().as_bytes().to_vec(), sent)
    }

    #[test]
    fn hex_digits_are_the_lowercase_hexadecimal_of_the_sequence_number() {
        let mut random = SplitMix64(1);
        let samples = [0, 9, 10, 15, 16, 0xabcd, u64::MAX, u64::MAX - 1, 1 << 63];
        for seq in samples.into_iter().chain((0..1000).map(|_| random.next())) {
            assert_eq!(hex(seq), *format!("{seq:016x}").as_bytes(), "{seq:#x}");
        }
    }

    #[test]
    fn letters_carry_their_sequence_number_and_are_ascii() {
        let mut text = Composer::new(Payload::new(Kind::Letters, 20, false));
        assert_eq!(compose(&mut text, 0x2a).0, b"000000000000002aqrst");
        assert!(matches!(text.message(), MessageRef::Text(_)));
        assert!(compose(&mut text, u64::MAX).0.is_ascii());
        assert_eq!(text.payload().fixed_size(), Some(20));
        let mut short = Composer::new(Payload::new(Kind::Letters, 4, true));
        assert_eq!(compose(&mut short, 0x12345).0, b"2345");
        assert!(matches!(short.message(), MessageRef::Binary(_)));
        assert!(matches!(short.owned_message(), Message::Binary(_)));
        assert_ne!(compose(&mut short, 1).0, compose(&mut short, 2).0);
    }

    #[test]
    fn an_echo_matches_only_the_message_it_answers() {
        for (kind, size) in [
            (Kind::Letters, 16),
            (Kind::Letters, 1000),
            (Kind::Ticker, 600),
        ] {
            let mut composer = Composer::new(Payload::new(kind, size, false));
            let (first, sent_first) = compose(&mut composer, 7);
            let (second, sent_second) = compose(&mut composer, 8);
            // Checked after later messages were composed over the same buffer.
            assert!(composer.matches(&sent_first, &first), "{kind:?}");
            assert!(composer.matches(&sent_second, &second), "{kind:?}");
            assert!(!composer.matches(&sent_first, &second), "{kind:?}");
            assert_eq!(composer.len(&sent_first), first.len());
            let mut corrupted = first.clone();
            *corrupted.last_mut().unwrap() ^= 1;
            assert!(!composer.matches(&sent_first, &corrupted), "{kind:?}");
            assert!(!composer.matches(&sent_first, &first[1..]), "{kind:?}");
            let owned = composer.owned_message();
            assert_eq!(MessageRef::from(&owned).as_bytes(), &second[..], "{kind:?}");
        }
    }

    #[test]
    fn a_small_ticker_message_is_one_json_update() {
        let mut composer = Composer::new(Payload::new(Kind::Ticker, 16, false));
        assert_eq!(composer.payload().fixed_size(), None);
        for seq in [0, 1, 2, 1_000_000, u64::MAX / 3] {
            let (bytes, _) = compose(&mut composer, seq);
            assert!(bytes.is_ascii());
            assert!(matches!(composer.message(), MessageRef::Text(_)));
            let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(value["type"], "ticker");
            assert_eq!(value["seq"], seq);
            let bid: f64 = value["bid"].as_str().unwrap().parse().unwrap();
            let ask: f64 = value["ask"].as_str().unwrap().parse().unwrap();
            assert!(bid <= ask, "{value}");
            assert!((150..260).contains(&bytes.len()), "{} bytes", bytes.len());
        }
        assert_eq!(ticker(7, 16), ticker(7, 16), "a function of seq");
        assert_ne!(ticker(7, 16), ticker(8, 16));
    }

    #[test]
    fn a_larger_ticker_message_is_an_array_that_fits_its_size() {
        let bytes = ticker(3, 4096);
        assert!(bytes.len() <= 4096 && bytes.len() > 3500, "{}", bytes.len());
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let updates = value.as_array().unwrap();
        assert!(updates.len() > 10);
        assert!(updates.iter().all(|u| u["seq"] == 3));
        let symbols: std::collections::HashSet<_> =
            updates.iter().map(|u| u["symbol"].clone()).collect();
        assert!(symbols.len() > 3, "varied instruments: {symbols:?}");
    }
}
