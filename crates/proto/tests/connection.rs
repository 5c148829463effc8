//! The connection state machine, grouped by the RFC 6455 section each test checks.

#![allow(clippy::unwrap_used)]
mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use switchboard_proto::{
    CloseCode, CloseFrame, Config, Connection, Error, Message, OpCode, ProtocolError, State,
};

/// Feeds `wire` to a fresh server and returns it.
fn server_after(wire: &[u8]) -> Connection {
    let mut s = server();
    s.receive_bytes(Instant::now(), wire);
    s
}

fn assert_fails_with(conn: &mut Connection, code: u16) {
    let _ = events(conn);
    assert!(conn.poll_event().is_err(), "expected a failed connection");
    assert_eq!(conn.state(), State::Closed);
    assert_eq!(close_code_sent(&drain(conn)), Some(code));
}

mod rfc6455_5_1_masking {
    use super::*;

    #[test]
    fn server_fails_on_unmasked_frame() {
        let mut s = server_after(&frame(true, 0, OpCode::Text, b"hi", false));
        assert_eq!(
            s.poll_event(),
            Err(Error::Protocol(ProtocolError::UnmaskedFrame))
        );
        assert_fails_with(&mut s, 1002);
        assert!(s.wants_transport_close());
    }

    #[test]
    fn client_fails_on_masked_frame() {
        let mut c = client();
        c.receive_bytes(Instant::now(), &frame(true, 0, OpCode::Text, b"hi", true));
        assert_eq!(
            c.poll_event(),
            Err(Error::Protocol(ProtocolError::MaskedFrame))
        );
        assert_fails_with(&mut c, 1002);
    }

    #[test]
    fn client_masks_and_server_does_not() {
        let mut c = client();
        c.send(Message::text("hello")).unwrap();
        let wire = drain(&mut c);
        assert!(parse_frames(&wire)[0].0.mask.is_some());
        let mut s = server();
        s.send(Message::text("hello")).unwrap();
        let wire = drain(&mut s);
        assert_eq!(wire, b"\x81\x05hello");
    }
}

mod rfc6455_5_2_base_framing {
    use super::*;

    #[test]
    fn reserved_bits_without_extension_fail() {
        for rsv in [0x40, 0x20, 0x10] {
            let mut s = server_after(&frame(true, rsv, OpCode::Text, b"x", true));
            assert_eq!(
                s.poll_event(),
                Err(Error::Protocol(ProtocolError::ReservedBits(rsv)))
            );
            assert_fails_with(&mut s, 1002);
        }
    }

    #[test]
    fn reserved_opcode_fails() {
        let mut s = server_after(&[0x83, 0x80, 0, 0, 0, 0]);
        assert_eq!(
            s.poll_event(),
            Err(Error::Protocol(ProtocolError::ReservedOpcode(3)))
        );
        assert_fails_with(&mut s, 1002);
    }

    #[test]
    fn messages_before_an_error_are_still_delivered() {
        let mut wire = from_client(true, OpCode::Text, b"first");
        wire.extend(frame(true, 0, OpCode::Text, b"unmasked", false));
        let mut s = server_after(&wire);
        assert_eq!(s.poll_event(), Ok(Some(Message::text("first"))));
        assert!(s.poll_event().is_err());
    }

    #[test]
    fn messages_before_an_error_can_still_be_answered() {
        // Autobahn 3.2, 4.1.3, 5.15: a valid message and a bad frame in one read. The error
        // takes effect after the application took the message, so its echo goes out first.
        let mut wire = from_client(true, OpCode::Text, b"echo me");
        wire.extend(frame(true, 0x20, OpCode::Text, b"bad", true));
        let mut s = server_after(&wire);
        assert_eq!(s.poll_event(), Ok(Some(Message::text("echo me"))));
        s.send(Message::text("echo me")).unwrap();
        assert!(s.poll_event().is_err());
        let frames = parse_frames(&drain(&mut s));
        assert_eq!(frames[0].1, b"echo me");
        assert_eq!(frames[1].0.opcode, OpCode::Close);
    }

