//! The configuration of `switchboard serve`: a TOML file, `SWITCHBOARD_*` environment
//! variables over it, and command-line flags over both.
//!
//! Every field has a default, so an empty file (or none) is a working configuration: a hub
//! on 127.0.0.1:8080 where anyone may join any channel, with presence and a short history.
//! That is the right default for trying it on one machine and the wrong one for a public
//! server; `docs/hub.md` lists what to change.
//!
//! Environment variables name a field by its path with `__` between levels:
//! `SWITCHBOARD_LISTEN=0.0.0.0:8080`, `SWITCHBOARD_LIMITS__MAX_CONNECTIONS=50000`,
//! `SWITCHBOARD_API_KEY=...`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::channel::{NamespaceConfig, Namespaces};
use crate::node::{NodeConfig, OutboxLimits};
use crate::rate_limit::RateLimit;
use crate::session::SessionConfig;

/// The top-level fields, which environment variables may set.
const FIELDS: &[&str] = &[
    "listen",
    "api_key",
    "allowed_origins",
    "tls",
    "chat_page",
    "shutdown_timeout_secs",
    "log",
    "limits",
    "jwt",
    "namespaces",
    "engine",
];

/// The whole configuration of `switchboard serve`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    /// The address to listen on. Default `127.0.0.1:8080`: loopback only, until asked.
    pub listen: SocketAddr,
    /// The key backends send as `Authorization: apikey KEY` to use the HTTP API. Default
    /// none, which turns the API off (it answers 403 saying so).
    pub api_key: Option<String>,
    /// Origins (`https://app.example.com`, `https://*.example.com`) whose pages may open
    /// WebSockets. Default empty: same-origin only (the built-in chat page); clients that
    /// send no Origin (not browsers) are always allowed.
    pub allowed_origins: Vec<String>,
    /// Serve https:// and wss:// with this certificate and key. Default none: plain HTTP,
    /// for loopback or behind a proxy that terminates TLS.
    pub tls: Option<TlsConfig>,
    /// Serve the chat page at `/`. Default `true`.
    pub chat_page: bool,
    /// How long a graceful shutdown waits for clients to leave after telling them to
    /// reconnect elsewhere, in seconds. Default 10.
    pub shutdown_timeout_secs: u64,
    /// Logging.
    pub log: LogConfig,
    /// Limits per server, per address and per connection.
    pub limits: LimitsConfig,
    /// JWT connection tokens. Default: none, so every token is refused and only anonymous
    /// connections get in (where a namespace allows them).
    pub jwt: Option<crate::jwt::JwtConfig>,
    /// Namespaces by name; `default` configures channels without a `namespace:` prefix.
    /// A channel in a namespace that is not listed is refused (error 102). Default:
    /// `default` and `chat` (the chat page's rooms), both open to anonymous clients, with
    /// presence, join and leave, and 100 publications of history for 5 minutes.
    pub namespaces: BTreeMap<String, NamespaceSettings>,
    /// Where channels, history and presence live. Default: this process's memory, a
    /// single node. With Redis URLs, every node on the same Redis acts as one hub.
    pub engine: EngineSettings,
}

/// The engine's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineSettings {
    /// Redis servers, one URL per shard (`redis://[:PASSWORD@]HOST:PORT/[DB]`, or
    /// `rediss://` for TLS); channels are spread over them by a hash of their name, so one
    /// Redis is not the ceiling. Every node must list the same URLs in the same order.
    /// Default empty: the in-memory engine, one node.
    pub redis: Vec<String>,
    /// What every Redis key and pub/sub channel starts with, so several hubs can share a
    /// Redis. Default `switchboard`.
    pub redis_prefix: String,
    /// Seconds a node's presence entries outlive it when it dies without removing them.
    /// Default 60.
    pub presence_ttl_secs: u64,
    /// Milliseconds one Redis operation may take before it fails (a publish is then
    /// refused, never silently lost). Default 2000.
    pub redis_timeout_ms: u64,
}

impl Default for EngineSettings {
    fn default() -> Self {
        let redis = crate::redis::RedisOptions::new(Vec::new());
        Self {
            redis: Vec::new(),
            redis_prefix: redis.prefix,
            presence_ttl_secs: redis.presence_ttl.as_secs(),
            redis_timeout_ms: redis.timeout.as_millis() as u64,
        }
    }
}

