//! A client and a server `Connection` talking through memory: the opening handshake, messages
//! in both directions (compressed with permessage-deflate), a ping, and the closing handshake,
//! with every frame printed. No sockets: the point of a sans-I/O core.
//!
//! Run: `cargo run -p switchboard-proto --example loopback`

use std::time::Instant;

use bytes::Buf;
use switchboard_proto::frame::FrameHeader;
use switchboard_proto::{CloseCode, Config, Connection, Message};

fn main() -> Result<(), switchboard_proto::Error> {
    let now = Instant::now();
    let mut seed = 0x2545_f491_u32;
    let entropy = move |buf: &mut [u8]| {
        // A toy generator: fine for a demo, never for production masking keys.
        for b in buf {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            *b = seed as u8;
        }
    };
    let mut client = Connection::client(Config::default(), now, entropy);
    let mut server = Connection::server(Config::default(), now);

    client.send(Message::text("Hello, server"))?;
    pump("client -> server", &mut client, &mut server, now);
    while let Some(message) = server.poll_event()? {
        println!("server got {message:?}");
        server.send(message)?;
    }
    pump("server -> client", &mut server, &mut client, now);
    while let Some(message) = client.poll_event()? {
        println!("client got {message:?}");
    }

    client.close(now, CloseCode::NORMAL_CLOSURE, "done")?;
    pump("client -> server", &mut client, &mut server, now);
    while let Some(message) = server.poll_event()? {
        println!("server got {message:?}");
    }
    pump("server -> client", &mut server, &mut client, now);
    while let Some(message) = client.poll_event()? {
        println!("client got {message:?}");
    }
    println!(
        "server closes TCP: {}, close code: {:?}",
        server.wants_transport_close(),
        client.close_code()
    );
    Ok(())
}

/// Moves bytes from one connection to the other, printing each frame header.
fn pump(label: &str, from: &mut Connection, to: &mut Connection, now: Instant) {
    let mut wire = Vec::new();
    while let Some(mut out) = from.poll_transmit() {
        while out.has_remaining() {
            wire.extend_from_slice(out.chunk());
            out.advance(out.chunk().len());
        }
    }
    let mut rest = &wire[..];
    while let Ok(Some((header, len))) = FrameHeader::parse(rest) {
        println!(
            "{label}: {:?} fin={} rsv={:#04x} masked={} payload={} bytes",
            header.opcode,
            header.fin,
            header.rsv,
            header.mask.is_some(),
            header.payload_len
        );
        let end = (len + header.payload_len as usize).min(rest.len());
        rest = &rest[end..];
    }
    to.receive_bytes(now, &wire);
}
