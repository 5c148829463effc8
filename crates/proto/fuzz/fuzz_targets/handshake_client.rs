//! The client's response validator: arbitrary server bytes end as "need more", an accepted
//! 101 with the framing bytes that followed it, or a handshake error.
#![no_main]

use http::Uri;
use libfuzzer_sys::fuzz_target;
use switchboard_proto::handshake::{ClientHandshake, ClientOptions};

fuzz_target!(|data: &[u8]| {
    let url = Uri::from_static("ws://example.com/chat");
    let mut entropy = |buf: &mut [u8]| buf.fill(1);
    let Ok(mut handshake) = ClientHandshake::new(&url, ClientOptions::default(), &mut entropy)
    else {
        return;
    };
    let mid = data.len() / 2;
    for piece in [&data[..mid], &data[mid..]] {
        match handshake.receive_bytes(piece) {
            Ok(None) => continue,
            Ok(Some(outcome)) => {
                assert_eq!(outcome.response.status(), 101);
                assert!(outcome.leftover.len() <= data.len());
                return;
            }
            Err(_) => return,
        }
    }
});
