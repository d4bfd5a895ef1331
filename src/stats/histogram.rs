//! Log-scale histograms of import times, for medians at bounded memory.

/// A log-scale histogram: exact below 32, then 16 buckets per power of two
/// (4.4 % wide), so medians of millions of samples cost a few kB per module
/// and one add is a couple of integer operations.
#[derive(Debug, Clone, Default)]
pub(super) struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

impl Histogram {
    fn bucket(value: u64) -> usize {
        if value < 32 {
            return value as usize;
        }
        let exponent = 63 - value.leading_zeros() as usize; // >= 5
        let mantissa = ((value >> (exponent - 4)) & 0xf) as usize;
        32 + (exponent - 5) * 16 + mantissa
    }

    /// The middle of a bucket's range.
    fn value_of(bucket: usize) -> u64 {
        if bucket < 32 {
            return bucket as u64;
        }
        let exponent = (bucket - 32) / 16 + 5;
        let mantissa = ((bucket - 32) % 16) as u64;
        let low = (16 + mantissa) << (exponent - 4);
        low + (1u64 << (exponent - 4)) / 2
    }

    pub(super) fn add(&mut self, value: u64) {
        self.add_n(value, 1);
    }

    pub(super) fn add_n(&mut self, value: u64, n: u64) {
        if n == 0 {
            return;
        }
        let bucket = Self::bucket(value);
        if self.counts.len() <= bucket {
            self.counts.resize(bucket + 1, 0);
        }
        self.counts[bucket] = self.counts[bucket].saturating_add(n);
        self.total = self.total.saturating_add(n);
    }

    pub(super) fn merge(&mut self, other: &Histogram) {
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine = mine.saturating_add(*theirs);
        }
        self.total = self.total.saturating_add(other.total);
    }

    pub(super) fn median(&self) -> Option<u64> {
        let mut seen = 0u128;
        for (bucket, &count) in self.counts.iter().enumerate() {
            seen += u128::from(count);
            if seen * 2 >= u128::from(self.total) && count > 0 {
                return Some(Self::value_of(bucket));
            }
        }
        None
    }
}
