//! SOCKS Protocol Version 5 (RFC 1928), `CONNECT` only, with no authentication or
//! username/password authentication (RFC 1929).

use std::net::IpAddr;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{Credentials, ProxyError, SocksReply};
use crate::error::{Error, Result};

const VERSION: u8 = 5;
/// RFC 1928 3 method X'00': no authentication required.
const NO_AUTH: u8 = 0x00;
/// RFC 1928 3 method X'02': username/password (RFC 1929).
const USERNAME_PASSWORD: u8 = 0x02;
/// RFC 1928 3 method X'FF': no acceptable methods.
const NO_ACCEPTABLE: u8 = 0xFF;
/// RFC 1929 2: the version of the username/password subnegotiation.
const AUTH_VERSION: u8 = 1;
/// RFC 1928 4 command X'01': CONNECT.
const CMD_CONNECT: u8 = 0x01;
/// RFC 1928 5 address types.
const ATYP_IPV4: u8 = 0x01;
const ATYP_DOMAIN: u8 = 0x03;
const ATYP_IPV6: u8 = 0x04;

/// Where the proxy should connect.
#[derive(Debug, Clone, Copy)]
pub(super) enum Target<'a> {
    /// An address resolved on our side.
    Ip(IpAddr),
    /// A host name for the proxy to resolve (`socks5h`).
    Domain(&'a str),
}

/// Negotiates a method, authenticates if asked to, and sends `CONNECT target:port`. On
/// success every later byte on `io` belongs to the tunnel.
pub(super) async fn connect<S>(
    io: &mut S,
    target: Target<'_>,
    port: u16,
    credentials: Option<&Credentials>,
) -> Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // Check everything we will send before sending anything.
    let auth = credentials.map(auth_request).transpose()?;
    let request = connect_request(target, port)?;

    // RFC 1928 3: version, number of methods, methods. Username/password is offered only
    // when there are credentials to send.
    let greeting: &[u8] = match auth {
        Some(_) => &[VERSION, 2, NO_AUTH, USERNAME_PASSWORD],
        None => &[VERSION, 1, NO_AUTH],
    };
    io.write_all(greeting).await?;
    io.flush().await?;
    let mut choice = [0u8; 2];
    io.read_exact(&mut choice).await?;
    if choice[0] != VERSION {
        return Err(ProxyError::Malformed("not a SOCKS5 proxy").into());
    }
    match (choice[1], &auth) {
        (NO_AUTH, _) => {}
        (USERNAME_PASSWORD, Some(auth)) => authenticate(io, auth).await?,
        (NO_ACCEPTABLE, None) => return Err(ProxyError::AuthenticationRequired.into()),
        (NO_ACCEPTABLE, Some(_)) => return Err(ProxyError::NoAcceptableMethod.into()),
        _ => return Err(ProxyError::Malformed("the proxy chose a method not offered").into()),
    }

    io.write_all(&request).await?;
    io.flush().await?;
    read_reply(io).await
}

/// RFC 1929 2: `VER ULEN UNAME PLEN PASSWD`, each length 1 to 255.
fn auth_request(credentials: &Credentials) -> Result<Vec<u8>> {
    let field = |value: &str, what: &str| -> Result<u8> {
        match u8::try_from(value.len()) {
            Ok(len) if len > 0 => Ok(len),
            _ => Err(Error::Config(format!(
                "a SOCKS5 {what} must be 1 to 255 bytes long (RFC 1929)"
            ))),
        }
    };
    let user = credentials.username();
    let password = credentials.password();
    let mut request = vec![AUTH_VERSION, field(user, "user name")?];
    request.extend_from_slice(user.as_bytes());
    request.push(field(password, "password")?);
    request.extend_from_slice(password.as_bytes());
    Ok(request)
}

async fn authenticate<S>(io: &mut S, request: &[u8]) -> Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    io.write_all(request).await?;
    io.flush().await?;
    let mut reply = [0u8; 2];
    io.read_exact(&mut reply).await?;
    if reply[0] != AUTH_VERSION {
        return Err(ProxyError::Malformed("bad username/password reply version").into());
    }
    // RFC 1929 2: a STATUS other than X'00' is failure, and the server closes the connection.
    if reply[1] != 0 {
        return Err(ProxyError::AuthenticationFailed.into());
    }
    Ok(())
}

