//! A client-side connection fed arbitrary server bytes, sends, timeouts, closes and EOF.
#![no_main]

#[path = "connection_common.rs"]
mod common;

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use switchboard_proto::Connection;

fuzz_target!(|data: &[u8]| {
    let entropy = |buf: &mut [u8]| buf.fill(0x5a);
    common::drive(Connection::client(common::config(), Instant::now(), entropy), data);
});
