//! plan per-tier values: one value for each of local, EFS and S3.
//!
//! Input: a value per [`TierName`]. Output: a [`PerTier`] read by tier name
//! (`x.s3`, `x[tier]`) instead of by position, iterated in
//! [`TierName::ALL`]'s order (local, EFS, S3) wherever order matters, as it
//! does for the order the solver's variables are created in.

use crate::config::TierName;
use std::ops::{Index, IndexMut};

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PerTier<T> {
    pub local: T,
    pub efs: T,
    pub s3: T,
}

impl<T> PerTier<T> {
    /// `f` of each tier, called in [`TierName::ALL`]'s order.
    pub fn from_fn(mut f: impl FnMut(TierName) -> T) -> PerTier<T> {
        // Struct fields are evaluated in the order written.
        PerTier {
            local: f(TierName::Local),
            efs: f(TierName::Efs),
            s3: f(TierName::S3),
        }
    }

    /// Each tier with its value, in [`TierName::ALL`]'s order.
    pub fn iter(&self) -> impl Iterator<Item = (TierName, &T)> {
        TierName::ALL
            .into_iter()
            .map(move |tier| (tier, &self[tier]))
    }

    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> PerTier<U> {
        PerTier {
            local: f(self.local),
            efs: f(self.efs),
            s3: f(self.s3),
        }
    }

    /// The values in [`TierName::ALL`]'s order.
    pub fn into_vec(self) -> Vec<T> {
        vec![self.local, self.efs, self.s3]
    }
}

impl<T> Index<TierName> for PerTier<T> {
    type Output = T;
    fn index(&self, tier: TierName) -> &T {
        match tier {
            TierName::Local => &self.local,
            TierName::Efs => &self.efs,
            TierName::S3 => &self.s3,
        }
    }
}

impl<T> IndexMut<TierName> for PerTier<T> {
    fn index_mut(&mut self, tier: TierName) -> &mut T {
        match tier {
            TierName::Local => &mut self.local,
            TierName::Efs => &mut self.efs,
            TierName::S3 => &mut self.s3,
        }
    }
}