    #[test]
    fn messages_before_a_close_can_still_be_answered() {
        let mut wire = from_client(true, OpCode::Text, b"last");
        wire.extend(from_client(true, OpCode::Close, b"\x03\xe8"));
        let mut s = server_after(&wire);
        assert_eq!(s.poll_event(), Ok(Some(Message::text("last"))));
        s.send(Message::text("last")).unwrap();
        assert!(matches!(s.poll_event(), Ok(Some(Message::Close(_)))));
        let frames = parse_frames(&drain(&mut s));
        assert_eq!(frames[0].1, b"last");
        assert_eq!(frames[1].0.opcode, OpCode::Close);
    }

    #[test]
    fn byte_by_byte_input_gives_the_same_messages() {
        let mut wire = from_client(true, OpCode::Text, b"hello");
        wire.extend(from_client(true, OpCode::Binary, &[0u8; 300]));
        wire.extend(from_client(true, OpCode::Binary, &vec![1u8; 70_000]));
        let whole = events(&mut server_after(&wire));
        let mut s = server();
        let mut pieces = Vec::new();
        for byte in &wire {
            s.receive_bytes(Instant::now(), std::slice::from_ref(byte));
            pieces.extend(events(&mut s));
        }
        assert_eq!(whole.len(), 3);
        assert_eq!(pieces, whole);
    }
}

mod rfc6455_5_4_fragmentation {
    use super::*;

    #[test]
    fn fragments_are_reassembled_with_control_frames_between() {
        let mut wire = from_client(false, OpCode::Text, b"Hel");
        wire.extend(from_client(true, OpCode::Ping, b"p"));
        wire.extend(from_client(false, OpCode::Continuation, b"lo, "));
        wire.extend(from_client(true, OpCode::Continuation, b"world"));
        let mut s = server_after(&wire);
        assert_eq!(
            events(&mut s),
            vec![
                Message::Ping(Bytes::from_static(b"p")),
                Message::text("Hello, world")
            ]
        );
        assert_eq!(drain(&mut s), b"\x8a\x01p");
    }

    #[test]
    fn continuation_without_message_fails() {
        let mut s = server_after(&from_client(true, OpCode::Continuation, b"x"));
        assert_eq!(
            s.poll_event(),
            Err(Error::Protocol(ProtocolError::UnexpectedContinuation))
        );
        assert_fails_with(&mut s, 1002);
    }

    #[test]
    fn new_message_inside_fragmented_message_fails() {
        let mut wire = from_client(false, OpCode::Text, b"a");
        wire.extend(from_client(true, OpCode::Text, b"b"));
        let mut s = server_after(&wire);
        assert_eq!(
            s.poll_event(),
            Err(Error::Protocol(ProtocolError::ExpectedContinuation))
        );
        assert_fails_with(&mut s, 1002);
    }

    #[test]
    fn empty_fragments_make_an_empty_message() {
        let mut wire = from_client(false, OpCode::Binary, b"");
        wire.extend(from_client(false, OpCode::Continuation, b""));
        wire.extend(from_client(true, OpCode::Continuation, b""));
        assert_eq!(
            events(&mut server_after(&wire)),
            vec![Message::binary(Vec::new())]
        );
    }

    #[test]
    fn sending_in_fragments() {
        let mut s = server();
        s.send_fragment(OpCode::Text, "κό".as_bytes(), false)
            .unwrap();
        s.ping(Bytes::from_static(b"!")).unwrap();
        assert!(
            s.send(Message::text("no")).is_err(),
            "no interleaved messages"
        );
        s.send_fragment(OpCode::Continuation, "σμε".as_bytes(), true)
            .unwrap();
        let frames = parse_frames(&drain(&mut s));
        let kinds: Vec<_> = frames.iter().map(|(h, _)| (h.opcode, h.fin)).collect();
        assert_eq!(
            kinds,
            vec![
                (OpCode::Text, false),
                (OpCode::Ping, true),
                (OpCode::Continuation, true)
            ]
        );
    }

