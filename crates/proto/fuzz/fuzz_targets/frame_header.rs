//! The frame header parser: any bytes are a header, "need more", or a documented error; a
//! parsed header re-encodes to the same bytes it came from.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use switchboard_proto::frame::FrameHeader;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((header, len))) = FrameHeader::parse(data) {
        assert!(len <= data.len() && len <= 14);
        let mut encoded = BytesMut::new();
        header.encode(&mut encoded);
        // Encoding is minimal; a peer may use a longer length encoding, so compare the decoded
        // header rather than the bytes when the lengths differ.
        let (again, again_len) = FrameHeader::parse(&encoded).unwrap().unwrap();
        assert_eq!(again, header);
        assert_eq!(again_len, encoded.len());
        assert!(again_len <= len);
    }
});
