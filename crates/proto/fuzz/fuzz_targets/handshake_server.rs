//! The server's request parser: arbitrary bytes in arbitrary reads end as "need more", a
//! valid upgrade request, or a handshake error with an HTTP status; bytes after a complete
//! head are kept for the framing layer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_proto::handshake::{Accept, ServerHandshake};
use switchboard_proto::Limits;

fuzz_target!(|data: &[u8]| {
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    let mut limits = Limits::default();
    limits.max_head_size = 2048;
    limits.max_headers = 16;
    limits.max_line_length = 512;
    let mut handshake = ServerHandshake::new(&limits);
    let cut = usize::from(split).min(data.len());
    for piece in [&data[..cut], &data[cut..]] {
        match handshake.receive_bytes(piece) {
            Ok(None) => continue,
            Ok(Some(request)) => {
                let (response, _negotiated, leftover) =
                    handshake.accept(&request, Accept::default(), &[]);
                assert!(response.starts_with(b"HTTP/1.1 101 "));
                assert!(leftover.len() <= data.len());
                return;
            }
            Err(error) => {
                let status = error.http_status();
                assert!(status.is_client_error() || status.is_server_error());
                return;
            }
        }
    }
});