    #[test]
    fn sending_invalid_utf8_fragments_is_refused() {
        let mut s = server();
        s.send_fragment(OpCode::Text, b"\xe2\x82", false).unwrap();
        assert_eq!(
            s.send_fragment(OpCode::Continuation, b"\x28", true),
            Err(Error::InvalidInput("text is not valid UTF-8"))
        );
        assert!(s.send_fragment(OpCode::Continuation, b"x", true).is_err());
    }
}

mod rfc6455_5_5_control_frames {
    use super::*;

    #[test]
    fn ping_is_answered_with_the_same_payload() {
        let mut s = server_after(&from_client(true, OpCode::Ping, b"Hello"));
        assert_eq!(
            events(&mut s),
            vec![Message::Ping(Bytes::from_static(b"Hello"))]
        );
        // RFC 6455 5.7: unmasked pong with "Hello".
        assert_eq!(drain(&mut s), [0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    }

    #[test]
    fn auto_pong_can_be_turned_off() {
        let mut config = Config::default();
        config.auto_pong = false;
        let mut s = Connection::server(config, Instant::now());
        s.receive_bytes(Instant::now(), &from_client(true, OpCode::Ping, b"x"));
        assert_eq!(events(&mut s).len(), 1);
        assert!(drain(&mut s).is_empty());
        s.pong(Bytes::from_static(b"x")).unwrap();
        assert_eq!(drain(&mut s), b"\x8a\x01x");
    }

    #[test]
    fn oversized_ping_fails() {
        let mut s = server_after(&[0x89, 0xFE, 0x00, 0x7E]);
        assert_eq!(
            s.poll_event(),
            Err(Error::Protocol(ProtocolError::ControlFrameTooLong(126)))
        );
        assert_fails_with(&mut s, 1002);
    }

    #[test]
    fn fragmented_ping_fails() {
        let mut s = server_after(&from_client(false, OpCode::Ping, b"x"));
        assert_eq!(
            s.poll_event(),
            Err(Error::Protocol(ProtocolError::FragmentedControlFrame))
        );
        assert_fails_with(&mut s, 1002);
    }

    #[test]
    fn sending_oversized_control_payload_is_refused() {
        let mut s = server();
        assert!(matches!(
            s.ping(Bytes::from(vec![0u8; 126])),
            Err(Error::InvalidInput(_))
        ));
        assert!(s.ping(Bytes::from(vec![0u8; 125])).is_ok());
    }
}

mod rfc6455_5_7_examples {
    use super::*;

    #[test]
    fn client_receives_unmasked_hello() {
        let mut c = client();
        c.receive_bytes(Instant::now(), &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert_eq!(events(&mut c), vec![Message::text("Hello")]);
    }

    #[test]
    fn server_receives_masked_hello() {
        let s = &mut server_after(&[
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ]);
        assert_eq!(events(s), vec![Message::text("Hello")]);
    }

    #[test]
    fn client_receives_fragmented_hello() {
        let mut c = client();
        c.receive_bytes(Instant::now(), &[0x01, 0x03, 0x48, 0x65, 0x6c]);
        assert_eq!(events(&mut c), vec![]);
        c.receive_bytes(Instant::now(), &[0x80, 0x02, 0x6c, 0x6f]);
        assert_eq!(events(&mut c), vec![Message::text("Hello")]);
    }

    #[test]
    fn client_receives_256_and_65536_byte_binary() {
        let mut c = client();
        let mut wire = vec![0x82, 0x7E, 0x01, 0x00];
        wire.extend([7u8; 256]);
        wire.extend([0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]);
        wire.extend(vec![9u8; 65536]);
        c.receive_bytes(Instant::now(), &wire);
        let got = events(&mut c);
        assert_eq!(
            got,
            vec![
                Message::binary(vec![7u8; 256]),
                Message::binary(vec![9u8; 65536])
            ]
        );
    }
}

mod rfc6455_8_1_utf8 {
    use super::*;

    #[test]
    fn invalid_text_fails_with_1007() {
        let mut s = server_after(&from_client(
            true,
            OpCode::Text,
            b"\xce\xba\xe1\xbd\xb9\xff",
        ));
        assert_eq!(
            s.poll_event(),
            Err(Error::Protocol(ProtocolError::InvalidUtf8))
        );
        assert_fails_with(&mut s, 1007);
    }

    #[test]
    fn invalid_text_fails_before_its_frame_is_complete() {
        let wire = from_client(true, OpCode::Text, b"ok\xf4\x90 and much more text follows");
        let mut s = server();
        s.receive_bytes(Instant::now(), &wire[..10]);
        assert_eq!(
            s.poll_event(),
            Err(Error::Protocol(ProtocolError::InvalidUtf8))
        );
        assert_eq!(close_code_sent(&drain(&mut s)), Some(1007));
    }

    #[test]
    fn invalid_text_fails_before_the_final_fragment() {
        let mut s = server_after(&from_client(false, OpCode::Text, b"abc\xed\xa0"));
        assert_eq!(
            s.poll_event(),
            Err(Error::Protocol(ProtocolError::InvalidUtf8))
        );
    }

    #[test]
    fn character_split_across_fragments_is_valid() {
        let mut wire = from_client(false, OpCode::Text, b"\xf0\x9f");
        wire.extend(from_client(true, OpCode::Continuation, b"\x98\x80"));
        assert_eq!(events(&mut server_after(&wire)), vec![Message::text("😀")]);
    }

    #[test]
    fn truncated_character_at_message_end_fails() {
        let mut s = server_after(&from_client(true, OpCode::Text, b"\xe2\x82"));
        assert_eq!(
            s.poll_event(),
            Err(Error::Protocol(ProtocolError::InvalidUtf8))
        );
    }
}

mod rfc6455_7_closing {
    use super::*;

    #[test]
    fn close_is_echoed_and_server_closes_transport() {
        let mut s = server_after(&from_client(true, OpCode::Close, b"\x03\xe8bye"));
        let expected = CloseFrame::new(CloseCode::NORMAL_CLOSURE, "bye");
        assert_eq!(events(&mut s), vec![Message::Close(Some(expected))]);
        assert_eq!(drain(&mut s), b"\x88\x02\x03\xe8");
        assert_eq!(s.state(), State::Closed);
        assert!(s.wants_transport_close());
        assert_eq!(s.close_code(), Some(CloseCode::NORMAL_CLOSURE));
        assert_eq!(s.poll_event(), Ok(None), "a normal close is not an error");
        assert_eq!(s.send(Message::text("late")), Err(Error::Closed));
    }

    #[test]
    fn empty_close_is_answered_empty_and_reports_1005() {
        let mut s = server_after(&from_client(true, OpCode::Close, b""));
        assert_eq!(events(&mut s), vec![Message::Close(None)]);
        assert_eq!(drain(&mut s), b"\x88\x00");
        assert_eq!(s.close_code(), Some(CloseCode::NO_STATUS_RECEIVED));
    }

    #[test]
    fn client_initiated_close_waits_for_the_server() {
        let t0 = Instant::now();
        let mut c = client();
        c.close(t0, CloseCode::GOING_AWAY, "leaving").unwrap();
        assert_eq!(c.state(), State::Closing);
        assert_eq!(close_code_sent(&drain(&mut c)), Some(1001));
        // Messages still arrive while closing.
        c.receive_bytes(t0, &frame(true, 0, OpCode::Text, b"late", false));
        assert_eq!(events(&mut c), vec![Message::text("late")]);
        c.receive_bytes(t0, b"\x88\x02\x03\xe9");
        let expected = CloseFrame::new(CloseCode::GOING_AWAY, "");
        assert_eq!(c.poll_event(), Ok(Some(Message::Close(Some(expected)))));
        assert_eq!(c.state(), State::Closed);
        assert!(drain(&mut c).is_empty(), "no second close frame");
        // RFC 6455 7.1.1: the client waits for the server to close TCP...
        assert!(!c.wants_transport_close());
        c.receive_eof();
        assert!(c.wants_transport_close());
        assert_eq!(c.poll_event(), Ok(None));
    }

    #[test]
    fn client_closes_transport_itself_after_the_close_timeout() {
        let t0 = Instant::now();
        let mut c = client();
        c.receive_bytes(t0, b"\x88\x02\x03\xe8");
        assert!(matches!(c.poll_event(), Ok(Some(Message::Close(_)))));
        let deadline = c.poll_timeout().unwrap();
        assert_eq!(deadline, t0 + Config::default().close_timeout);
        c.handle_timeout(deadline);
        assert!(c.wants_transport_close());
    }

    #[test]
    fn unanswered_close_ends_abnormally() {
        let t0 = Instant::now();
        let mut s = server();
        s.close(t0, CloseCode::NORMAL_CLOSURE, "").unwrap();
        let deadline = s.poll_timeout().unwrap();
        s.handle_timeout(deadline);
        assert_eq!(s.poll_event(), Err(Error::AbnormalClosure));
        assert_eq!(s.close_code(), Some(CloseCode::ABNORMAL_CLOSURE));
        assert!(s.wants_transport_close());
    }

    #[test]
    fn eof_without_close_is_abnormal_after_buffered_messages() {
        let mut s = server_after(&from_client(true, OpCode::Text, b"last words"));
        s.receive_eof();
        assert_eq!(s.poll_event(), Ok(Some(Message::text("last words"))));
        assert_eq!(s.poll_event(), Err(Error::AbnormalClosure));
    }

    #[test]
    fn eof_inside_a_frame_is_abnormal() {
        let wire = from_client(true, OpCode::Text, b"cut short");
        let mut s = server_after(&wire[..5]);
        s.receive_eof();
        assert_eq!(s.poll_event(), Err(Error::AbnormalClosure));
    }

    #[test]
    fn invalid_close_payloads_fail_with_the_right_code() {
        for (payload, code) in [
            (&b"\x03"[..], 1002),
            (b"\x03\xec", 1002),
            (b"\x03\xed", 1002),
            (b"\x03\xee", 1002),
            (b"\x03\xf7", 1002),
            (b"\x00\x00", 1002),
            (b"\x13\x88", 1002),
            (b"\x03\xe8\xff", 1007),
        ] {
            let mut s = server_after(&from_client(true, OpCode::Close, payload));
            assert_fails_with(&mut s, code);
        }
    }

    #[test]
    fn valid_close_codes_are_accepted() {
        for code in [
            1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 3000, 4999,
        ] {
            let mut s = server_after(&from_client(true, OpCode::Close, &code.to_be_bytes()));
            assert!(
                matches!(events(&mut s).as_slice(), [Message::Close(Some(_))]),
                "{code}"
            );
            assert_eq!(close_code_sent(&drain(&mut s)), Some(code));
        }
    }

    #[test]
    fn nothing_after_close_is_processed() {
        let mut wire = from_client(true, OpCode::Close, b"\x03\xe8");
        wire.extend(from_client(true, OpCode::Text, b"after"));
        wire.extend([0xFF, 0xFF]); // garbage must not fail a closed connection
        let mut s = server_after(&wire);
        assert_eq!(events(&mut s).len(), 1);
        assert_eq!(s.poll_event(), Ok(None));
        // What keeps arriving is dropped, not buffered.
        s.receive_bytes(Instant::now(), &[0u8; 4096]);
        assert_eq!(s.read_buffer().len(), 0);
    }

    #[test]
    fn sending_reserved_close_codes_is_refused() {
        for code in [1005, 1006, 1015, 999] {
            let mut s = server();
            assert!(matches!(
                s.close(Instant::now(), CloseCode(code), ""),
                Err(Error::InvalidInput(_))
            ));
            assert_eq!(s.state(), State::Open);
        }
    }

    #[test]
    fn errors_are_sticky() {
        let mut s = server_after(&frame(true, 0, OpCode::Text, b"x", false));
        let first = s.poll_event();
        assert!(first.is_err());
        assert_eq!(s.poll_event(), first);
        assert_eq!(
            s.send(Message::text("x")).map_err(|e| e.close_code()),
            Err(CloseCode(1002))
        );
        s.receive_bytes(Instant::now(), &from_client(true, OpCode::Text, b"more"));
        assert_eq!(s.poll_event(), first);
    }
}

mod limits {
    use super::*;

    fn limited(frame: usize, message: usize, fragments: usize) -> Connection {
        let mut config = Config::default();
        config.limits.max_frame_size = frame;
        config.limits.max_message_size = message;
        config.limits.max_fragments = fragments;
        Connection::server(config, Instant::now())
    }

    #[test]
    fn frame_over_the_limit_fails_on_its_header() {
        let mut s = limited(100, 1000, 10);
        // Only the header: the limit applies before any payload is buffered.
        s.receive_bytes(
            Instant::now(),
            &[0x82, 0xFF, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4],
        );
        assert!(matches!(
            s.poll_event(),
            Err(Error::Protocol(ProtocolError::FrameTooBig { .. }))
        ));
        assert_fails_with(&mut s, 1009);
    }

    #[test]
    fn message_over_the_limit_fails_across_fragments() {
        let mut s = limited(100, 150, 10);
        let mut wire = from_client(false, OpCode::Binary, &[0; 100]);
        wire.extend(from_client(true, OpCode::Continuation, &[0; 51]));
        s.receive_bytes(Instant::now(), &wire);
        assert_eq!(
            s.poll_event(),
            Err(Error::Protocol(ProtocolError::MessageTooBig { limit: 150 }))
        );
        assert_fails_with(&mut s, 1009);
    }

    #[test]
    fn too_many_fragments_fail() {
        let mut s = limited(100, 1000, 3);
        let mut wire = from_client(false, OpCode::Binary, b"");
        for _ in 0..3 {
            wire.extend(from_client(false, OpCode::Continuation, b""));
        }
        s.receive_bytes(Instant::now(), &wire);
        assert_eq!(
            s.poll_event(),
            Err(Error::Protocol(ProtocolError::TooManyFragments {
                limit: 3
            }))
        );
        assert_fails_with(&mut s, 1009);
    }

    #[test]
    fn defaults_are_on() {
        let limits = Config::default().limits;
        assert!(limits.max_frame_size < usize::MAX);
        assert!(limits.max_message_size < usize::MAX);
        assert!(limits.max_fragments < usize::MAX);
    }
}

mod keepalive {
    use super::*;

    #[test]
    fn ping_is_sent_at_the_interval_and_rtt_measured() {
        let t0 = Instant::now();
        let mut c = Connection::client(Config::default(), t0, counter_entropy());
        let due = c.poll_timeout().unwrap();
        assert_eq!(due, t0 + Duration::from_secs(20));
        c.handle_timeout(due);
        let frames = parse_frames(&drain(&mut c));
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].0.opcode, OpCode::Ping);
        let pong = frame(true, 0, OpCode::Pong, &frames[0].1, false);
        c.receive_bytes(due + Duration::from_millis(35), &pong);
        assert_eq!(c.rtt(), Some(Duration::from_millis(35)));
    }

    #[test]
    fn missing_pong_fails_with_1011() {
        let t0 = Instant::now();
        let mut s = Connection::server(Config::default(), t0);
        let due = s.poll_timeout().unwrap();
        s.handle_timeout(due);
        let _ping = drain(&mut s);
        let timeout = s.poll_timeout().unwrap();
        assert_eq!(timeout, due + Duration::from_secs(20));
        s.handle_timeout(timeout);
        assert_eq!(s.poll_event(), Err(Error::KeepaliveTimeout));
        assert_eq!(close_code_sent(&drain(&mut s)), Some(1011));
    }
}

/// `receive_buffered_with`: messages lent in place, in the order and with the outcome
/// `poll_event` would give.
mod lending {
    use super::*;
    use switchboard_proto::MessageRef;

