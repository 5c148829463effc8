//! A token bucket, the per-connection command rate limit.

use std::time::{Duration, Instant};

/// How fast a connection may send commands: `burst` at once, then `per_second` on average.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// How many commands may arrive back to back. Default 50: a client that reconnects
    /// subscribes to all its channels at once, and that must not be refused.
    pub burst: u32,
    /// How many commands per second, sustained. Default 20: far above what an interactive
    /// client sends, far below what a runaway loop does.
    pub per_second: f64,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            burst: 50,
            per_second: 20.0,
        }
    }
}

/// A token bucket: starts full with `burst` tokens, refills at `per_second`, and each
/// command takes one. Time is passed in, so tests move it instead of sleeping.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    limit: RateLimit,
    tokens: f64,
    refilled_at: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub fn new(limit: RateLimit, now: Instant) -> Self {
        Self {
            limit,
            tokens: f64::from(limit.burst),
            refilled_at: now,
        }
    }

    /// Takes a token if there is one. A `now` earlier than the last call counts as no time
    /// passed (clocks given by callers are not trusted to be monotonic).
    pub fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now
            .checked_duration_since(self.refilled_at)
            .unwrap_or(Duration::ZERO);
        if elapsed > Duration::ZERO {
            let refill = elapsed.as_secs_f64() * self.limit.per_second;
            self.tokens = (self.tokens + refill).min(f64::from(self.limit.burst));
            self.refilled_at = now;
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_steady_rate() {
        let start = Instant::now();
        let ms = |n: u64| start + Duration::from_millis(n);
        let limit = RateLimit {
            burst: 3,
            per_second: 10.0,
        };
        // (milliseconds after start, expected outcome); one token per 100 ms.
        let table = [
            (0, true),
            (0, true),
            (0, true),
            (0, false),
            (50, false),
            (100, true),
            (100, false),
            (150, false),
            (10_000, true), // refills to the burst, not beyond
            (10_000, true),
            (10_000, true),
            (10_000, false),
            (5_000, false), // time going backwards refills nothing
        ];
        let mut bucket = TokenBucket::new(limit, start);
        for (case, (at, expected)) in table.into_iter().enumerate() {
            assert_eq!(bucket.try_take(ms(at)), expected, "case {case} at {at} ms");
        }
    }
}
