//! permessage-deflate inflation: arbitrary compressed payloads, cut into arbitrary pieces,
//! inflate to at most the limit or fail with a documented error; never a panic, a hang or
//! output beyond the limit (the compression-bomb guard). Data we deflate ourselves must come
//! back unchanged.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use switchboard_proto::extension::deflate::DeflateConfig;
use switchboard_proto::extension::{Extension, ExtensionConfig, ExtensionOffer, RSV1};
use switchboard_proto::ProtocolError;

const LIMIT: usize = 64 << 10;

fn negotiated(no_context_takeover: bool) -> Box<dyn Extension> {
    let mut offer = ExtensionOffer::new("permessage-deflate");
    if no_context_takeover {
        offer = offer.with_param("client_no_context_takeover", None);
    }
    let (_response, extension) = DeflateConfig::default()
        .server_accept(&[offer])
        .expect("a plain offer is acceptable");
    extension
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, data)) = data.split_first() else {
        return;
    };
    let mut ext = negotiated(control & 1 != 0);
    // Messages separated by 0xFF 0xFF 0xFF, each fed in pieces of a size the control byte picks.
    let piece = usize::from(control >> 1).max(1);
    for message in data.split(|&b| b == 0xFF).filter(|m| !m.is_empty()) {
        assert!(ext.decode_start(RSV1));
        let mut out = BytesMut::new();
        let mut result = Ok(());
        for chunk in message.chunks(piece) {
            result = ext.decode(chunk, &mut out, LIMIT);
            assert!(out.len() <= LIMIT);
            if result.is_err() {
                break;
            }
        }
        if result.is_ok() {
            result = ext.decode_finish(&mut out, LIMIT);
            assert!(out.len() <= LIMIT);
        }
        match result {
            Ok(()) | Err(ProtocolError::InvalidCompressedData) => {}
            Err(ProtocolError::MessageTooBig { limit }) => assert_eq!(limit, LIMIT),
            Err(other) => panic!("undocumented inflate error: {other:?}"),
        }
        if result.is_err() {
            // Errors are sticky; nothing more to learn from this connection.
            return;
        }
    }
    // Round trip: what we compress, we inflate back.
    let mut sender = negotiated(false);
    let mut receiver = negotiated(false);
    for message in data.chunks(700) {
        let mut wire = BytesMut::new();
        let Some(rsv) = sender.encode(message, &mut wire) else {
            continue;
        };
        assert!(receiver.decode_start(rsv));
        let mut out = BytesMut::new();
        receiver.decode(&wire, &mut out, LIMIT).unwrap();
        receiver.decode_finish(&mut out, LIMIT).unwrap();
        assert_eq!(&out[..], message);
    }
});
