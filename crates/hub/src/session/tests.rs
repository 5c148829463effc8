//! The session's rules as a table: (commands already handled, next frame) -> actions.

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::permission::ChannelPattern;

struct StubAuthenticator {
    start: Instant,
}

impl Authenticator for StubAuthenticator {
    fn authenticate(&self, token: &str, _now: Instant) -> Result<Credentials, AuthError> {
        match token {
            "alice" | "alice-10s" => Ok(Credentials {
                user_id: "alice".into(),
                info: None,
                channels: vec![ChannelPattern::new("private:alice").unwrap()],
                publish: vec![ChannelPattern::new("private:alice").unwrap()],
                expires_at: (token == "alice-10s").then(|| self.start + Duration::from_secs(10)),
            }),
            "expired" => Err(AuthError::Expired),
            _ => Err(AuthError::Invalid),
        }
    }
}

fn chat_config() -> NamespaceConfig {
    NamespaceConfig {
        allow_publish_by_clients: true,
        presence: true,
        join_leave: true,
        history_size: 10,
        allow_anonymous: true,
        ..NamespaceConfig::default()
    }
}

fn namespaces() -> Namespaces {
    let private = NamespaceConfig {
        allow_subscribe_by_clients: false,
        ..NamespaceConfig::default()
    };
    Namespaces::default()
        .with("chat", chat_config())
        .with("private", private)
}

fn channel(name: &str) -> ChannelName {
    ChannelName::new(name).unwrap()
}

fn client(user: &str) -> ClientInfo {
    ClientInfo {
        client_id: "c1".into(),
        user_id: user.into(),
        info: None,
    }
}

fn ok(id: u32, result: ReplyResult) -> Action {
    Action::Reply(Reply::ok(id, result))
}

fn err(id: u32, code: ErrorCode) -> Action {
    Action::Reply(Reply::error(id, code))
}

/// The reply `decode_command` gives for a frame it refuses.
fn refused(frame: &str) -> Action {
    Action::Reply(decode_command(frame.as_bytes()).unwrap_err().reply())
}

fn disconnect(code: DisconnectCode, reason: &str) -> Action {
    Action::Disconnect {
        code,
        reason: reason.into(),
        reconnect: code.reconnect(),
    }
}

fn connected(user: &str) -> Action {
    ok(
        1,
        ReplyResult::Connect {
            client: "c1".into(),
            user: user.into(),
        },
    )
}

fn subscribe(id: u32, name: &str, user: &str, recover: Option<(u64, &str)>) -> Action {
    let namespaces = namespaces();
    let channel = channel(name);
    let options = ChannelOptions::of(namespaces.resolve(&channel).unwrap());
    Action::Subscribe {
        id,
        channel,
        recover: recover.map(|(offset, epoch)| StreamPosition {
            offset,
            epoch: epoch.into(),
        }),
        client: client(user),
        options,
    }
}