    #[test]
    fn whole_frames_are_lent_unmasked_and_echoed() {
        let mut wire = from_client(true, OpCode::Text, b"hello");
        wire.extend(from_client(true, OpCode::Binary, &[0, 1, 2, 255]));
        wire.extend(from_client(true, OpCode::Text, "héllo wörld".as_bytes()));
        let mut s = server();
        let lent = lend_and_echo(&mut s, &wire);
        assert_eq!(
            lent,
            [
                Message::text("hello"),
                Message::binary(vec![0, 1, 2, 255]),
                Message::text("héllo wörld"),
            ]
        );
        assert_eq!(s.poll_event(), Ok(None));
        let frames = parse_frames(&drain(&mut s));
        let echoed: Vec<_> = frames.iter().map(|(h, p)| (h.opcode, &p[..])).collect();
        assert_eq!(
            echoed,
            [
                (OpCode::Text, &b"hello"[..]),
                (OpCode::Binary, &[0, 1, 2, 255][..]),
                (OpCode::Text, "héllo wörld".as_bytes()),
            ]
        );
        assert!(frames.iter().all(|(h, _)| h.mask.is_none()));
    }

    #[test]
    fn a_large_message_is_shared_and_its_echo_queued_without_a_copy() {
        let payload = vec![5u8; 20_000];
        let mut s = server();
        let lent = lend_and_echo(&mut s, &from_client(true, OpCode::Binary, &payload));
        assert_eq!(lent, [Message::binary(payload.clone())]);
        let out = s.poll_transmit().unwrap();
        // The header in one chunk, the payload in another: a slice of what was received.
        assert_eq!(out.chunk_count(), 2);
        assert_eq!(bytes::Buf::remaining(&out), 4 + payload.len());
    }

