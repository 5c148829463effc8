//! Keepalive pings and round-trip time, as deadlines (RFC 6455 5.5.2, 5.5.3).
//!
//! Nothing here sleeps or reads a clock: the connection reports the next deadline through
//! `poll_timeout`, and the caller reports that it passed through `handle_timeout(now)`.

use std::time::{Duration, Instant};

/// What a passed deadline asks the connection to do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum KeepaliveAction {
    /// Nothing is due.
    None,
    /// Send a ping with this payload.
    Ping([u8; 4]),
    /// The outstanding ping got no pong in time: the peer is gone.
    TimedOut,
}

#[derive(Debug)]
pub(crate) struct Keepalive {
    interval: Option<Duration>,
    timeout: Option<Duration>,
    next_ping: Option<Instant>,
    /// The payload and send time of the ping awaiting its pong.
    outstanding: Option<([u8; 4], Instant)>,
    sent: u32,
    rtt: Option<Duration>,
}

impl Keepalive {
    pub(crate) fn new(interval: Option<Duration>, timeout: Option<Duration>, now: Instant) -> Self {
        Self {
            interval,
            timeout,
            next_ping: interval.map(|i| now + i),
            outstanding: None,
            sent: 0,
            rtt: None,
        }
    }

    /// The round-trip time measured by the last answered keepalive ping.
    pub(crate) fn rtt(&self) -> Option<Duration> {
        self.rtt
    }

    /// The next instant at which `on_timeout` has something to do.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match (self.outstanding, self.timeout) {
            (Some((_, sent_at)), Some(timeout)) => Some(sent_at + timeout),
            (Some(_), None) => None,
            (None, _) => self.next_ping,
        }
    }

    pub(crate) fn on_timeout(&mut self, now: Instant) -> KeepaliveAction {
        if let Some((_, sent_at)) = self.outstanding {
            return match self.timeout {
                Some(timeout) if now >= sent_at + timeout => KeepaliveAction::TimedOut,
                _ => KeepaliveAction::None,
            };
        }
        match (self.next_ping, self.interval) {
            (Some(due), Some(interval)) if now >= due => {
                self.sent = self.sent.wrapping_add(1);
                let payload = self.sent.to_be_bytes();
                self.outstanding = Some((payload, now));
                self.next_ping = Some(now + interval);
                KeepaliveAction::Ping(payload)
            }
            _ => KeepaliveAction::None,
        }
    }

    /// A pong arrived at `now`. If it answers our ping, the peer is alive and the round trip
    /// is measured; other pongs (unsolicited, or answers to the application's pings) are not
    /// ours to judge.
    pub(crate) fn on_pong(&mut self, payload: &[u8], now: Instant) {
        if let Some((expected, sent_at)) = self.outstanding {
            if payload == expected {
                self.rtt = Some(now.saturating_duration_since(sent_at));
                self.outstanding = None;
            }
        }
    }

    /// Stops pinging (the connection is closing).
    pub(crate) fn stop(&mut self) {
        self.next_ping = None;
        self.outstanding = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn pings_at_the_interval_and_measures_rtt() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(Some(20 * S), Some(10 * S), t0);
        assert_eq!(k.deadline(), Some(t0 + 20 * S));
        assert_eq!(k.on_timeout(t0 + 19 * S), KeepaliveAction::None);
        let KeepaliveAction::Ping(payload) = k.on_timeout(t0 + 20 * S) else {
            panic!("expected a ping");
        };
        assert_eq!(k.deadline(), Some(t0 + 30 * S));
        k.on_pong(b"other", t0 + 21 * S);
        assert_eq!(k.rtt(), None);
        k.on_pong(&payload, t0 + 22 * S);
        assert_eq!(k.rtt(), Some(2 * S));
        assert_eq!(k.deadline(), Some(t0 + 40 * S));
    }

    #[test]
    fn missing_pong_times_out() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(Some(S), Some(S), t0);
        assert!(matches!(k.on_timeout(t0 + S), KeepaliveAction::Ping(_)));
        assert_eq!(k.on_timeout(t0 + S + S / 2), KeepaliveAction::None);
        assert_eq!(k.on_timeout(t0 + 2 * S), KeepaliveAction::TimedOut);
    }

    #[test]
    fn disabled_keepalive_has_no_deadline() {
        let mut k = Keepalive::new(None, Some(S), Instant::now());
        assert_eq!(k.deadline(), None);
        assert_eq!(
            k.on_timeout(Instant::now() + 100 * S),
            KeepaliveAction::None
        );
    }
}