impl EngineSettings {
    /// The Redis engine's options, or `None` for the in-memory engine.
    pub fn redis_options(&self) -> Option<crate::redis::RedisOptions> {
        if self.redis.is_empty() {
            return None;
        }
        let mut options = crate::redis::RedisOptions::new(self.redis.clone());
        options.prefix = self.redis_prefix.clone();
        options.presence_ttl = Duration::from_secs(self.presence_ttl_secs);
        options.timeout = Duration::from_millis(self.redis_timeout_ms);
        Some(options)
    }
}

/// TLS settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// A PEM file with the certificate chain, the server's certificate first.
    pub cert: std::path::PathBuf,
    /// A PEM file with the certificate's private key (PKCS #8, PKCS #1 or SEC1).
    pub key: std::path::PathBuf,
}

/// Logging settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `human` (default) or `json` (one object per line, for log collectors).
    pub format: LogFormat,
    /// A tracing filter: `info` (default), `debug`, `switchboard_hub=debug,info`, ...
    /// `RUST_LOG`, when set, takes precedence.
    pub level: String,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// Limits. Each protects the server from one kind of excess.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Open WebSocket connections in total. Default 100000; beyond, upgrades get 503.
    pub max_connections: usize,
    /// Open WebSocket connections per client IP address. Default 1000 (offices and
    /// carrier NATs put many users behind one address); beyond, upgrades get 429.
    pub max_connections_per_ip: usize,
    /// The largest message a client may send, in bytes. Default 65536; larger closes the
    /// connection with 1009.
    pub max_message_size: usize,
    /// Seconds a protocol client has to send `connect`. Default 10.
    pub connect_timeout_secs: u64,
    /// Seconds between pings to an idle client. Default 20.
    pub ping_interval_secs: u64,
    /// Seconds to wait for the pong before the connection counts as dead. Default 20.
    pub ping_timeout_secs: u64,
    /// Commands (or plain-room messages) a connection may send per second, sustained.
    /// Default 20.
    pub commands_per_second: f64,
    /// How many commands may arrive back to back. Default 50.
    pub command_burst: u32,
    /// Channels one connection may subscribe to. Default 128.
    pub max_subscriptions: usize,
    /// Deliveries waiting for a client before it is disconnected as too slow (4004).
    /// Default 4096.
    pub outbox_messages: usize,
    /// Bytes of deliveries waiting for a client before it is disconnected as too slow.
    /// Default 4194304 (4 MiB).
    pub outbox_bytes: usize,
    /// Negotiate permessage-deflate with clients that offer it. Default `false`: the hub
    /// encodes each publication once for all subscribers, and compression would redo the
    /// work per subscriber.
    pub compression: bool,
}

/// One namespace's rules, as written in the configuration file (see [`NamespaceConfig`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NamespaceSettings {
    /// Clients without a token may subscribe (and publish, where allowed).
    pub allow_anonymous: bool,
    /// Clients may publish.
    pub allow_publish: bool,
    /// Clients may subscribe without a channel grant in their token.
    pub allow_subscribe: bool,
    /// Track presence.
    pub presence: bool,
    /// Send join and leave pushes (needs `presence`).
    pub join_leave: bool,
    /// Publications kept per channel.
    pub history_size: usize,
    /// Seconds each publication is kept.
    pub history_ttl_secs: u64,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            api_key: None,
            allowed_origins: Vec::new(),
            tls: None,
            chat_page: true,
            shutdown_timeout_secs: 10,
            log: LogConfig::default(),
            limits: LimitsConfig::default(),
            jwt: None,
            namespaces: BTreeMap::from([
                ("default".to_owned(), NamespaceSettings::default()),
                ("chat".to_owned(), NamespaceSettings::default()),
            ]),
            engine: EngineSettings::default(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Human,
            level: "info".into(),
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let session = SessionConfig::default();
        let outbox = OutboxLimits::default();
        Self {
            max_connections: 100_000,
            max_connections_per_ip: 1000,
            max_message_size: 65536,
            connect_timeout_secs: 10,
            ping_interval_secs: 20,
            ping_timeout_secs: 20,
            commands_per_second: session.rate_limit.per_second,
            command_burst: session.rate_limit.burst,
            max_subscriptions: session.max_subscriptions,
            outbox_messages: outbox.max_messages,
            outbox_bytes: outbox.max_bytes,
            compression: false,
        }
    }
}

/// The default namespace of `switchboard serve`: open, with presence and some history.
impl Default for NamespaceSettings {
    fn default() -> Self {
        Self {
            allow_anonymous: true,
            allow_publish: true,
            allow_subscribe: true,
            presence: true,
            join_leave: true,
            history_size: 100,
            history_ttl_secs: 300,
        }
    }
}