    #[test]
    fn a_frame_split_across_reads_is_lent_once_whole() {
        let wire = from_client(true, OpCode::Text, b"split in two");
        let mut s = server();
        assert!(lend_and_echo(&mut s, &wire[..7]).is_empty());
        assert_eq!(
            lend_and_echo(&mut s, &wire[7..]),
            [Message::text("split in two")]
        );
    }

    #[test]
    fn fragments_and_control_frames_are_lent_in_order() {
        // RFC 6455 5.4: control frames may come between fragments.
        let mut wire = from_client(true, OpCode::Text, b"one");
        wire.extend(from_client(false, OpCode::Text, b"tw"));
        wire.extend(from_client(true, OpCode::Ping, b"p"));
        wire.extend(from_client(true, OpCode::Continuation, b"o"));
        wire.extend(from_client(true, OpCode::Binary, b"three"));
        let mut s = server();
        let lent = lend_and_echo(&mut s, &wire);
        assert_eq!(
            lent,
            [
                Message::text("one"),
                Message::Ping(Bytes::from_static(b"p")),
                Message::text("two"),
                Message::binary(&b"three"[..]),
            ]
        );
        let frames = parse_frames(&drain(&mut s));
        let sent: Vec<_> = frames.iter().map(|(h, p)| (h.opcode, &p[..])).collect();
        // RFC 6455 5.5.2: the ping is answered; the echoes keep their order around it.
        assert!(sent.contains(&(OpCode::Pong, &b"p"[..])));
        let echoes: Vec<_> = sent.iter().filter(|(op, _)| !op.is_control()).collect();
        assert_eq!(
            echoes,
            [
                &(OpCode::Text, &b"one"[..]),
                &(OpCode::Text, &b"two"[..]),
                &(OpCode::Binary, &b"three"[..]),
            ]
        );
    }

