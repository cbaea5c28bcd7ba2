//! What restore drills ([`crate::drill`]) share with verification: the bandwidth
//! limiter and the daily byte budget (a drill's download is paced and paid for like a
//! full check's), and the state file, where drills' results are kept next to
//! verification's.

use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;

use super::{today, Shared, Verifier};
use crate::drilled::Egress;
use crate::sync::lock;

/// The verifier's limiter and budget, for drills.
#[derive(Debug)]
struct Shares(Arc<Shared>);

impl Egress for Shares {
    fn reserve(&self, n: u64) -> bool {
        self.0.reserve(n)
    }

    fn pace(&self, n: u64) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            let mut left = n;
            while left > 0 {
                let take = left.min(u64::from(self.0.burst)) as u32;
                if let Some(cells) = NonZeroU32::new(take) {
                    // Never more than the burst, so never refused.
                    let _ = self.0.limiter.until_n_ready(cells).await;
                }
                left -= u64::from(take);
            }
            self.0.gauges.downloaded(n);
        })
    }

    fn settle(&self, reserved: u64, spent: u64) {
        let remaining = {
            let mut store = lock(&self.0.store);
            let remaining = store.spend(today(), spent, self.0.config.daily_budget);
            let mut held = lock(&self.0.reserved);
            *held = held.saturating_sub(reserved);
            remaining
        };
        self.0.gauges.budget_left(remaining);
    }
}

impl Verifier {
    /// The limiter and budget drills share with verification.
    pub fn egress(&self) -> Arc<dyn Egress> {
        Arc::new(Shares(Arc::clone(&self.shared)))
    }

    /// The drills' results the state file held (or a reloaded verifier took over).
    pub fn drill_book(&self) -> crate::drilled::Book {
        lock(&self.shared.store).drills.clone()
    }

    /// The drills' newest results, for the state file; written with the next save.
    pub fn keep_drills(&self, book: crate::drilled::Book) {
        let mut s = lock(&self.shared.store);
        if !s.has_file() {
            return;
        }
        let before = s.drills == book;
        s.set_drills(book);
        drop(s);
        if !before {
            self.start_saver();
            self.shared.save.notify_one();
        }
    }
}
