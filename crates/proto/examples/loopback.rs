//! A client and a server talking through memory: the opening handshake (negotiating
//! permessage-deflate and a subprotocol), messages both ways, a ping, and the closing
//! handshake, with every frame on the wire printed. No sockets: the point of a sans-I/O core.
//!
//! Run: `cargo run -p switchboard-proto --example loopback`

use std::sync::Arc;
use std::time::Instant;

use bytes::Buf;
use switchboard_proto::extension::deflate::DeflateConfig;
use switchboard_proto::extension::ExtensionConfig;
use switchboard_proto::frame::FrameHeader;
use switchboard_proto::handshake::{
    parse_url, Accept, ClientHandshake, ClientOptions, ServerHandshake,
};
use switchboard_proto::{CloseCode, Config, Connection, Limits, Message};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let now = Instant::now();
    let deflate: Arc<dyn ExtensionConfig> = Arc::new(DeflateConfig::default());

    // --- Opening handshake (RFC 6455 section 4) ---
    let mut entropy = toy_entropy();
    let mut options = ClientOptions::default();
    options.subprotocols = vec!["chat.v1".into()];
    options.extensions = vec![deflate.clone()];
    let url = parse_url("ws://example.com/room/lobby")?;
    let mut client_hs = ClientHandshake::new(&url, options, &mut entropy)?;
    println!(
        "--- request\n{}",
        String::from_utf8_lossy(client_hs.request_bytes())
    );

    let mut server_hs = ServerHandshake::new(&Limits::default());
    let request = server_hs
        .receive_bytes(client_hs.request_bytes())?
        .ok_or("incomplete request")?;
    let accept = Accept::with_subprotocol("chat.v1");
    let (response, negotiated, leftover) = server_hs.accept(&request, accept, &[deflate]);
    println!("--- response\n{}", String::from_utf8_lossy(&response));
    let outcome = client_hs
        .receive_bytes(&response)?
        .ok_or("incomplete response")?;

    let mut server = Connection::server(Config::default(), now)
        .with_extension(negotiated.extension)
        .with_read_buffer(leftover);
    let mut client = Connection::client(Config::default(), now, toy_entropy())
        .with_extension(outcome.negotiated.extension)
        .with_read_buffer(outcome.leftover);
    println!(
        "negotiated: subprotocol {:?}, extension {:?}\n",
        outcome.negotiated.subprotocol,
        client.extension().map(|e| e.name())
    );

    // --- Messages (RFC 6455 section 5, compressed per RFC 7692) ---
    let update = r#"{"channel":"prices","symbol":"ACME","bid":101.25,"ask":101.30}"#;
    for _ in 0..2 {
        client.send(Message::text(update))?;
    }
    client.ping(bytes::Bytes::from_static(b"are you there?"))?;
    pump("client -> server", &mut client, &mut server, now);
    while let Some(message) = server.poll_event()? {
        println!("server got {message:?}");
        if message.is_data() {
            server.send(message)?;
        }
    }
    pump("server -> client", &mut server, &mut client, now);
    while let Some(message) = client.poll_event()? {
        println!("client got {message:?}");
    }

    // --- Closing handshake (RFC 6455 section 7) ---
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
        "\nserver closes TCP first: {}; client saw close code {:?}",
        server.wants_transport_close(),
        client.close_code()
    );
    Ok(())
}

/// A toy xorshift generator: fine for a demo, never for production keys (use a CSPRNG).
fn toy_entropy() -> impl FnMut(&mut [u8]) + Send + 'static {
    let mut seed = 0x2545_f491_u32;
    move |buf: &mut [u8]| {
        for b in buf {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            *b = seed as u8;
        }
    }
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
            "{label}: {:?} fin={} rsv1={} masked={} payload={} bytes",
            header.opcode,
            header.fin,
            header.rsv & 0x40 != 0,
            header.mask.is_some(),
            header.payload_len
        );
        let end = (len + header.payload_len as usize).min(rest.len());
        rest = &rest[end..];
    }
    to.receive_bytes(now, &wire);
}