const NEW: &[&str] = &[];
const ANON: &[&str] = &[r#"{"id":1,"method":"connect"}"#];
const ALICE: &[&str] = &[r#"{"id":1,"method":"connect","params":{"token":"alice"}}"#];
const ALICE_IN_LOBBY: &[&str] = &[
    r#"{"id":1,"method":"connect","params":{"token":"alice"}}"#,
    r#"{"id":2,"method":"subscribe","params":{"channel":"chat:lobby"}}"#,
];
const CLOSED: &[&str] = &[r#"{"id":1,"method":"ping"}"#];

fn run(start: Instant, session: &mut Session, frame: &str) -> Vec<Action> {
    let namespaces = namespaces();
    let authenticator = StubAuthenticator { start };
    let ctx = Context {
        now: start,
        namespaces: &namespaces,
        authenticator: &authenticator,
    };
    session.handle_frame(frame.as_bytes(), &ctx)
}

#[test]
fn commands_in_actions_out() {
    use DisconnectCode as D;
    use ErrorCode as E;
    let table: Vec<(&[&str], &str, Vec<Action>)> = vec![
        // connect first
        (NEW, r#"{"id":1,"method":"connect"}"#, vec![connected("")]),
        (
            NEW,
            r#"{"id":1,"method":"connect","params":{"token":"alice"}}"#,
            vec![connected("alice")],
        ),
        (
            NEW,
            r#"{"id":1,"method":"connect","params":{"token":"forged"}}"#,
            vec![
                err(1, E::UNAUTHORIZED),
                disconnect(D::UNAUTHORIZED, "invalid token"),
            ],
        ),
        (
            NEW,
            r#"{"id":1,"method":"connect","params":{"token":"expired"}}"#,
            vec![
                err(1, E::TOKEN_EXPIRED),
                disconnect(D::TOKEN_EXPIRED, "token expired"),
            ],
        ),
        (
            NEW,
            r#"{"id":1,"method":"ping"}"#,
            vec![
                err(1, E::UNAUTHORIZED),
                disconnect(D::BAD_REQUEST, "connect first"),
            ],
        ),
        (
            NEW,
            r#"{"id":1,"method":"nope"}"#,
            vec![refused(r#"{"id":1,"method":"nope"}"#)],
        ),
        (
            ALICE,
            r#"{"id":2,"method":"connect"}"#,
            vec![err(2, E::ALREADY_CONNECTED)],
        ),
        (
            ALICE,
            r#"{"id":2,"method":"ping"}"#,
            vec![ok(2, ReplyResult::Empty {})],
        ),
        // malformed frames disconnect; bad params and unknown methods only get an error
        (
            ALICE,
            "not json",
            vec![
                refused("not json"),
                disconnect(D::BAD_REQUEST, "malformed command"),
            ],
        ),
        (
            ALICE,
            r#"{"id":2,"method":"rpc"}"#,
            vec![refused(r#"{"id":2,"method":"rpc"}"#)],
        ),
        (
            ALICE,
            r#"{"id":2,"method":"subscribe","params":{"channel":""}}"#,
            vec![refused(
                r#"{"id":2,"method":"subscribe","params":{"channel":""}}"#,
            )],
        ),
        // subscribe: permissions, namespaces, duplicates, recovery
        (
            ALICE,
            r#"{"id":2,"method":"subscribe","params":{"channel":"chat:lobby"}}"#,
            vec![subscribe(2, "chat:lobby", "alice", None)],
        ),
        (
            ALICE,
            r#"{"id":2,"method":"subscribe","params":{"channel":"chat:lobby","recover":true,"offset":4,"epoch":"e"}}"#,
            vec![subscribe(2, "chat:lobby", "alice", Some((4, "e")))],
        ),
        (
            ALICE,
            r#"{"id":2,"method":"subscribe","params":{"channel":"news"}}"#,
            vec![subscribe(2, "news", "alice", None)],
        ),
        (
            ANON,
            r#"{"id":2,"method":"subscribe","params":{"channel":"news"}}"#,
            vec![err(2, E::PERMISSION_DENIED)],
        ),
        (
            ANON,
            r#"{"id":2,"method":"subscribe","params":{"channel":"chat:lobby"}}"#,
            vec![subscribe(2, "chat:lobby", "", None)],
        ),
        (
            ALICE,
            r#"{"id":2,"method":"subscribe","params":{"channel":"private:alice"}}"#,
            vec![subscribe(2, "private:alice", "alice", None)],
        ),
        (
            ALICE,
            r#"{"id":2,"method":"subscribe","params":{"channel":"private:bob"}}"#,
            vec![err(2, E::PERMISSION_DENIED)],
        ),
        (
            ALICE,
            r#"{"id":2,"method":"subscribe","params":{"channel":"nowhere:x"}}"#,
            vec![err(2, E::UNKNOWN_CHANNEL)],
        ),
        (
            ALICE_IN_LOBBY,
            r#"{"id":3,"method":"subscribe","params":{"channel":"chat:lobby"}}"#,
            vec![err(3, E::ALREADY_SUBSCRIBED)],
        ),
        // unsubscribe
        (
            ALICE_IN_LOBBY,
            r#"{"id":3,"method":"unsubscribe","params":{"channel":"chat:lobby"}}"#,
            vec![
                Action::Unsubscribe {
                    channel: channel("chat:lobby"),
                    client: client("alice"),
                    options: ChannelOptions::of(&chat_config()),
                },
                ok(3, ReplyResult::Empty {}),
            ],
        ),
        (
            ALICE,
            r#"{"id":3,"method":"unsubscribe","params":{"channel":"chat:lobby"}}"#,
            vec![err(3, E::NOT_SUBSCRIBED)],
        ),
        // publish: allowed per namespace, data encoded once
        (
            ALICE,
            r#"{"id":3,"method":"publish","params":{"channel":"chat:lobby","data":{"text":"hi"}}}"#,
            vec![Action::Publish {
                id: 3,
                channel: channel("chat:lobby"),
                data: Bytes::from_static(br#"{"text":"hi"}"#),
                client: client("alice"),
                options: ChannelOptions::of(&chat_config()),
            }],
        ),
        (
            ALICE,
            r#"{"id":3,"method":"publish","params":{"channel":"news","data":1}}"#,
            vec![err(3, E::PERMISSION_DENIED)],
        ),
        (
            ALICE,
            r#"{"id":3,"method":"publish","params":{"channel":"nowhere:x","data":1}}"#,
            vec![err(3, E::UNKNOWN_CHANNEL)],
        ),
        // a publish grant in the token opens a namespace closed to client publishing
        (
            ALICE,
            r#"{"id":3,"method":"publish","params":{"channel":"private:alice","data":1}}"#,
            vec![Action::Publish {
                id: 3,
                channel: channel("private:alice"),
                data: Bytes::from_static(b"1"),
                client: client("alice"),
                options: ChannelOptions::of(
                    namespaces().resolve(&channel("private:alice")).unwrap(),
                ),
            }],
        ),
        (
            ALICE,
            r#"{"id":3,"method":"publish","params":{"channel":"private:bob","data":1}}"#,
            vec![err(3, E::PERMISSION_DENIED)],
        ),
        // presence and history need a subscription and the feature
        (
            ALICE_IN_LOBBY,
            r#"{"id":3,"method":"presence","params":{"channel":"chat:lobby"}}"#,
            vec![Action::Presence {
                id: 3,
                channel: channel("chat:lobby"),
            }],
        ),
        (
            ALICE_IN_LOBBY,
            r#"{"id":3,"method":"presence_stats","params":{"channel":"chat:lobby"}}"#,
            vec![Action::PresenceStats {
                id: 3,
                channel: channel("chat:lobby"),
            }],
        ),
        (
            ALICE,
            r#"{"id":3,"method":"presence","params":{"channel":"chat:lobby"}}"#,
            vec![err(3, E::PERMISSION_DENIED)],
        ),
        (
            ALICE_IN_LOBBY,
            r#"{"id":3,"method":"history","params":{"channel":"chat:lobby","limit":5,"since":{"offset":2,"epoch":"e"}}}"#,
            vec![Action::History {
                id: 3,
                channel: channel("chat:lobby"),
                limit: 5,
                since: Some(StreamPosition {
                    offset: 2,
                    epoch: "e".into(),
                }),
            }],
        ),
        (
            ALICE,
            r#"{"id":3,"method":"history","params":{"channel":"chat:lobby"}}"#,
            vec![err(3, E::PERMISSION_DENIED)],
        ),
        // after a disconnect, nothing
        (CLOSED, r#"{"id":2,"method":"connect"}"#, vec![]),
        (CLOSED, "not json", vec![]),
    ];
    let start = Instant::now();
    for (case, (setup, frame, expected)) in table.into_iter().enumerate() {
        let mut session = Session::new("c1", SessionConfig::default(), start);
        for command in setup {
            run(start, &mut session, command);
        }
        assert_eq!(
            run(start, &mut session, frame),
            expected,
            "case {case}: {frame}"
        );
    }
}

#[test]
fn presence_and_history_need_the_feature() {
    let start = Instant::now();
    let mut session = Session::new("c1", SessionConfig::default(), start);
    run(start, &mut session, ALICE[0]);
    run(
        start,
        &mut session,
        r#"{"id":2,"method":"subscribe","params":{"channel":"news"}}"#,
    );
    for method in ["presence", "presence_stats", "history"] {
        let frame = json!({"id": 3, "method": method, "params": {"channel": "news"}}).to_string();
        let actions = run(start, &mut session, &frame);
        assert_eq!(actions, vec![err(3, ErrorCode::NOT_AVAILABLE)], "{method}");
    }
}

#[test]
fn rate_limit_refuses_commands_without_executing_them() {
    let start = Instant::now();
    let config = SessionConfig {
        rate_limit: RateLimit {
            burst: 2,
            per_second: 1.0,
        },
        ..SessionConfig::default()
    };
    let mut session = Session::new("c1", config, start);
    let ping = r#"{"id":7,"method":"ping"}"#;
    assert_eq!(run(start, &mut session, ALICE[0]), vec![connected("alice")]);
    assert_eq!(
        run(start, &mut session, ping),
        vec![ok(7, ReplyResult::Empty {})]
    );
    assert_eq!(
        run(start, &mut session, ping),
        vec![err(7, ErrorCode::LIMIT_EXCEEDED)]
    );
    let bad = r#"{"id":8,"method":"rpc"}"#;
    assert_eq!(
        run(start, &mut session, bad),
        vec![err(8, ErrorCode::LIMIT_EXCEEDED)]
    );
    let later = start + Duration::from_secs(1);
    let namespaces = namespaces();
    let authenticator = StubAuthenticator { start };
    let ctx = Context {
        now: later,
        namespaces: &namespaces,
        authenticator: &authenticator,
    };
    assert_eq!(
        session.handle_frame(ping.as_bytes(), &ctx),
        vec![ok(7, ReplyResult::Empty {})]
    );
}

#[test]
fn subscription_limit_and_rollback() {
    let start = Instant::now();
    let config = SessionConfig {
        max_subscriptions: 1,
        ..SessionConfig::default()
    };
    let mut session = Session::new("c1", config, start);
    run(start, &mut session, ALICE[0]);
    let lobby = r#"{"id":2,"method":"subscribe","params":{"channel":"chat:lobby"}}"#;
    let news = r#"{"id":3,"method":"subscribe","params":{"channel":"news"}}"#;
    assert_eq!(
        run(start, &mut session, lobby),
        vec![subscribe(2, "chat:lobby", "alice", None)]
    );
    let refused = Reply::error_with(3, ErrorCode::LIMIT_EXCEEDED, "too many subscriptions");
    assert_eq!(run(start, &mut session, news), vec![Action::Reply(refused)]);
    // The hub could not complete the first subscription: the slot is free again.
    session.subscribe_failed(&channel("chat:lobby"));
    assert_eq!(
        run(start, &mut session, news),
        vec![subscribe(3, "news", "alice", None)]
    );
    assert_eq!(
        session.subscriptions().collect::<Vec<_>>(),
        [&channel("news")]
    );
}

#[test]
fn token_expiry_disconnects() {
    let start = Instant::now();
    let mut session = Session::new("c1", SessionConfig::default(), start);
    assert_eq!(session.poll_timeout(), None);
    run(
        start,
        &mut session,
        r#"{"id":1,"method":"connect","params":{"token":"alice-10s"}}"#,
    );
    let expiry = start + Duration::from_secs(10);
    assert_eq!(session.poll_timeout(), Some(expiry));
    assert_eq!(
        session.handle_timeout(expiry - Duration::from_millis(1)),
        vec![]
    );
    assert_eq!(
        session.handle_timeout(expiry),
        vec![disconnect(DisconnectCode::TOKEN_EXPIRED, "token expired")]
    );
    assert!(session.is_closed());
    assert_eq!(session.poll_timeout(), None);
    assert_eq!(session.handle_timeout(expiry), vec![]);
}
