//! Bytes on the wire: a transport wrapper that counts what the WebSocket connection reads and
//! writes, frame headers, masks and compression included (after TLS, when there is TLS), so a
//! run with permessage-deflate shows how much it saved.

use std::io::{self, IoSlice};
use std::ops::Sub;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes carried so far, or over a window (the difference of two readings).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Wire {
    pub(crate) sent: u64,
    pub(crate) received: u64,
}

impl Sub for Wire {
    type Output = Wire;

    fn sub(self, earlier: Wire) -> Wire {
        Wire {
            sent: self.sent.saturating_sub(earlier.sent),
            received: self.received.saturating_sub(earlier.received),
        }
    }
}

/// A transport that passes every byte through and counts it.
#[derive(Debug)]
pub(crate) struct Counted<S> {
    inner: S,
    totals: Wire,
}

impl<S> Counted<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self {
            inner,
            totals: Wire::default(),
        }
    }

    /// Everything carried since the connection opened (the HTTP upgrade included).
    pub(crate) fn totals(&self) -> Wire {
        self.totals
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        this.totals.received += (buf.filled().len() - before) as u64;
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = poll {
            this.totals.sent += n as u64;
        }
        poll
    }

    // Passed on, so the library's vectored writes stay vectored under the wrapper.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = poll {
            this.totals.sent += n as u64;
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn counts_every_byte_each_way_including_vectored_writes() {
        let (near, mut far) = tokio::io::duplex(1024);
        let mut counted = Counted::new(near);
        counted.write_all(b"hello").await.unwrap();
        let slices = [IoSlice::new(b"ab"), IoSlice::new(b"cde")];
        let written = counted.write_vectored(&slices).await.unwrap();
        far.write_all(b"0123456789").await.unwrap();
        let mut buffer = [0; 10];
        counted.read_exact(&mut buffer).await.unwrap();
        let totals = counted.totals();
        assert_eq!(totals.sent, 5 + written as u64);
        assert_eq!(totals.received, 10);
        let later = Wire {
            sent: totals.sent + 7,
            received: totals.received + 1,
        };
        assert_eq!(
            later - totals,
            Wire {
                sent: 7,
                received: 1
            }
        );
    }
}
