//! A mergeable quantile sketch with bounded relative error (DDSketch, Masson et al., VLDB 2019).
//!
//! Values are counted in logarithmic buckets `γ^(i-1) < |v| ≤ γ^i` with `γ = (1+α)/(1−α)`, so any value a
//! bucket reports is within `α` relative error of every value in it. Queries use the *nearest-rank* definition
//! (the value at 1-based rank `⌈q·n⌉`), the same definition as the exact references analysts compare with; the
//! maintained crates use `⌊q·(n−1)⌋`, which can pick a neighbouring rank, so this small sketch is our own.
//! Bucket counts are integers, so the sketch — unlike a float sum — does not depend on insertion order.

use serde::{Deserialize, Serialize};

/// Relative accuracy used by weir's `quantile` aggregate: half of the 1 % the contract allows, leaving room
/// for floating-point rounding at bucket edges.
pub const DEFAULT_RELATIVE_ACCURACY: f64 = 0.005;

/// Magnitudes below this count as zero.
const MIN_INDEXABLE: f64 = 1e-12;

/// Consecutive bucket counts from `offset` on: 32-bit while every count fits (half the memory, so a window's
/// sketches stay in cache while records of many keys interleave), 64-bit from the first count that does not.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct BucketStore {
    offset: i32,
    counts: Counts,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Counts {
    Narrow(Vec<u32>),
    Wide(Vec<u64>),
}

impl Default for Counts {
    fn default() -> Self {
        Counts::Narrow(Vec::new())
    }
}

impl Counts {
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn len(&self) -> usize {
        match self {
            Counts::Narrow(c) => c.len(),
            Counts::Wide(c) => c.len(),
        }
    }

    fn get(&self, i: usize) -> u64 {
        match self {
            Counts::Narrow(c) => c[i] as u64,
            Counts::Wide(c) => c[i],
        }
    }

    /// Makes room for `before` more buckets in front and `len` in all.
    fn extend(&mut self, before: usize, len: usize) {
        fn grow<T: Copy + Default>(c: &mut Vec<T>, before: usize, len: usize) {
            if before > 0 {
                c.splice(0..0, std::iter::repeat_n(T::default(), before));
            }
            if c.len() < len {
                c.resize(len, T::default());
            }
        }
        match self {
            Counts::Narrow(c) => grow(c, before, len),
            Counts::Wide(c) => grow(c, before, len),
        }
    }

    fn add(&mut self, i: usize, n: u64) {
        if let Counts::Narrow(c) = self {
            match u32::try_from(c[i] as u64 + n) {
                Ok(sum) => {
                    c[i] = sum;
                    return;
                }
                Err(_) => *self = Counts::Wide(c.iter().map(|x| *x as u64).collect()),
            }
        }
        if let Counts::Wide(c) = self {
            c[i] += n;
        }
    }
}

impl BucketStore {
    fn add(&mut self, index: i32, n: u64) {
        if self.counts.is_empty() {
            self.offset = index;
            self.counts.extend(0, 1);
        } else if index < self.offset {
            let before = (self.offset - index) as usize;
            let len = self.counts.len() + before;
            self.counts.extend(before, len);
            self.offset = index;
        } else if index >= self.offset + self.counts.len() as i32 {
            self.counts.extend(0, (index - self.offset) as usize + 1);
        }
        self.counts.add((index - self.offset) as usize, n);
    }

    fn iter(&self) -> impl DoubleEndedIterator<Item = (i32, u64)> + '_ {
        (0..self.counts.len())
            .map(move |i| (self.offset + i as i32, self.counts.get(i)))
            .filter(|(_, c)| *c > 0)
    }
}

/// DDSketch over `f64` values (negative, zero and positive).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuantileSketch {
    gamma_ln: f64,
    positive: BucketStore,
    negative: BucketStore,
    zeros: u64,
    count: u64,
    min: f64,
    max: f64,
}

impl Default for QuantileSketch {
    fn default() -> Self {
        Self::new(DEFAULT_RELATIVE_ACCURACY)
    }
}