    #[test]
    fn messages_poll_event_has_not_returned_go_first() {
        let mut s = server_after(&from_client(true, OpCode::Text, b"earlier"));
        let lent = lend_and_echo(&mut s, &from_client(true, OpCode::Text, b"later"));
        assert_eq!(lent, [Message::text("earlier"), Message::text("later")]);
    }

    #[test]
    fn invalid_utf8_in_a_whole_frame_fails_with_1007_after_the_messages_before_it() {
        // RFC 6455 8.1. The declined frame must be masked again, so that the general path
        // sees it as it arrived: these bytes are invalid, but unmasked a second time (with
        // the key `frame` uses) they would read as the valid text "aaaa".
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let bad: Vec<u8> = b"aaaa".iter().zip(key).map(|(a, k)| a ^ k).collect();
        assert!(std::str::from_utf8(&bad).is_err());
        let mut wire = from_client(true, OpCode::Text, b"fine");
        wire.extend(from_client(true, OpCode::Text, &bad));
        wire.extend(from_client(true, OpCode::Text, b"never"));
        let mut s = server();
        assert_eq!(lend_and_echo(&mut s, &wire), [Message::text("fine")]);
        assert_eq!(
            s.poll_event(),
            Err(Error::Protocol(ProtocolError::InvalidUtf8))
        );
        let sent = drain(&mut s);
        assert_eq!(parse_frames(&sent)[0].1, b"fine");
        assert_eq!(close_code_sent(&sent), Some(1007));
    }

