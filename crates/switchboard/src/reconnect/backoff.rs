//! How long to wait before each reconnect attempt: [`BackoffPolicy`] (plain data) and
//! [`Backoff`], the iterator of delays it describes.
//!
//! RFC 6455 7.2.3 asks two things of a reconnecting client: delay the first reconnect by a
//! random amount, so that clients a server dropped all at once do not all come back at once,
//! and back off subsequent attempts (truncated binary exponential backoff is its example).
//! Both need randomness, which is injected: tests pass a fixed source and get exact delays.

use std::fmt;
use std::time::Duration;

/// The shape of the delays between reconnect attempts. Plain data: compare it, print it, keep
/// it in a config file; [`Backoff`] turns it into delays.
///
/// Attempt 1 (the first reconnect after a connection dropped or a connect failed) waits a
/// uniformly random time in `0..initial_delay`. Attempt `n >= 2` waits
/// `min(base * factor^(n - 2), max_delay)`, shortened by a random fraction of up to `jitter`.
/// With the defaults and no jitter that is `rand(0..1 s)`, 1 s, 2 s, 4 s, 8 s, 16 s, 30 s,
/// 30 s, ...
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct BackoffPolicy {
    /// The first reconnect waits a uniformly random time below this. Default 1 s.
    ///
    /// RFC 6455 7.2.3: the first reconnect SHOULD be delayed by a random amount; its example
    /// is 0 to 5 seconds and the choice is left to the client. The randomness is what matters:
    /// it turns a server's mass disconnect into a ramp instead of a spike. A 1 s window spreads
    /// each second's worth of dropped clients over a full second, while a lone client (a
    /// Wi-Fi blip, a server deploy) is back in half a second on average, which users notice.
    /// Servers with many clients and expensive handshakes should ask for 5 s.
    pub initial_delay: Duration,
    /// The delay before attempt 2, which later attempts multiply by `factor`. Default 1 s: one
    /// attempt a second is cheap for any server and fast enough for people.
    pub base: Duration,
    /// Growth per attempt. Default 2 (the RFC's binary exponential backoff). Values below 1
    /// (and NaN) count as 1: delays never shrink between resets.
    pub factor: f64,
    /// The largest delay. Default 30 s: an outage is noticed within half a minute of its end,
    /// and a client costs a server at most two handshakes a minute while it is down.
    pub max_delay: Duration,
    /// Up to this fraction of each delay after the first is taken off at random. Default 0.5,
    /// so attempt `n` waits between half and all of its nominal delay: clients that failed
    /// together drift apart, and `max_delay` stays a true maximum. Clamped to `0.0..=1.0`.
    pub jitter: f64,
    /// The connection must stay up this long for the next drop to count as a fresh start
    /// (the delays begin again with the random initial delay). Default 5 s.
    ///
    /// Without it, a server that accepts and then drops at once (a crash loop, or rejecting
    /// the credentials after the handshake) would be hammered at the initial delay forever.
    /// 5 s is longer than such an accept-then-drop takes, and shorter than any connection that
    /// did useful work.
    pub reset_after: Duration,
    /// Give up after this many consecutive reconnect attempts without a connection that
    /// lasted `reset_after`. Default `None`: retry for ever, because a client that needs a
    /// long-lived connection usually has nothing better to do, and the delays are capped.
    pub max_attempts: Option<u32>,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self {
            initial_delay: Duration::from_secs(1),
            base: Duration::from_secs(1),
            factor: 2.0,
            max_delay: Duration::from_secs(30),
            jitter: 0.5,
            reset_after: Duration::from_secs(5),
            max_attempts: None,
        }
    }
}

impl BackoffPolicy {
    /// Sets the window of the random first delay (builder style).
    pub fn initial_delay(mut self, delay: Duration) -> Self {
        self.initial_delay = delay;
        self
    }

    /// Sets the second delay and the growth factor (builder style).
    pub fn exponential(mut self, base: Duration, factor: f64) -> Self {
        self.base = base;
        self.factor = factor;
        self
    }

    /// Sets the largest delay (builder style).
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// Sets the jitter fraction (builder style).
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = fraction;
        self
    }

    /// Sets how long a connection must last to reset the delays (builder style).
    pub fn reset_after(mut self, uptime: Duration) -> Self {
        self.reset_after = uptime;
        self
    }

    /// Sets the attempt limit; `None` retries for ever (builder style).
    pub fn max_attempts(mut self, attempts: Option<u32>) -> Self {
        self.max_attempts = attempts;
        self
    }
}