impl QuantileSketch {
    pub fn new(relative_accuracy: f64) -> Self {
        let gamma = (1.0 + relative_accuracy) / (1.0 - relative_accuracy);
        Self {
            gamma_ln: gamma.ln(),
            positive: BucketStore::default(),
            negative: BucketStore::default(),
            zeros: 0,
            count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    fn index(&self, magnitude: f64) -> i32 {
        let x = magnitude.ln() / self.gamma_ln;
        // `x.ceil() as i32` (saturating) for every finite x, without a call to libm's `ceil` on every value
        // added (x86-64's baseline has no rounding instruction): truncate, then step up past a fraction.
        let t = x as i32;
        if (t as f64) < x {
            t.saturating_add(1)
        } else {
            t
        }
    }

    fn value(&self, index: i32) -> f64 {
        // The bucket's midpoint in relative terms: 2γ^i / (γ + 1).
        let gamma = self.gamma_ln.exp();
        2.0 * (self.gamma_ln * index as f64).exp() / (gamma + 1.0)
    }

    pub fn add(&mut self, v: f64) {
        debug_assert!(v.is_finite());
        self.count += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        if v > MIN_INDEXABLE {
            let i = self.index(v);
            self.positive.add(i, 1);
        } else if v < -MIN_INDEXABLE {
            let i = self.index(-v);
            self.negative.add(i, 1);
        } else {
            self.zeros += 1;
        }
    }

    /// Adds every value of `other` (which must use the same accuracy).
    pub fn merge(&mut self, other: &QuantileSketch) {
        for (i, c) in other.positive.iter() {
            self.positive.add(i, c);
        }
        for (i, c) in other.negative.iter() {
            self.negative.add(i, c);
        }
        self.zeros += other.zeros;
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The sketch's portable encoding (a Parquet `BINARY` cell, a hex string in JSON), little-endian:
    /// `b"WDDS"`, version `1u8`, `gamma_ln: f64`, `zeros: u64`, `count: u64`, `min: f64`, `max: f64`, then the
    /// positive and the negative bucket stores, each `offset: i32`, `len: u32`, `len × count: u64` (bucket
    /// `offset + k` counts the magnitudes in `(γ^(i-1), γ^i]`, `γ = exp(gamma_ln)`).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(53 + 8 * (self.positive.counts.len() + self.negative.counts.len()));
        out.extend_from_slice(b"WDDS");
        out.push(1);
        out.extend_from_slice(&self.gamma_ln.to_le_bytes());
        out.extend_from_slice(&self.zeros.to_le_bytes());
        out.extend_from_slice(&self.count.to_le_bytes());
        out.extend_from_slice(&self.min.to_le_bytes());
        out.extend_from_slice(&self.max.to_le_bytes());
        for store in [&self.positive, &self.negative] {
            out.extend_from_slice(&store.offset.to_le_bytes());
            out.extend_from_slice(&(store.counts.len() as u32).to_le_bytes());
            for i in 0..store.counts.len() {
                out.extend_from_slice(&store.counts.get(i).to_le_bytes());
            }
        }
        out
    }

    /// Decodes [`QuantileSketch::to_bytes`]; `None` for anything else.
    pub fn from_bytes(bytes: &[u8]) -> Option<QuantileSketch> {
        let mut r = bytes.strip_prefix(b"WDDS")?.strip_prefix(&[1])?;
        let mut take = |n: usize| -> Option<&[u8]> {
            let (head, tail) = (r.get(..n)?, r.get(n..)?);
            r = tail;
            Some(head)
        };
        let f64_of = |b: &[u8]| f64::from_le_bytes(b.try_into().expect("8 bytes"));
        let u64_of = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
        let gamma_ln = f64_of(take(8)?);
        let zeros = u64_of(take(8)?);
        let count = u64_of(take(8)?);
        let min = f64_of(take(8)?);
        let max = f64_of(take(8)?);
        let mut stores = [BucketStore::default(), BucketStore::default()];
        for store in &mut stores {
            store.offset = i32::from_le_bytes(take(4)?.try_into().ok()?);
            let len = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
            if len > bytes.len() / 8 {
                return None;
            }
            let counts: Vec<u64> = (0..len).map(|_| take(8).map(u64_of)).collect::<Option<_>>()?;
            store.counts = match counts.iter().map(|c| u32::try_from(*c)).collect() {
                Ok(narrow) => Counts::Narrow(narrow),
                Err(_) => Counts::Wide(counts),
            };
        }
        if !(r.is_empty() && gamma_ln.is_finite() && gamma_ln > 0.0) {
            return None;
        }
        let [positive, negative] = stores;
        Some(QuantileSketch {
            gamma_ln,
            positive,
            negative,
            zeros,
            count,
            min,
            max,
        })
    }

    /// The value at nearest rank `⌈q·n⌉` (1-based), within the sketch's relative accuracy; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0u64;
        let clamp = |v: f64| v.clamp(self.min, self.max);
        for (i, c) in self.negative.iter().rev() {
            seen += c;
            if seen >= rank {
                return Some(clamp(-self.value(i)));
            }
        }
        seen += self.zeros;
        if seen >= rank {
            return Some(clamp(0.0));
        }
        for (i, c) in self.positive.iter() {
            seen += c;
            if seen >= rank {
                return Some(clamp(self.value(i)));
            }
        }
        Some(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
        let n = sorted.len();
        let r = ((q * n as f64).ceil() as usize).clamp(1, n);
        sorted[r - 1]
    }

    /// The bucket index is libm's ceiling of ln(v)/ln γ, saturated to i32, for values across the whole range
    /// and for accuracies whose indices leave i32.
    #[test]
    fn bucket_index_is_the_saturated_ceiling() {
        let mut rng = crate::test_rng::Xorshift::new(7);
        let mut unit = || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        for accuracy in [DEFAULT_RELATIVE_ACCURACY, 0.01, 0.3, 1e-12] {
            let s = QuantileSketch::new(accuracy);
            let mut values = vec![MIN_INDEXABLE * 1.5, 1.0, f64::MAX, f64::MIN_POSITIVE, 1.0 + 1e-15];
            // Exact bucket boundaries and their neighbours, where a wrong ceiling would show.
            for i in -200..200 {
                let b = (s.gamma_ln * i as f64).exp();
                values.extend([b, b.next_up(), b.next_down()]);
            }
            values.extend((0..10_000).map(|_| (unit() * 1400.0 - 700.0).exp()));
            for v in values.into_iter().filter(|v| *v > MIN_INDEXABLE) {
                assert_eq!(
                    s.index(v),
                    (v.ln() / s.gamma_ln).ceil() as i32,
                    "{v} at accuracy {accuracy}"
                );
            }
        }
    }

    #[test]
    fn quantiles_within_one_percent_of_nearest_rank() {
        // A deterministic spread over six orders of magnitude, with negatives and zeros.
        let mut values: Vec<f64> = (0..20_000)
            .map(|i| {
                let x = ((i * 7919) % 20_000) as f64 / 20_000.0;
                let v = (x * 14.0 - 7.0).exp();
                if i % 11 == 0 {
                    -v
                } else if i % 97 == 0 {
                    0.0
                } else {
                    v
                }
            })
            .collect();
        let mut s = QuantileSketch::default();
        for v in &values {
            s.add(*v);
        }
        values.sort_by(f64::total_cmp);
        for q in [0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1.0] {
            let exact = nearest_rank(&values, q);
            let got = s.quantile(q).unwrap();
            let err = if exact == 0.0 {
                got.abs()
            } else {
                ((got - exact) / exact).abs()
            };
            assert!(err <= 0.01, "q={q}: got {got}, exact {exact}, err {err}");
        }
    }

    #[test]
    fn merge_equals_adding_everything() {
        let (mut a, mut b, mut all) = (
            QuantileSketch::default(),
            QuantileSketch::default(),
            QuantileSketch::default(),
        );
        for i in 1..1000 {
            let v = i as f64 * 0.37;
            if i % 3 == 0 {
                a.add(v)
            } else {
                b.add(v)
            }
            all.add(v);
        }
        a.merge(&b);
        assert_eq!(a, all);
        assert_eq!(QuantileSketch::from_bytes(&a.to_bytes()), Some(a.clone()));
        assert_eq!(QuantileSketch::from_bytes(&a.to_bytes()[1..]), None);
        assert_eq!(QuantileSketch::default().quantile(0.5), None);
    }

    /// Counts past `u32::MAX` widen the store instead of wrapping; the encoding is the same either way.
    #[test]
    fn counts_beyond_32_bits_widen() {
        let mut s = BucketStore::default();
        s.add(5, u32::MAX as u64 - 1);
        s.add(3, 7);
        assert!(matches!(s.counts, Counts::Narrow(_)));
        s.add(5, 3);
        assert!(matches!(s.counts, Counts::Wide(_)));
        assert_eq!(s.iter().collect::<Vec<_>>(), [(3, 7), (5, u32::MAX as u64 + 2)]);
        let q = QuantileSketch {
            positive: s,
            count: u32::MAX as u64 + 9,
            ..QuantileSketch::default()
        };
        assert_eq!(QuantileSketch::from_bytes(&q.to_bytes()), Some(q));
    }

    #[test]
    fn small_counts_use_nearest_rank() {
        let mut s = QuantileSketch::default();
        for v in [1.0, 2.0, 3.0, 4.0, 5.0] {
            s.add(v);
        }
        // ⌈0.9·5⌉ = 5 → 5.0 ; ⌈0.5·5⌉ = 3 → 3.0
        assert!((s.quantile(0.9).unwrap() - 5.0).abs() <= 0.05);
        assert!((s.quantile(0.5).unwrap() - 3.0).abs() <= 0.03);
        assert_eq!(s.quantile(0.0).unwrap(), 1.0);
    }
}