    #[test]
    fn protocol_errors_take_effect_through_poll_event() {
        // RFC 6455 5.1: a server fails on an unmasked frame.
        let mut wire = from_client(true, OpCode::Binary, b"ok");
        wire.extend(frame(true, 0, OpCode::Binary, b"unmasked", false));
        let mut s = server();
        assert_eq!(lend_and_echo(&mut s, &wire), [Message::binary(&b"ok"[..])]);
        assert_fails_with(&mut s, 1002);
    }

    #[test]
    fn frames_over_the_limit_fail_as_when_polled() {
        let mut config = Config::default();
        config.limits.max_frame_size = 8;
        let mut s = Connection::server(config, Instant::now());
        let wire = from_client(true, OpCode::Text, b"nine byte");
        assert!(lend_and_echo(&mut s, &wire).is_empty());
        assert_fails_with(&mut s, 1009);
    }

    #[test]
    fn the_close_frame_is_left_for_poll_event_and_comes_after_the_echoes() {
        // RFC 6455 5.5.1: nothing after the close frame is processed.
        let mut wire = from_client(true, OpCode::Text, b"last");
        wire.extend(from_client(true, OpCode::Close, b"\x03\xe8"));
        wire.extend(from_client(true, OpCode::Text, b"after close"));
        let mut s = server();
        assert_eq!(lend_and_echo(&mut s, &wire), [Message::text("last")]);
        assert!(matches!(s.poll_event(), Ok(Some(Message::Close(_)))));
        assert_eq!(s.poll_event(), Ok(None));
        let frames = parse_frames(&drain(&mut s));
        assert_eq!(frames[0].1, b"last");
        assert_eq!(frames[1].0.opcode, OpCode::Close);
        assert!(lend_and_echo(&mut s, &from_client(true, OpCode::Text, b"x")).is_empty());
    }

