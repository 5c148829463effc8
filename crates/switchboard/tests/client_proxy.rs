//! The URL client through proxies written in `client_support::proxies`: HTTP CONNECT and
//! SOCKS5 (local and remote name resolution), with and without credentials, wrong
//! credentials, refusal codes, wss:// inside a tunnel, and proxy selection from injected
//! variables (never the process environment, which parallel tests share).
#![cfg(feature = "rustls")]
#![allow(clippy::unwrap_used)]

mod client_support;

use std::collections::HashMap;
use std::io;

use client_support::pki::Pki;
use client_support::proxies::{http_proxy, socks5_proxy};
use client_support::{bounded, echo_server, round_trip, spawn_tls_echo};
use switchboard::client::proxy::{ProxyEnv, ProxyScheme, SocksReply};
use switchboard::{ClientBuilder, Error, Proxy, ProxyError};
use tokio::net::TcpListener;

fn proxy_refusal(result: switchboard::Result<impl Sized>) -> ProxyError {
    match result {
        Err(error) => error
            .proxy_error()
            .cloned()
            .unwrap_or_else(|| panic!("expected a proxy refusal, got {error:?}")),
        Ok(_) => panic!("expected a proxy refusal"),
    }
}

#[tokio::test]
async fn http_connect_proxy_without_credentials() {
    bounded(async {
        let (addr, _) = echo_server().await;
        let (proxy_addr, mut tunnels) = http_proxy(None, addr).await;
        let proxy = Proxy::parse(&format!("http://{proxy_addr}")).unwrap();
        let (mut ws, _) = ClientBuilder::new(format!("ws://{addr}/"))
            .proxy(proxy)
            .connect()
            .await
            .unwrap();
        assert_eq!(ws.get_ref().tcp().peer_addr().unwrap(), proxy_addr);
        round_trip(&mut ws, "through CONNECT").await;
        let tunnel = tunnels.recv().await.unwrap();
        assert_eq!(tunnel.target, addr.to_string());
    })
    .await;
}

#[tokio::test]
async fn http_connect_proxy_with_credentials() {
    bounded(async {
        let (addr, _) = echo_server().await;
        let (proxy_addr, mut tunnels) = http_proxy(Some("alice:s3cr:t"), addr).await;
        let url = format!("ws://{addr}/");
        // Percent-encoded in the URL: the password holds a colon.
        let proxy = Proxy::parse(&format!("http://alice:s3cr%3At@{proxy_addr}")).unwrap();
        let (mut ws, _) = ClientBuilder::new(&url)
            .proxy(proxy)
            .connect()
            .await
            .unwrap();
        round_trip(&mut ws, "authorized").await;
        assert!(tunnels.recv().await.unwrap().authorized);

        let wrong = Proxy::new(ProxyScheme::Http, "127.0.0.1", proxy_addr.port())
            .with_credentials("alice", "wrong");
        let result = ClientBuilder::new(&url).proxy(wrong).connect().await;
        let error = proxy_refusal(result);
        assert_eq!(error, ProxyError::AuthenticationFailed);
        assert_eq!(error.to_string(), "the proxy rejected the credentials");

        let none = Proxy::new(ProxyScheme::Http, "127.0.0.1", proxy_addr.port());
        let result = ClientBuilder::new(&url).proxy(none).connect().await;
        assert_eq!(proxy_refusal(result), ProxyError::AuthenticationRequired);
    })
    .await;
}

#[tokio::test]
async fn http_connect_proxy_carries_wss_end_to_end() {
    bounded(async {
        let pki = Pki::new();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _presented = spawn_tls_echo(listener, pki.server_config(false));
        let (proxy_addr, mut tunnels) = http_proxy(None, addr).await;
        // The proxy sees only the host and port; TLS runs between client and server.
        let (mut ws, _) = ClientBuilder::new(format!("wss://localhost:{}/", addr.port()))
            .proxy(Proxy::parse(&format!("http://{proxy_addr}")).unwrap())
            .ca_file(pki.path("ca.pem"))
            .connect()
            .await
            .unwrap();
        assert!(ws.get_ref().is_tls());
        round_trip(&mut ws, "TLS inside the tunnel").await;
        assert_eq!(
            tunnels.recv().await.unwrap().target,
            format!("localhost:{}", addr.port())
        );
    })
    .await;
}

#[tokio::test]
async fn socks5_proxy_resolving_locally_and_remotely() {
    bounded(async {
        let (addr, _) = echo_server().await;
        let (proxy_addr, mut tunnels) = socks5_proxy(None, addr).await;

        // socks5: we resolve, the proxy gets an address.
        let proxy = Proxy::parse(&format!("socks5://{proxy_addr}")).unwrap();
        let (mut ws, _) = ClientBuilder::new(format!("ws://localhost:{}/", addr.port()))
            .proxy(proxy)
            .connect()
            .await
            .unwrap();
        round_trip(&mut ws, "socks5").await;
        let target = tunnels.recv().await.unwrap().target;
        assert!(
            target == addr.to_string() || target == format!("[::1]:{}", addr.port()),
            "{target}"
        );

        // socks5h: the proxy gets the name (one that only the proxy can resolve).
        let proxy = Proxy::parse(&format!("socks5h://{proxy_addr}")).unwrap();
        let (mut ws, _) = ClientBuilder::new("ws://echo.test:7777/")
            .proxy(proxy)
            .connect()
            .await
            .unwrap();
        round_trip(&mut ws, "socks5h").await;
        assert_eq!(tunnels.recv().await.unwrap().target, "echo.test:7777");
    })
    .await;
}

