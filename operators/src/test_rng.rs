//! A tiny deterministic pseudo-random source for unit tests (xorshift64): reproducible streams of arrivals,
//! magnitudes and gaps without a dependency, the same on every run.

/// Xorshift64 from `seed` (non-zero): each call gives the next 64-bit value.
pub(crate) struct Xorshift(u64);

impl Xorshift {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next value.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// The next value below `n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}
