//! When cycles run: after a random start delay, then every `poll.interval`, a slow
//! cycle delaying the next rather than overlapping it; and at once after a reload.

use std::sync::Arc;
use std::time::Duration;

use super::Poller;

/// Polls until the sender of `pollers` is dropped: a random start delay, then a cycle
/// every `poll.interval` (a slow cycle delays the next rather than overlapping it).
/// Each snapshot is published as it lands. A new poller (a reloaded configuration)
/// takes over when the running cycle ends, and its first cycle starts at once.
pub async fn run(
    mut pollers: tokio::sync::watch::Receiver<Arc<Poller>>,
    ready: Arc<std::sync::atomic::AtomicBool>,
    latest: crate::state::Latest,
) {
    let mut poller = Arc::clone(&pollers.borrow_and_update());
    let jitter = poller.start_jitter.mul_f64(fastrand::f64());
    tokio::time::sleep(jitter).await;
    let mut ticker = ticker(poller.interval);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            changed = pollers.changed() => if changed.is_err() { return },
        }
        // A reload sends a new poller, so a different pointer is the whole test.
        if !Arc::ptr_eq(&poller, &pollers.borrow()) {
            let new = Arc::clone(&pollers.borrow_and_update());
            new.adopt(&poller);
            poller = new;
            // The new interval counts from this cycle.
            ticker = ticker_after(poller.interval);
        }
        let snap = poller.cycle().await;
        // Rendering thousands of backups takes tens of milliseconds of CPU: off the
        // runtime's thread, so scrapes are answered meanwhile.
        let (metrics, published) = (Arc::clone(&poller.metrics), Arc::clone(&snap));
        if let Err(e) = tokio::task::spawn_blocking(move || metrics.publish(&published)).await {
            tracing::error!(error = %e, "rendering the cycle's series failed");
        }
        *crate::sync::write(&latest) = Some(Arc::clone(&snap));
        ready.store(true, std::sync::atomic::Ordering::Release);
        if let Some(c) = &snap.cycle {
            tracing::info!(
                duration_ms = c.duration.as_millis() as u64,
                success = c.success,
                backups = snap.backups.len(),
                "poll cycle completed"
            );
        }
    }
}

fn ticker(interval: Duration) -> tokio::time::Interval {
    let mut t = tokio::time::interval(interval);
    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    t
}

/// Like [`ticker`], but its first tick is one interval from now.
fn ticker_after(interval: Duration) -> tokio::time::Interval {
    let mut t = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    t
}
