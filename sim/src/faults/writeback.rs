//! Kernel writeback: the RAIDAs' disks make pending writes and directory entries durable on
//! their own, as Linux's flusher threads and ext4's journal commit do every few seconds.
//!
//! turmoil keeps every file operation pending until the program syncs it (`sync_all`,
//! `sync_dir`); a crash drops whatever is still pending. Real kernels also commit on their
//! own: a rename that was never `fsync`ed on its directory survives a power loss if the
//! journal committed it first. Without that a never-synced inbox directory loses every tell
//! since boot on a crash, and turmoil's pending list grows for the whole run.
//!
//! One knob, `writeback_s` (0: never, the default). Each RAIDA draws its own delay, uniform
//! between half of `writeback_s` and `writeback_s` in milliseconds (stream
//! `("faults.writeback", raida)`); after each simulation step the world makes durable every
//! pending operation that RAIDA made at least its delay ago, oldest first (turmoil patch
//! `Sim::fs_writeback`, third_party/turmoil/PATCHES.md). A crash before that still loses it.
//! With swarm the seed turns it off half the time and otherwise picks `0..=writeback_s`.

use std::net::IpAddr;
use std::time::Duration;

use knobs::{Knob, Knobs, Vary, Visitor};
use rand::Rng;

use crate::seed::SeedTree;

/// Longest writeback delay a scenario may ask for, seconds.
pub const WRITEBACK_S_MAX: u32 = 3_600;

const MS_PER_S: u64 = 1_000;

/// The writeback knob.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct WritebackFaults {
    /// Longest time an operation stays pending before the kernel commits it, s (0: never).
    pub writeback_s: u32,
}

impl Knobs for WritebackFaults {
    fn visit(&mut self, v: &mut dyn Visitor) {
        let range = 0..=i64::from(WRITEBACK_S_MAX);
        let on_off = Vary::OnOff { per: 1 };
        v.knob(Knob::int("writeback_s", &mut self.writeback_s, range).vary(on_off));
    }
}

impl WritebackFaults {
    /// Each RAIDA's writeback delay (none when the knob is 0).
    pub fn delays(&self, tree: &SeedTree, raidas: u8) -> Vec<Option<Duration>> {
        (0..raidas).map(|raida| self.delay(tree, raida)).collect()
    }

    fn delay(&self, tree: &SeedTree, raida: u8) -> Option<Duration> {
        if self.writeback_s == 0 {
            return None;
        }
        let max_ms = u64::from(self.writeback_s) * MS_PER_S;
        let mut rng = tree.stream_for_host("faults.writeback", u64::from(raida));
        let delay_ms = rng.random_range(max_ms / 2..=max_ms);
        Some(Duration::from_millis(delay_ms))
    }
}

/// The world's side of writeback: which RAIDA commits after how long.
#[derive(Debug)]
pub struct Writeback {
    hosts: Vec<(IpAddr, Duration)>,
}

impl Writeback {
    /// Writeback for the RAIDAs at `raida_ips` (in RAIDA order), with delays from `faults`.
    pub fn new(faults: &WritebackFaults, tree: &SeedTree, raida_ips: &[IpAddr]) -> Writeback {
        let raidas = u8::try_from(raida_ips.len()).expect("at most 25 RAIDAs");
        let delays = faults.delays(tree, raidas);
        assert_eq!(delays.len(), raida_ips.len(), "one delay per RAIDA");
        let hosts = raida_ips
            .iter()
            .zip(delays)
            .filter_map(|(ip, delay)| delay.map(|delay| (*ip, delay)))
            .collect();
        Writeback { hosts }
    }

    /// After each `Sim::step` (and after crashes the step caused): commit what is old enough.
    pub fn after_step(&self, sim: &mut turmoil::Sim<'_>) {
        for (ip, delay) in &self.hosts {
            sim.fs_writeback(*ip, *delay);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_follow_the_seed_within_half_to_full() {
        let faults = WritebackFaults { writeback_s: 5 };
        let tree = SeedTree::new(7);
        let delays = faults.delays(&tree, 25);
        assert_eq!(delays, faults.delays(&tree, 25), "seeded");
        assert!(delays.iter().all(|delay| delay.is_some_and(|delay| {
            (Duration::from_millis(2_500)..=Duration::from_secs(5)).contains(&delay)
        })));
        let distinct: std::collections::BTreeSet<Duration> =
            delays.iter().flatten().copied().collect();
        assert!(distinct.len() > 1, "per host: {distinct:?}");
    }

    #[test]
    fn zero_never_writes_back() {
        let faults = WritebackFaults::default();
        assert!(faults
            .delays(&SeedTree::new(1), 3)
            .iter()
            .all(Option::is_none));
    }
}
