//! What restore drills found, as plain data below the snapshot (the drills themselves
//! are [`crate::drill`], which needs the verdict and the verifier): each drill's
//! outcome and measurements (`result.rs`), the book of drilled backups kept in the
//! state file (`book.rs`), what a snapshot knows of drills, and what drills share
//! with verification ([`Egress`]), declared here so the verifier can lend it without
//! depending on the drills.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub mod book;
mod result;

pub use book::{Book, DrillRecord, LastDrilled};
pub use result::{DrillOutcome, DrillResult};

/// What a snapshot knows of drills.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Drills {
    pub book: Book,
    /// instance_uuid → `drill.warn_after`, for every instance `drill:` selects.
    pub drilled: BTreeMap<String, Duration>,
}

/// What drills share with verification: the bandwidth cap and the daily byte budget
/// (`verify.max_bandwidth`, `verify.daily_budget`).
pub trait Egress: Send + Sync + std::fmt::Debug {
    /// Holds `n` more bytes of today's budget; false when they do not fit.
    fn reserve(&self, n: u64) -> bool;
    /// Waits until `n` bytes may pass the bandwidth cap.
    fn pace(&self, n: u64) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
    /// Gives back the `reserved` bytes a drill held and spends the `spent` it took.
    fn settle(&self, reserved: u64, spent: u64);
}
