//! Locks without poison: one place decides what a panic while a lock was held means.
//!
//! Every guarded value here is replaced whole (a snapshot, a cache entry, a map entry)
//! rather than edited in steps, so a panic elsewhere cannot leave it half-written; the
//! value is still good, and the exporter keeps serving rather than failing every
//! scrape after one bug.

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

pub fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}
