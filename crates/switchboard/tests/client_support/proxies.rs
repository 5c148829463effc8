//! An HTTP CONNECT proxy and a SOCKS5 proxy (RFC 1928, RFC 1929), small enough to read,
//! that report each tunnel they are asked for.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// What a test proxy saw: the target it was asked for and whether it accepted the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tunnel {
    pub target: String,
    pub authorized: bool,
}

/// Where the test proxies connect, whatever the target: `upstream`. So names that resolve
/// nowhere (`*.test`) work through `socks5h` and HTTP proxies, as they would with a real
/// proxy that can resolve them.
pub async fn dial(upstream: SocketAddr) -> io::Result<TcpStream> {
    TcpStream::connect(upstream).await
}

/// An HTTP CONNECT proxy. With `credentials` ("user:pass"), it wants them as Basic
/// `Proxy-Authorization` and answers 407 otherwise.
pub async fn http_proxy(
    credentials: Option<&'static str>,
    upstream: SocketAddr,
) -> (SocketAddr, mpsc::UnboundedReceiver<Tunnel>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8(head).unwrap();
                let target = head
                    .strip_prefix("CONNECT ")
                    .and_then(|rest| rest.split(' ').next())
                    .unwrap()
                    .to_owned();
                let authorized = match credentials {
                    None => true,
                    Some(pair) => {
                        use base64::Engine;
                        let token = base64::engine::general_purpose::STANDARD.encode(pair);
                        head.contains(&format!("\r\nProxy-Authorization: Basic {token}\r\n"))
                    }
                };
                let _ = tx.send(Tunnel {
                    target: target.clone(),
                    authorized,
                });
                if !authorized {
                    let _ = client
                        .write_all(
                            b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                              Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n",
                        )
                        .await;
                    return;
                }
                let Ok(mut server) = dial(upstream).await else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                let _ = client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await;
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    (addr, rx)
}

/// A SOCKS5 proxy (RFC 1928, CONNECT only). With `credentials`, it requires RFC 1929
/// username/password authentication and checks them.
pub async fn socks5_proxy(
    credentials: Option<(&'static str, &'static str)>,
    upstream: SocketAddr,
) -> (SocketAddr, mpsc::UnboundedReceiver<Tunnel>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let _ = socks5_session(client, credentials, upstream, tx).await;
            });
        }
    });
    (addr, rx)
}

pub async fn socks5_session(
    mut client: TcpStream,
    credentials: Option<(&'static str, &'static str)>,
    upstream: SocketAddr,
    tx: mpsc::UnboundedSender<Tunnel>,
) -> io::Result<()> {
    let mut head = [0u8; 2];
    client.read_exact(&mut head).await?;
    let mut methods = vec![0u8; usize::from(head[1])];
    client.read_exact(&mut methods).await?;
    let wanted = if credentials.is_some() { 2 } else { 0 };
    if !methods.contains(&wanted) {
        client.write_all(&[5, 0xFF]).await?;
        return Ok(());
    }
    client.write_all(&[5, wanted]).await?;
    let mut authorized = true;
    if let Some((user, password)) = credentials {
        let mut version_and_len = [0u8; 2];
        client.read_exact(&mut version_and_len).await?;
        let mut got_user = vec![0u8; usize::from(version_and_len[1])];
        client.read_exact(&mut got_user).await?;
        let mut len = [0u8; 1];
        client.read_exact(&mut len).await?;
        let mut got_password = vec![0u8; usize::from(len[0])];
        client.read_exact(&mut got_password).await?;
        authorized = got_user == user.as_bytes() && got_password == password.as_bytes();
        client.write_all(&[1, u8::from(!authorized)]).await?;
    }
    if !authorized {
        let _ = tx.send(Tunnel {
            target: String::new(),
            authorized,
        });
        return Ok(());
    }
    let mut request = [0u8; 4];
    client.read_exact(&mut request).await?;
    let host = match request[3] {
        1 => {
            let mut ip = [0u8; 4];
            client.read_exact(&mut ip).await?;
            std::net::Ipv4Addr::from(ip).to_string()
        }
        4 => {
            let mut ip = [0u8; 16];
            client.read_exact(&mut ip).await?;
            format!("[{}]", std::net::Ipv6Addr::from(ip))
        }
        _ => {
            let mut len = [0u8; 1];
            client.read_exact(&mut len).await?;
            let mut name = vec![0u8; usize::from(len[0])];
            client.read_exact(&mut name).await?;
            String::from_utf8(name).unwrap()
        }
    };
    let mut port = [0u8; 2];
    client.read_exact(&mut port).await?;
    let port = u16::from_be_bytes(port);
    let _ = tx.send(Tunnel {
        target: format!("{host}:{port}"),
        authorized,
    });
    let Ok(mut server) = dial(upstream).await else {
        client.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
        return Ok(());
    };
    client.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0]).await?;
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    Ok(())
}