/// The delays before successive reconnect attempts: an [`Iterator`] that ends when
/// [`max_attempts`](BackoffPolicy::max_attempts) is used up.
///
/// Call [`next`](Iterator::next) before each reconnect attempt and
/// [`connection_lasted`](Self::connection_lasted) when a connection ends.
pub struct Backoff {
    policy: BackoffPolicy,
    rng: Box<dyn FnMut() -> u64 + Send>,
    /// Attempts made since the last reset.
    attempt: u32,
    /// The nominal delay of the next attempt after the first.
    next_delay: Duration,
}

impl Backoff {
    /// Delays following `policy`, with randomness from a generator seeded by the operating
    /// system.
    pub fn new(policy: BackoffPolicy) -> Self {
        let mut rng = rand::make_rng::<rand::rngs::StdRng>();
        Self::with_rng(policy, move || rand::Rng::next_u64(&mut rng))
    }

    /// Delays following `policy`, with randomness from `rng`: each call returns 64 uniformly
    /// random bits. Tests pass a constant to get exact delays (`|| 0` gives no randomness at
    /// all: a zero first delay and no jitter).
    pub fn with_rng(policy: BackoffPolicy, rng: impl FnMut() -> u64 + Send + 'static) -> Self {
        let next_delay = policy.base.min(policy.max_delay);
        Self {
            policy,
            rng: Box::new(rng),
            attempt: 0,
            next_delay,
        }
    }

    /// The policy.
    pub fn policy(&self) -> &BackoffPolicy {
        &self.policy
    }

    /// Attempts since the last reset: the number of the attempt the last
    /// [`next`](Iterator::next) was for.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Starts over: the next delay is the random initial one again.
    pub fn reset(&mut self) {
        self.attempt = 0;
        self.next_delay = self.policy.base.min(self.policy.max_delay);
    }

    /// Tells the backoff how long a connection stayed up; resets it (and returns `true`) if
    /// that was at least [`reset_after`](BackoffPolicy::reset_after).
    pub fn connection_lasted(&mut self, uptime: Duration) -> bool {
        let good = uptime >= self.policy.reset_after;
        if good {
            self.reset();
        }
        good
    }
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self
            .policy
            .max_attempts
            .is_some_and(|max| self.attempt >= max)
        {
            return None;
        }
        self.attempt = self.attempt.saturating_add(1);
        if self.attempt == 1 {
            // RFC 6455 7.2.3: the first reconnect SHOULD be delayed by a random amount.
            return Some(scale(self.policy.initial_delay, (self.rng)()));
        }
        let nominal = self.next_delay;
        self.next_delay = grow(nominal, self.policy.factor, self.policy.max_delay);
        // Not `mul_f64`, which panics when rounding lifts a huge delay past `Duration::MAX`.
        let jitter =
            Duration::try_from_secs_f64(nominal.as_secs_f64() * clamp_fraction(self.policy.jitter))
                .unwrap_or(nominal)
                .min(nominal);
        Some(nominal.saturating_sub(scale(jitter, (self.rng)())))
    }
}

impl fmt::Debug for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backoff")
            .field("policy", &self.policy)
            .field("attempt", &self.attempt)
            .field("next_delay", &self.next_delay)
            .finish_non_exhaustive()
    }
}

/// `delay * random / 2^64`: a uniformly random part of `delay`, in whole nanoseconds.
fn scale(delay: Duration, random: u64) -> Duration {
    // Saturating to u64 nanoseconds (584 years) keeps the product inside a u128.
    let nanos = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
    let scaled = (u128::from(nanos) * u128::from(random)) >> 64;
    Duration::from_nanos(u64::try_from(scaled).unwrap_or(u64::MAX))
}

/// The next nominal delay: `delay * factor`, capped at `max`.
fn grow(delay: Duration, factor: f64, max: Duration) -> Duration {
    // `!(factor >= 1.0)` also catches NaN.
    let factor = if factor >= 1.0 { factor } else { 1.0 };
    Duration::try_from_secs_f64(delay.as_secs_f64() * factor)
        .unwrap_or(max)
        .min(max)
}

