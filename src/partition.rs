//! This replica's partition of the fleet: which instances it polls when the fleet is
//! split across replicas (`--shard N --total-shards M`, the flags' names those of
//! kube-state-metrics, which splits the same way): every replica discovers everything
//! and keeps the instances whose bucket is its own. Not to be confused with a Redis
//! cluster's shards (`shard_id`), which are parts of one instance.
//!
//! The bucket is Lamping and Veach's jump consistent hash of the 64-bit FNV-1a hash of
//! the instance UUID. Both are fixed algorithms (never Rust's randomly keyed
//! `DefaultHasher`), so every replica, version and run agrees on the split, and going
//! from M to M+1 shards moves only the 1/(M+1) of instances that land in the new one.

use std::hash::Hasher as _;

/// This replica's part of the fleet: partition `index` of `total` (0-based), given by
/// `--shard` and `--total-shards`. The default is the whole fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub index: u32,
    pub total: u32,
}

impl Default for Partition {
    fn default() -> Self {
        Self { index: 0, total: 1 }
    }
}

impl Partition {
    /// `index` must be below `total`, and `total` at least 1.
    pub fn new(index: u32, total: u32) -> Result<Self, String> {
        if total == 0 {
            return Err("--total-shards must be at least 1".to_owned());
        }
        if index >= total {
            return Err(format!(
                "shard {index} does not exist with --total-shards {total}; shards are numbered 0 to {}",
                total - 1
            ));
        }
        Ok(Self { index, total })
    }

    /// Whether this replica polls the instance.
    pub fn owns(&self, instance_uuid: &str) -> bool {
        self.total <= 1 || bucket(instance_uuid, self.total) == self.index
    }
}

/// The partition of `instance_uuid` among `partitions` (at least 1).
pub fn bucket(instance_uuid: &str, partitions: u32) -> u32 {
    let mut h = fnv::FnvHasher::default();
    h.write(instance_uuid.as_bytes());
    jump(h.finish(), partitions.max(1))
}

/// Jump consistent hash (Lamping & Veach, 2014, "A Fast, Minimal Memory, Consistent
/// Hash Algorithm"): the bucket in `0..buckets` of `key`.
fn jump(mut key: u64, buckets: u32) -> u32 {
    let (mut b, mut j): (i64, i64) = (-1, 0);
    while j < i64::from(buckets) {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        let r = ((key >> 33) + 1) as f64;
        j = ((b + 1) as f64 * (f64::from(1u32 << 31) / r)) as i64;
    }
    u32::try_from(b).unwrap_or(0)
}

/// The ordinal at the end of a StatefulSet pod name: `exporter-2` → 2.
pub fn ordinal(hostname: &str) -> Option<u32> {
    let (_, n) = hostname.trim().rsplit_once('-')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 50,000 UUID-shaped keys, the same on every run.
    fn uuids() -> Vec<String> {
        (0u64..50_000)
            .map(|i| {
                let a =
                    i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ 0x5851_F42D_4C95_7F2D;
                let b = a.wrapping_mul(0xBF58_476D_1CE4_E5B9);
                format!(
                    "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
                    a >> 32,
                    (a >> 16) & 0xFFFF,
                    a & 0xFFF,
                    0x8000 | (b >> 48) & 0x3FFF,
                    b & 0xFFFF_FFFF_FFFF
                )
            })
            .collect()
    }

    /// Fixed forever: a change here would reshuffle every deployed fleet on upgrade.
    #[test]
    fn assignment_is_stable_across_runs_and_versions() {
        let golden = [
            ("8a1b7c2e-0d4f-4e5a-9b6c-1f2e3d4c5b01", 3, 0),
            ("8a1b7c2e-0d4f-4e5a-9b6c-1f2e3d4c5b02", 3, 1),
            ("8a1b7c2e-0d4f-4e5a-9b6c-1f2e3d4c5b03", 3, 1),
            ("00000000-0000-0000-0000-000000000001", 5, 1),
            ("ins-1a2b3c", 2, 0),
            ("", 7, 1),
        ];
        // The algorithm's published vectors (as other implementations test them).
        assert_eq!(jump(10_863_919_174_838_991, 11), 6);
        assert_eq!(jump(2_016_238_256_797_177_309, 11), 3);
        let got: Vec<(&str, u32, u32)> = golden
            .iter()
            .map(|(k, n, _)| (*k, *n, bucket(k, *n)))
            .collect();
        assert_eq!(got, golden);
        assert_eq!(jump(0, 1), 0);
        assert_eq!(jump(u64::MAX, 1000), jump(u64::MAX, 1000));
    }

    #[test]
    fn fifty_thousand_uuids_are_balanced_within_a_few_percent() {
        let keys = uuids();
        for shards in [2u32, 3, 5, 10] {
            let mut counts = vec![0usize; shards as usize];
            for k in &keys {
                counts[bucket(k, shards) as usize] += 1;
            }
            let even = keys.len() as f64 / f64::from(shards);
            for c in &counts {
                let off = (*c as f64 - even).abs() / even;
                assert!(off < 0.03, "{shards} shards: {counts:?}");
            }
        }
    }

    #[test]
    fn adding_a_shard_moves_about_one_in_m_plus_one() {
        let keys = uuids();
        for m in [1u32, 2, 3, 9] {
            let moved = keys
                .iter()
                .filter(|k| bucket(k, m) != bucket(k, m + 1))
                .count();
            // Everything that moves, moves into the new shard.
            assert!(keys
                .iter()
                .filter(|k| bucket(k, m) != bucket(k, m + 1))
                .all(|k| bucket(k, m + 1) == m));
            let share = moved as f64 / keys.len() as f64;
            let want = 1.0 / f64::from(m + 1);
            assert!((share - want).abs() < 0.02, "{m} → {}: {share}", m + 1);
        }
    }

    #[test]
    fn every_instance_has_exactly_one_owner() {
        let shards: Vec<Partition> = (0..3).filter_map(|i| Partition::new(i, 3).ok()).collect();
        for k in uuids().iter().take(5_000) {
            assert_eq!(shards.iter().filter(|s| s.owns(k)).count(), 1, "{k}");
        }
        assert!(Partition::default().owns("anything"));
    }

    #[test]
    fn bad_shards_and_hostnames_are_refused() {
        assert!(Partition::new(3, 3).is_err());
        assert!(Partition::new(0, 0).is_err());
        assert_eq!(ordinal("cds-redis-backup-exporter-2"), Some(2));
        assert_eq!(ordinal("exporter-12\n"), Some(12));
        assert_eq!(ordinal("exporter"), None);
        assert_eq!(ordinal("exporter-"), None);
        assert_eq!(ordinal("exporter-x1"), None);
    }
}