impl NamespaceSettings {
    /// The namespace rules these settings describe.
    pub fn to_namespace(&self) -> NamespaceConfig {
        NamespaceConfig {
            allow_publish_by_clients: self.allow_publish,
            allow_subscribe_by_clients: self.allow_subscribe,
            presence: self.presence,
            join_leave: self.join_leave,
            history_size: self.history_size,
            history_ttl: Duration::from_secs(self.history_ttl_secs),
            allow_anonymous: self.allow_anonymous,
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug)]
pub struct ConfigError(String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl ServeConfig {
    /// The defaults, then `file` (if given; it must exist), then the `SWITCHBOARD_*`
    /// environment variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Self::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError(format!(
                    "configuration file {} not found",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        // Only variables that name a field: `SWITCHBOARD_BIN` and the like belong to
        // scripts, and must not fail the configuration as unknown fields.
        let env = Env::prefixed("SWITCHBOARD_")
            .filter(|key| {
                // `SWITCHBOARD_LOG` is the command line's `--log` filter, not the `[log]` table.
                let key = key.as_str();
                let top = key.split("__").next().unwrap_or_default();
                !key.eq_ignore_ascii_case("log")
                    && FIELDS.iter().any(|field| top.eq_ignore_ascii_case(field))
            })
            .split("__");
        figment = figment.merge(env);
        let config: Self = figment
            .extract()
            .map_err(|error| ConfigError(error.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for name in self.namespaces.keys() {
            let valid = name == "default"
                || (!name.is_empty()
                    && name.chars().all(crate::channel::is_channel_char)
                    && !name.contains(':'));
            if !valid {
                return Err(ConfigError(format!("invalid namespace name {name:?}")));
            }
        }
        let limits = &self.limits;
        if limits.max_message_size == 0 || limits.outbox_messages == 0 || limits.outbox_bytes == 0 {
            return Err(ConfigError(
                "limits.max_message_size, outbox_messages and outbox_bytes must be positive".into(),
            ));
        }
        let rate = limits.commands_per_second;
        if rate.is_nan() || rate <= 0.0 || limits.command_burst == 0 {
            return Err(ConfigError(
                "limits.commands_per_second and command_burst must be positive".into(),
            ));
        }
        let engine = &self.engine;
        for url in &engine.redis {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return Err(ConfigError(format!(
                    "engine.redis: {} is not a redis:// or rediss:// URL",
                    crate::redis::redact_url(url)
                )));
            }
        }
        if engine.presence_ttl_secs == 0 || engine.redis_timeout_ms == 0 {
            return Err(ConfigError(
                "engine.presence_ttl_secs and redis_timeout_ms must be positive".into(),
            ));
        }
        if engine.redis_prefix.is_empty() || engine.redis_prefix.contains(char::is_whitespace) {
            return Err(ConfigError(
                "engine.redis_prefix must be a non-empty word".into(),
            ));
        }
        if self.api_key.as_deref() == Some("") {
            return Err(ConfigError(
                "api_key is empty; leave it out to turn the API off".into(),
            ));
        }
        Ok(())
    }

    /// The configuration as TOML, with secrets replaced by `"<redacted>"`.
    pub fn to_toml_redacted(&self) -> String {
        let mut shown = self.clone();
        let redact = |secret: &mut Option<String>| {
            if secret.is_some() {
                *secret = Some("<redacted>".into());
            }
        };
        redact(&mut shown.api_key);
        if let Some(jwt) = shown.jwt.as_mut() {
            redact(&mut jwt.hmac_secret);
        }
        for url in &mut shown.engine.redis {
            *url = crate::redis::redact_url(url);
        }
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot show: {e}\n"))
    }

    /// The node's settings.
    pub fn node_config(&self) -> NodeConfig {
        let default = self
            .namespaces
            .get("default")
            .map(NamespaceSettings::to_namespace)
            .unwrap_or_default();
        let mut namespaces = Namespaces::new(default);
        for (name, settings) in &self.namespaces {
            if name != "default" {
                namespaces = namespaces.with(name.clone(), settings.to_namespace());
            }
        }
        let limits = &self.limits;
        NodeConfig {
            namespaces,
            session: SessionConfig {
                rate_limit: RateLimit {
                    burst: limits.command_burst,
                    per_second: limits.commands_per_second,
                },
                max_subscriptions: limits.max_subscriptions,
            },
            outbox: OutboxLimits {
                max_messages: limits.outbox_messages,
                max_bytes: limits.outbox_bytes,
            },
            connect_timeout: Duration::from_secs(limits.connect_timeout_secs),
        }
    }
}

#[cfg(test)]
mod tests;
