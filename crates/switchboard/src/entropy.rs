//! Randomness for masking and handshake keys.

use rand::rngs::StdRng;
use rand::Rng;

/// A cryptographically secure generator seeded from the operating system, as RFC 6455 10.3
/// asks for masking keys. One per connection: no lock, no system call per frame.
pub(crate) fn secure_entropy() -> impl FnMut(&mut [u8]) + Send + 'static {
    let mut rng: StdRng = rand::make_rng();
    move |buf: &mut [u8]| rng.fill_bytes(buf)
}