    #[test]
    fn a_client_is_lent_unmasked_frames() {
        let mut c = client();
        let wire = frame(true, 0, OpCode::Text, b"from the server", false);
        assert_eq!(
            lend_and_echo(&mut c, &wire),
            [Message::text("from the server")]
        );
        // RFC 6455 5.3: the client's echo is masked.
        let frames = parse_frames(&drain(&mut c));
        assert!(frames[0].0.mask.is_some());
        assert_eq!(frames[0].1, b"from the server");
    }

    #[test]
    fn the_outbox_refuses_what_send_refuses() {
        let mut s = server();
        let mut outbox = s.outbox();
        assert!(matches!(
            outbox.send(MessageRef::Ping(&[0; 126])),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            outbox.send(MessageRef::Close(None)),
            Err(Error::InvalidInput(_))
        ));
        assert_eq!(outbox.send(MessageRef::Pong(b"beat")), Ok(()));
        s.send_fragment(OpCode::Text, b"half", false).unwrap();
        assert!(matches!(
            s.outbox().send(MessageRef::Binary(b"x")),
            Err(Error::InvalidInput(_))
        ));
        s.close(Instant::now(), CloseCode::NORMAL_CLOSURE, "")
            .unwrap();
        assert_eq!(s.outbox().send(MessageRef::Pong(b"x")), Err(Error::Closed));
    }
}
