use std::io::Write as _;

use super::*;

/// Loads `toml` from a file of its own; the environment of the test process has no
/// `SWITCHBOARD_*` variables (nextest runs each test in a process of its own).
fn load(toml: &str) -> Result<ServeConfig, ConfigError> {
    let dir = std::env::temp_dir().join(format!(
        "switchboard-config-{}-{:x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("switchboard.toml");
    std::fs::File::create(&path)
        .unwrap()
        .write_all(toml.as_bytes())
        .unwrap();
    let result = ServeConfig::load(Some(&path));
    std::fs::remove_dir_all(&dir).unwrap();
    result
}

#[test]
fn an_empty_file_is_the_defaults() {
    assert_eq!(load("").unwrap(), ServeConfig::default());
    assert_eq!(ServeConfig::load(None).unwrap(), ServeConfig::default());
}

#[test]
fn defaults_are_a_working_open_hub_on_loopback() {
    let config = ServeConfig::default();
    assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    assert!(config.api_key.is_none());
    let node = config.node_config();
    let channel = crate::ChannelName::new("lobby").unwrap();
    let namespace = node.namespaces.resolve(&channel).unwrap();
    assert!(namespace.allow_anonymous && namespace.allow_publish_by_clients);
    assert!(namespace.presence && namespace.join_leave);
    assert_eq!(namespace.history_size, 100);
}

#[test]
fn file_values_override_defaults() {
    let config = load(
        r#"
        listen = "0.0.0.0:9000"
        api_key = "k"
        allowed_origins = ["https://*.example.com"]
        [limits]
        max_connections = 5
        outbox_messages = 7
        [log]
        format = "json"
        [namespaces.chat]
        allow_anonymous = false
        history_size = 3
        "#,
    )
    .unwrap();
    assert_eq!(config.listen.port(), 9000);
    assert_eq!(config.api_key.as_deref(), Some("k"));
    assert_eq!(config.limits.max_connections, 5);
    assert_eq!(
        config.limits.max_connections_per_ip, 1000,
        "untouched default"
    );
    assert_eq!(config.log.format, LogFormat::Json);
    let node = config.node_config();
    assert_eq!(node.outbox.max_messages, 7);
    let chat = crate::ChannelName::new("chat:x").unwrap();
    let namespace = node.namespaces.resolve(&chat).unwrap();
    assert!(!namespace.allow_anonymous);
    assert_eq!(namespace.history_size, 3);
    assert!(
        namespace.presence,
        "unset fields keep the namespace defaults"
    );
    // The default namespace is still there.
    assert!(config.namespaces.contains_key("default"));
}

#[test]
fn bad_files_are_refused_with_the_reason() {
    let table: &[(&str, &str)] = &[
        ("listen = 8080", "listen"),
        ("lissen = \"127.0.0.1:1\"", "lissen"),
        ("[limits]\nmax_conections = 1", "max_conections"),
        ("[namespaces.\"bad name\"]", "bad name"),
        ("[namespaces.\"a:b\"]", "a:b"),
        ("[limits]\ncommands_per_second = 0", "commands_per_second"),
        ("api_key = \"\"", "api_key"),
        ("[log]\nformat = \"xml\"", "xml"),
        ("not toml at all [", ""),
        ("[engine]\nredis = [\"http://x\"]", "engine.redis"),
        ("[engine]\npresence_ttl_secs = 0", "presence_ttl_secs"),
        ("[engine]\nredis_prefix = \"\"", "redis_prefix"),
    ];
    for (toml, mentions) in table {
        let error = load(toml).expect_err(toml).to_string();
        assert!(error.contains(mentions), "{toml:?}: {error}");
    }
}

#[test]
fn a_missing_file_is_an_error() {
    let error = ServeConfig::load(Some(Path::new("/nonexistent/switchboard.toml")))
        .unwrap_err()
        .to_string();
    assert!(error.contains("not found"), "{error}");
}

#[test]
fn printing_redacts_secrets_and_reads_back() {
    let mut config = ServeConfig {
        api_key: Some("secret-key".into()),
        ..ServeConfig::default()
    };
    config.engine.redis = vec!["redis://:redis-password@127.0.0.1:6379/0".into()];
    let shown = config.to_toml_redacted();
    assert!(!shown.contains("secret-key"));
    assert!(!shown.contains("redis-password"));
    assert!(shown.contains("127.0.0.1:6379/0"));
    assert!(shown.contains("<redacted>"));
    let read_back: ServeConfig = toml::from_str(&shown).unwrap();
    assert_eq!(read_back.limits, config.limits);
    assert_eq!(read_back.namespaces, config.namespaces);
}

#[test]
fn the_engine_is_memory_until_redis_urls_are_given() {
    assert_eq!(ServeConfig::default().engine.redis_options(), None);
    let config = load(
        r#"
        [engine]
        redis = ["redis://127.0.0.1:6379/", "rediss://:pw@10.0.0.2:6380/1"]
        redis_prefix = "hub1"
        presence_ttl_secs = 5
        redis_timeout_ms = 300
        "#,
    )
    .unwrap();
    let options = config.engine.redis_options().unwrap();
    assert_eq!(options.urls.len(), 2);
    assert_eq!(options.prefix, "hub1");
    assert_eq!(options.presence_ttl, Duration::from_secs(5));
    assert_eq!(options.timeout, Duration::from_millis(300));
}