fn clamp_fraction(fraction: f64) -> f64 {
    if fraction > 0.0 {
        fraction.min(1.0)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HALF: u64 = 1 << 63;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn delays(backoff: &mut Backoff, n: usize) -> Vec<Duration> {
        backoff.take(n).collect()
    }

    #[test]
    fn without_randomness_the_delays_double_up_to_the_cap() {
        let mut backoff = Backoff::with_rng(BackoffPolicy::default(), || 0);
        let expected: Vec<_> = [0, 1, 2, 4, 8, 16, 30, 30, 30]
            .map(Duration::from_secs)
            .into();
        assert_eq!(delays(&mut backoff, 9), expected);
        assert_eq!(backoff.attempt(), 9);
    }

    #[test]
    fn the_first_delay_is_random_below_the_initial_delay() {
        let policy = BackoffPolicy::default().initial_delay(Duration::from_secs(5));
        let first = |random| Backoff::with_rng(policy.clone(), move || random).next();
        assert_eq!(first(0), Some(Duration::ZERO));
        assert_eq!(first(HALF), Some(secs(2.5)));
        assert_eq!(first(HALF / 2), Some(secs(1.25)));
        let top = first(u64::MAX).unwrap();
        assert!(top < Duration::from_secs(5) && top > secs(4.999_999));
    }

    #[test]
    fn jitter_takes_off_up_to_its_fraction() {
        // Random bits of one half take off half of the jitter fraction (0.5): a quarter.
        let mut backoff = Backoff::with_rng(BackoffPolicy::default(), || HALF);
        assert_eq!(
            delays(&mut backoff, 5),
            [secs(0.5), secs(0.75), secs(1.5), secs(3.0), secs(6.0)]
        );
        // At most the whole fraction: the cap is never exceeded and halving is the floor.
        let mut backoff = Backoff::with_rng(BackoffPolicy::default(), || u64::MAX);
        for (nominal, delay) in [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
            .into_iter()
            .zip(backoff.by_ref().skip(1))
        {
            assert!(
                delay > secs(nominal / 2.0) && delay <= secs(nominal),
                "{delay:?}"
            );
        }
    }

    #[test]
    fn full_jitter_and_out_of_range_values_stay_sane() {
        let policy = BackoffPolicy::default()
            .jitter(7.0)
            .exponential(secs(1.0), f64::NAN);
        let mut backoff = Backoff::with_rng(policy, || u64::MAX);
        let all: Vec<_> = delays(&mut backoff, 4);
        // Jitter clamps to 1 (anything from zero to the nominal delay); NaN growth is none.
        assert!(all.iter().all(|d| *d < secs(1.0)), "{all:?}");
        let policy = BackoffPolicy::default()
            .jitter(-1.0)
            .exponential(secs(1.0), 0.5);
        let mut backoff = Backoff::with_rng(policy, || u64::MAX);
        assert_eq!(delays(&mut backoff, 4)[1..], [secs(1.0); 3]);
    }

    #[test]
    fn huge_values_saturate_instead_of_panicking() {
        let policy = BackoffPolicy::default()
            .initial_delay(Duration::MAX)
            .exponential(Duration::MAX, f64::INFINITY)
            .max_delay(Duration::MAX)
            .jitter(1.0);
        let mut backoff = Backoff::with_rng(policy, || u64::MAX);
        assert_eq!(backoff.by_ref().take(5).count(), 5);
    }

    #[test]
    fn a_base_above_the_cap_is_capped() {
        let policy = BackoffPolicy::default()
            .exponential(Duration::from_secs(60), 2.0)
            .max_delay(Duration::from_secs(10));
        let mut backoff = Backoff::with_rng(policy, || 0);
        assert_eq!(delays(&mut backoff, 3)[1..], [Duration::from_secs(10); 2]);
    }

    #[test]
    fn max_attempts_ends_the_iterator() {
        let policy = BackoffPolicy::default().max_attempts(Some(3));
        let mut backoff = Backoff::with_rng(policy, || 0);
        assert_eq!(backoff.by_ref().count(), 3);
        assert_eq!(backoff.next(), None);
        backoff.reset();
        assert_eq!(backoff.count(), 3);

        let policy = BackoffPolicy::default().max_attempts(Some(0));
        assert_eq!(Backoff::with_rng(policy, || 0).next(), None);
    }

    #[test]
    fn a_long_connection_resets_and_a_short_one_does_not() {
        let mut backoff = Backoff::with_rng(BackoffPolicy::default(), || 0);
        assert_eq!(delays(&mut backoff, 3), [0, 1, 2].map(Duration::from_secs));
        assert!(!backoff.connection_lasted(secs(4.9)));
        assert_eq!(backoff.next(), Some(Duration::from_secs(4)));
        assert!(backoff.connection_lasted(Duration::from_secs(5)));
        assert_eq!(backoff.attempt(), 0);
        assert_eq!(delays(&mut backoff, 3), [0, 1, 2].map(Duration::from_secs));
    }

    #[test]
    fn the_operating_system_generator_gives_delays_in_range() {
        let mut backoff = Backoff::new(BackoffPolicy::default());
        assert!(backoff.next().unwrap() < Duration::from_secs(1));
        let second = backoff.next().unwrap();
        assert!(second >= secs(0.5) && second <= secs(1.0));
    }
}
