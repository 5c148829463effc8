//! Injected randomness.
//!
//! The core never reads a global RNG: the caller passes a source of random bytes in, so that
//! tests are deterministic and the platform chooses its generator.

/// A source of random bytes: masking keys (RFC 6455 5.3) and handshake keys (4.1).
///
/// RFC 6455 10.3 requires masking keys that the application cannot predict, so production code
/// should use a cryptographically secure generator seeded from the operating system. Any
/// `FnMut(&mut [u8])` closure is an `Entropy`.
pub trait Entropy: Send {
    /// Fills `dest` with random bytes.
    fn fill(&mut self, dest: &mut [u8]);
}

impl<F: FnMut(&mut [u8]) + Send> Entropy for F {
    fn fill(&mut self, dest: &mut [u8]) {
        self(dest)
    }
}