/// RFC 1928 4: `VER CMD RSV ATYP DST.ADDR DST.PORT`.
fn connect_request(target: Target<'_>, port: u16) -> Result<Vec<u8>> {
    let mut request = vec![VERSION, CMD_CONNECT, 0];
    match target {
        Target::Ip(IpAddr::V4(ip)) => {
            request.push(ATYP_IPV4);
            request.extend_from_slice(&ip.octets());
        }
        Target::Ip(IpAddr::V6(ip)) => {
            request.push(ATYP_IPV6);
            request.extend_from_slice(&ip.octets());
        }
        Target::Domain(name) => {
            // RFC 1928 5: one length octet, then the name, no terminating NUL.
            let len = u8::try_from(name.len())
                .ok()
                .filter(|&len| len > 0)
                .ok_or_else(|| {
                    Error::Config(
                        "a host name sent to a SOCKS5 proxy must be 1 to 255 bytes".into(),
                    )
                })?;
            request.push(ATYP_DOMAIN);
            request.push(len);
            request.extend_from_slice(name.as_bytes());
        }
    }
    request.extend_from_slice(&port.to_be_bytes());
    Ok(request)
}

/// RFC 1928 6: `VER REP RSV ATYP BND.ADDR BND.PORT`, read exactly, so that no tunnel byte is
/// consumed.
async fn read_reply<S: AsyncRead + Unpin>(io: &mut S) -> Result<()> {
    let mut head = [0u8; 4];
    io.read_exact(&mut head).await?;
    let [version, reply, _reserved, address_type] = head;
    if version != VERSION {
        return Err(ProxyError::Malformed("bad reply version").into());
    }
    if reply != SocksReply::SUCCEEDED.0 {
        return Err(ProxyError::Socks(SocksReply(reply)).into());
    }
    let address_len = match address_type {
        ATYP_IPV4 => 4,
        ATYP_IPV6 => 16,
        ATYP_DOMAIN => {
            let mut len = [0u8; 1];
            io.read_exact(&mut len).await?;
            usize::from(len[0])
        }
        _ => return Err(ProxyError::Malformed("unknown address type in the reply").into()),
    };
    // The bound address and port: the proxy's side of the tunnel, not needed here.
    let mut bound = [0u8; 255 + 2];
    io.read_exact(bound.get_mut(..address_len + 2).unwrap_or_default())
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Runs `connect` against a proxy whose answers, `script`, are all waiting in the pipe
    /// (the client reads exactly what each stage needs, so that works), and returns the
    /// result and everything the client sent.
    async fn exchange(
        target: Target<'_>,
        credentials: Option<Credentials>,
        script: &[u8],
    ) -> (Result<()>, Vec<u8>) {
        let (mut client, mut proxy) = tokio::io::duplex(4096);
        proxy.write_all(script).await.unwrap();
        // End of the script: the proxy hangs up (its reading side stays open).
        proxy.shutdown().await.unwrap();
        let result = connect(&mut client, target, 443, credentials.as_ref()).await;
        drop(client);
        let mut sent = Vec::new();
        proxy.read_to_end(&mut sent).await.unwrap();
        (result, sent)
    }

    fn proxy_error(result: Result<()>) -> ProxyError {
        match result {
            Err(error) => error
                .proxy_error()
                .cloned()
                .unwrap_or_else(|| panic!("{error:?}")),
            Ok(()) => panic!("expected a proxy error"),
        }
    }

    /// A success reply bound to 10.0.0.1:8080.
    const OK_V4: [u8; 10] = [5, 0, 0, 1, 10, 0, 0, 1, 0x1F, 0x90];

    fn concat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    #[tokio::test]
    async fn no_auth_ipv4_ipv6_and_domain_targets() {
        let v4 = Target::Ip(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)));
        let (result, sent) = exchange(v4, None, &concat(&[&[5, 0], &OK_V4])).await;
        result.unwrap();
        assert_eq!(sent, [5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, 1, 187]);

        let v6 = Target::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST));
        let reply = concat(&[&[5, 0, 5, 0, 0, 4], &[0; 18]]);
        let (result, sent) = exchange(v6, None, &reply).await;
        result.unwrap();
        let octets = Ipv6Addr::LOCALHOST.octets();
        assert_eq!(sent, concat(&[&[5, 1, 0, 5, 1, 0, 4], &octets, &[1, 187]]));

        let reply = concat(&[&[5, 0, 5, 0, 0, 3, 4], b"host", &[0, 80]]);
        let (result, sent) = exchange(Target::Domain("example.com"), None, &reply).await;
        result.unwrap();
        assert_eq!(
            sent,
            concat(&[&[5, 1, 0, 5, 1, 0, 3, 11], b"example.com", &[1, 187]])
        );
    }

    #[tokio::test]
    async fn the_reply_is_read_exactly() {
        // Bytes after the reply belong to the tunnel and stay unread.
        let target = Target::Domain("h");
        let (mut client, mut proxy) = tokio::io::duplex(4096);
        proxy
            .write_all(&concat(&[&[5, 0], &OK_V4, b"tunnel"]))
            .await
            .unwrap();
        connect(&mut client, target, 1, None).await.unwrap();
        let mut rest = [0u8; 6];
        client.read_exact(&mut rest).await.unwrap();
        assert_eq!(&rest, b"tunnel");
    }

    #[tokio::test]
    async fn username_password_authentication() {
        let target = Target::Ip(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)));
        let credentials = Some(Credentials::new("alice", "pw"));
        let reply = concat(&[&[5, 2, 1, 0], &OK_V4]);
        let (result, sent) = exchange(target, credentials.clone(), &reply).await;
        result.unwrap();
        let expect = concat(&[
            &[5, 2, 0, 2],
            &[1, 5],
            b"alice",
            &[2],
            b"pw",
            &[5, 1, 0, 1, 127, 0, 0, 1, 1, 187],
        ]);
        assert_eq!(sent, expect);

        let (result, sent) = exchange(target, credentials, &[5, 2, 1, 1]).await;
        assert_eq!(proxy_error(result), ProxyError::AuthenticationFailed);
        assert_eq!(sent, concat(&[&[5, 2, 0, 2, 1, 5], b"alice", &[2], b"pw"]));

        // The proxy may still choose no authentication.
        let credentials = Some(Credentials::new("alice", "pw"));
        let (result, _) = exchange(target, credentials, &concat(&[&[5, 0], &OK_V4])).await;
        result.unwrap();
    }

    #[tokio::test]
    async fn method_refusals() {
        let target = Target::Domain("h");
        let (result, sent) = exchange(target, None, &[5, 0xFF]).await;
        assert_eq!(proxy_error(result), ProxyError::AuthenticationRequired);
        assert_eq!(sent, [5, 1, 0]);
        let credentials = Some(Credentials::new("u", "p"));
        let (result, _) = exchange(target, credentials, &[5, 0xFF]).await;
        assert_eq!(proxy_error(result), ProxyError::NoAcceptableMethod);
        // Username/password chosen although it was not offered.
        let (result, _) = exchange(target, None, &[5, 2]).await;
        assert!(matches!(proxy_error(result), ProxyError::Malformed(_)));
        let (result, _) = exchange(target, None, &[4, 0]).await;
        assert!(matches!(proxy_error(result), ProxyError::Malformed(_)));
        // The proxy hangs up mid-negotiation.
        let (result, _) = exchange(target, None, &[5]).await;
        assert!(matches!(result, Err(Error::Io(_))));
    }

    #[tokio::test]
    async fn every_reply_code_is_reported() {
        for code in 1..=9u8 {
            let script = [5, 0, 5, code, 0, 1, 0, 0, 0, 0, 0, 0];
            let (result, _) = exchange(Target::Domain("h"), None, &script).await;
            let error = proxy_error(result);
            assert_eq!(error, ProxyError::Socks(SocksReply(code)));
            assert_eq!(error.is_transient(), matches!(code, 1 | 3..=6), "{code}");
        }
        assert_eq!(
            SocksReply::CONNECTION_REFUSED.to_string(),
            "connection refused (5)"
        );
        assert_eq!(SocksReply(42).to_string(), "unassigned reply code 42");
    }

    #[tokio::test]
    async fn malformed_replies() {
        for script in [&[5, 0, 5, 0, 0, 9][..], &[5, 0, 4, 0, 0, 1]] {
            let (result, _) = exchange(Target::Domain("h"), None, script).await;
            assert!(
                matches!(proxy_error(result), ProxyError::Malformed(_)),
                "{script:?}"
            );
        }
    }

    #[test]
    fn field_lengths_are_checked_before_sending() {
        let long = "x".repeat(256);
        for credentials in [
            Credentials::new("", "p"),
            Credentials::new("u", ""),
            Credentials::new(long.clone(), "p"),
        ] {
            assert!(matches!(auth_request(&credentials), Err(Error::Config(_))));
        }
        assert!(matches!(
            connect_request(Target::Domain(&long), 1),
            Err(Error::Config(_))
        ));
    }
}