#[tokio::test]
async fn socks5_proxy_with_credentials() {
    bounded(async {
        let (addr, _) = echo_server().await;
        let (proxy_addr, mut tunnels) = socks5_proxy(Some(("bob", "pa55")), addr).await;
        let url = format!("ws://{addr}/");
        let proxy = Proxy::parse(&format!("socks5://bob:pa55@{proxy_addr}")).unwrap();
        let (mut ws, _) = ClientBuilder::new(&url)
            .proxy(proxy)
            .connect()
            .await
            .unwrap();
        round_trip(&mut ws, "socks5 with a password").await;
        assert!(tunnels.recv().await.unwrap().authorized);

        let wrong = Proxy::parse(&format!("socks5://bob:nope@{proxy_addr}")).unwrap();
        let result = ClientBuilder::new(&url).proxy(wrong).connect().await;
        assert_eq!(proxy_refusal(result), ProxyError::AuthenticationFailed);

        let none = Proxy::parse(&format!("socks5://{proxy_addr}")).unwrap();
        let result = ClientBuilder::new(&url).proxy(none).connect().await;
        let error = proxy_refusal(result);
        assert_eq!(error, ProxyError::AuthenticationRequired);
        match ClientBuilder::new(&url)
            .proxy(Proxy::parse(&format!("socks5://{proxy_addr}")).unwrap())
            .connect()
            .await
        {
            Err(Error::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::PermissionDenied),
            other => panic!("{other:?}"),
        }
    })
    .await;
}

#[tokio::test]
async fn socks5_refusal_codes_surface_as_io_kinds() {
    bounded(async {
        // The upstream is a closed port: the proxy answers "connection refused" (5).
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed_addr = closed.local_addr().unwrap();
        drop(closed);
        let (proxy_addr, _) = socks5_proxy(None, closed_addr).await;
        let proxy = Proxy::parse(&format!("socks5h://{proxy_addr}")).unwrap();
        let result = ClientBuilder::new("ws://gone.test/")
            .proxy(proxy)
            .connect()
            .await;
        match &result {
            Err(Error::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused),
            other => panic!("{other:?}"),
        }
        let error = proxy_refusal(result);
        assert_eq!(error, ProxyError::Socks(SocksReply::CONNECTION_REFUSED));
        assert!(error.is_transient());
    })
    .await;
}

/// Variables for [`ProxyEnv::from_lookup`], instead of the process environment (which the
/// tests running in parallel share).
fn vars(pairs: &[(&str, String)]) -> ProxyEnv {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.clone()))
        .collect();
    ProxyEnv::from_lookup(move |name| map.get(name).cloned())
}

#[tokio::test]
async fn proxy_from_variables_and_no_proxy() {
    bounded(async {
        let (addr, _) = echo_server().await;
        let (socks_addr, mut socks_tunnels) = socks5_proxy(None, addr).await;
        let (http_addr, mut http_tunnels) = http_proxy(None, addr).await;
        let env = vars(&[
            ("ws_proxy", format!("socks5h://{socks_addr}")),
            ("http_proxy", format!("http://{http_addr}")),
            ("no_proxy", "direct.test".into()),
        ]);
        // ws_proxy wins over http_proxy for ws:// URLs.
        let (mut ws, _) = ClientBuilder::new("ws://echo.test/")
            .proxy_env(env.clone())
            .connect()
            .await
            .unwrap();
        round_trip(&mut ws, "from ws_proxy").await;
        assert_eq!(socks_tunnels.recv().await.unwrap().target, "echo.test:80");

        let env = vars(&[("http_proxy", format!("{http_addr}"))]);
        let (mut ws, _) = ClientBuilder::new("ws://echo.test:8080/")
            .proxy_env(env)
            .connect()
            .await
            .unwrap();
        round_trip(&mut ws, "from http_proxy").await;
        assert_eq!(http_tunnels.recv().await.unwrap().target, "echo.test:8080");

        // Loopback is reached directly even with a proxy in the environment...
        let env = vars(&[("all_proxy", format!("http://{http_addr}"))]);
        let (mut ws, _) = ClientBuilder::new(format!("ws://{addr}/"))
            .proxy_env(env)
            .connect()
            .await
            .unwrap();
        assert_eq!(ws.get_ref().tcp().peer_addr().unwrap(), addr);
        round_trip(&mut ws, "loopback is direct").await;
        // ... and so are no_proxy hosts (checked without connecting: the name resolves
        // nowhere).
        let env = vars(&[
            ("ws_proxy", format!("socks5h://{socks_addr}")),
            ("no_proxy", ".direct.test".into()),
        ]);
        assert!(env.proxy_for(false, "a.direct.test", 80).unwrap().is_none());
        assert!(env.proxy_for(false, "direct.test", 80).unwrap().is_none());
        assert!(env.proxy_for(false, "indirect.test", 80).unwrap().is_some());
        // A bad proxy URL in the environment is an error, not a silent direct connection.
        let env = vars(&[("wss_proxy", "gopher://p".into())]);
        let result = ClientBuilder::new("wss://example.test/")
            .proxy_env(env)
            .check();
        assert!(matches!(result, Err(Error::Config(_))), "{result:?}");
    })
    .await;
}
