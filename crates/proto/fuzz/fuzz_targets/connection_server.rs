//! A server-side connection fed arbitrary client bytes, sends, timeouts, closes and EOF.
#![no_main]

#[path = "connection_common.rs"]
mod common;

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use switchboard_proto::Connection;

fuzz_target!(|data: &[u8]| {
    common::drive(Connection::server(common::config(), Instant::now()), data);
});
