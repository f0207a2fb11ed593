//! Network faults: link loss, latency, and two-way and one-way partitions.
//!
//! - **Link loss** is turmoil's link `fail_rate` on every client↔RAIDA link for the whole
//!   safety phase. turmoil's fail rate breaks the whole link (everything in flight is dropped;
//!   the link is repaired on a later send), and a broken link also ends an explicit one-way
//!   partition on it early: with both faults on, a one-way partition may heal before its
//!   recorded repair.
//! - **Latency** is turmoil's per-message latency, uniform in `latency_ms_min..=max`.
//! - **Partitions**: each simulated second one roll for a two-way and one for a one-way
//!   partition (stream `"faults.partition"`). A two-way partition cuts one client host from a
//!   random third (at most) of the RAIDAs; a one-way partition cuts one direction between one
//!   client host and one RAIDA. Each is repaired after a seeded
//!   [`PARTITION_S_MIN`]..=[`PARTITION_S_MAX`] s; while one is in effect further rolls are
//!   skipped, so repairs never undo each other.

use knobs::{Knob, Knobs, Vary, Visitor};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use turmoil::Sim;

use super::clock::PPM;
use crate::history::{FaultKind, Host};
use crate::limits::{LATENCY_MS_MAX, PARTITION_S_MAX, PARTITION_S_MIN, US_PER_S};
use crate::seed::SeedTree;
use crate::world::World;

/// Network knobs.
#[derive(Clone, PartialEq, Debug)]
pub struct NetworkFaults {
    /// turmoil link fail_rate on every client↔RAIDA link.
    pub packet_loss: f64,
    /// Link latency lower bound, ms (default 1).
    pub latency_ms_min: u32,
    /// Link latency upper bound, ms (default 5).
    pub latency_ms_max: u32,
    /// Chance per simulated second of a two-way partition.
    pub partition_fraction: f64,
    /// Chance per simulated second of a one-way partition.
    pub oneway_partition_fraction: f64,
}

impl Default for NetworkFaults {
    fn default() -> Self {
        NetworkFaults {
            packet_loss: 0.0,
            latency_ms_min: 1,
            latency_ms_max: 5,
            partition_fraction: 0.0,
            oneway_partition_fraction: 0.0,
        }
    }
}

impl Knobs for NetworkFaults {
    fn visit(&mut self, v: &mut dyn Visitor) {
        let max = i64::from(LATENCY_MS_MAX);
        let min = i64::from(self.latency_ms_min);
        v.knob(Knob::fraction("packet_loss", &mut self.packet_loss).vary(PPM));
        v.knob(Knob::int(
            "latency_ms_min",
            &mut self.latency_ms_min,
            0..=max,
        ));
        v.knob(
            Knob::int("latency_ms_max", &mut self.latency_ms_max, min..=max).vary(Vary::From(min)),
        );
        v.knob(Knob::fraction("partition_fraction", &mut self.partition_fraction).vary(PPM));
        v.knob(
            Knob::fraction(
                "oneway_partition_fraction",
                &mut self.oneway_partition_fraction,
            )
            .vary(PPM),
        );
    }
}

impl NetworkFaults {
    /// True when no link breaks (latency aside).
    pub fn is_quiet(&self) -> bool {
        self.packet_loss == 0.0
            && self.partition_fraction == 0.0
            && self.oneway_partition_fraction == 0.0
    }

    /// Every partition of the safety phase, with its start time: drawn second by second
    /// from stream `"faults.partition"`, every value every second whatever the chances, so
    /// one fault's rate does not shift the other's draws.
    pub fn schedule_partitions(
        &self,
        tree: &SeedTree,
        duration_s: u32,
        client_hosts: u16,
        raidas: u8,
    ) -> Vec<(u64, PartitionSpec)> {
        let mut rng = tree.stream("faults.partition");
        let cut_max = (raidas / 3).max(1);
        let mut out = Vec::new();
        for second in 0..duration_s {
            for oneway in [false, true] {
                let chance = if oneway {
                    self.oneway_partition_fraction
                } else {
                    self.partition_fraction
                };
                let (fires, spec, offset_us) =
                    draw_partition(&mut rng, chance, oneway, client_hosts, raidas, cut_max);
                if fires {
                    out.push((u64::from(second) * US_PER_S + offset_us, spec));
                }
            }
        }
        out
    }

    /// Link loss on every client↔RAIDA link (at the start of the run).
    pub fn start_link_loss(&self, sim: &mut Sim<'_>, world: &World) {
        if self.packet_loss <= 0.0 {
            return;
        }
        for client in &world.client_ips {
            for raida in &world.raida_ips {
                sim.set_link_fail_rate(*client, *raida, self.packet_loss);
            }
        }
        let hosts = (0..world.client_hosts).map(Host::Client).collect();
        world.fault(
            0,
            FaultKind::LinkLoss,
            hosts,
            format!("fail_rate={} on every client-raida link", self.packet_loss),
        );
    }

    /// Ends link loss (at healing).
    pub fn stop_link_loss(&self, sim: &mut Sim<'_>, world: &World) {
        if self.packet_loss <= 0.0 {
            return;
        }
        for client in &world.client_ips {
            for raida in &world.raida_ips {
                sim.set_link_fail_rate(*client, *raida, 0.0);
            }
        }
    }
}

/// One second's draws for one partition kind: whether it fires, what it cuts, and the
/// offset into the second.
fn draw_partition(
    rng: &mut ChaCha8Rng,
    chance: f64,
    oneway: bool,
    client_hosts: u16,
    raidas: u8,
    cut_max: u8,
) -> (bool, PartitionSpec, u64) {
    let fires = rng.random_bool(chance);
    let client = rng.random_range(0..client_hosts);
    let mut pool: Vec<u8> = (0..raidas).collect();
    let cut = if oneway {
        1
    } else {
        rng.random_range(1..=cut_max)
    };
    let mut cut_raidas = Vec::with_capacity(usize::from(cut));
    for _ in 0..cut {
        let index = rng.random_range(0..pool.len());
        cut_raidas.push(pool.swap_remove(index));
    }
    cut_raidas.sort_unstable();
    let client_to_raida: bool = rng.random();
    let duration_us = rng.random_range(
        u64::from(PARTITION_S_MIN) * US_PER_S..=u64::from(PARTITION_S_MAX) * US_PER_S,
    );
    let offset_us = rng.random_range(0..US_PER_S);
    let spec = PartitionSpec {
        client,
        raidas: cut_raidas,
        oneway_client_to_raida: oneway.then_some(client_to_raida),
        duration_us,
    };
    (fires, spec, offset_us)
}

/// One partition: a client host against some RAIDAs, both ways or one way.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PartitionSpec {
    /// The client host.
    pub client: u16,
    /// The RAIDAs cut from it.
    pub raidas: Vec<u8>,
    /// `None`: both ways. `Some(true)`: client → RAIDA dropped. `Some(false)`: RAIDA → client.
    pub oneway_client_to_raida: Option<bool>,
    /// How long it lasts.
    pub duration_us: u64,
}

impl PartitionSpec {
    /// The hosts to name in the fault event: the cut side first.
    pub fn hosts(&self) -> Vec<Host> {
        let client = Host::Client(self.client);
        let raidas = self.raidas.iter().map(|raida| Host::Raida(*raida));
        match self.oneway_client_to_raida {
            Some(false) => raidas.chain([client]).collect(),
            _ => [client].into_iter().chain(raidas).collect(),
        }
    }

    /// The fault kind it records as.
    pub fn kind(&self) -> FaultKind {
        match self.oneway_client_to_raida {
            None => FaultKind::Partition,
            Some(_) => FaultKind::OnewayPartition,
        }
    }

    /// The fault event's detail text.
    pub fn detail(&self) -> String {
        let direction = match self.oneway_client_to_raida {
            None => "both ways",
            Some(true) => "client to raida dropped",
            Some(false) => "raida to client dropped",
        };
        format!("{direction} for {} us", self.duration_us)
    }

    /// Cuts the links.
    pub fn apply(&self, sim: &mut Sim<'_>, world: &World) {
        let client = world.client_ip(self.client);
        for raida in &self.raidas {
            let raida = world.raida_ip(*raida);
            match self.oneway_client_to_raida {
                None => sim.partition(client, raida),
                Some(true) => sim.partition_oneway(client, raida),
                Some(false) => sim.partition_oneway(raida, client),
            }
        }
    }

    /// Repairs the links.
    pub fn repair(&self, sim: &mut Sim<'_>, world: &World) {
        let client = world.client_ip(self.client);
        for raida in &self.raidas {
            let raida = world.raida_ip(*raida);
            match self.oneway_client_to_raida {
                None => sim.repair(client, raida),
                Some(true) => sim.repair_oneway(client, raida),
                Some(false) => sim.repair_oneway(raida, client),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_hosts_name_the_cut_side_first() {
        let spec = PartitionSpec {
            client: 1,
            raidas: vec![4],
            oneway_client_to_raida: Some(false),
            duration_us: 1,
        };
        assert_eq!(spec.hosts(), vec![Host::Raida(4), Host::Client(1)]);
        assert_eq!(spec.kind(), FaultKind::OnewayPartition);
        let two_way = PartitionSpec {
            oneway_client_to_raida: None,
            raidas: vec![2, 3],
            ..spec
        };
        assert_eq!(
            two_way.hosts(),
            vec![Host::Client(1), Host::Raida(2), Host::Raida(3)]
        );
        assert_eq!(two_way.kind(), FaultKind::Partition);
    }

    #[test]
    fn partitions_follow_their_chance_and_are_sorted_in_time() {
        let faults = NetworkFaults {
            partition_fraction: 0.5,
            ..NetworkFaults::default()
        };
        let schedule = faults.schedule_partitions(&SeedTree::new(1), 100, 4, 25);
        assert!((30..=70).contains(&schedule.len()), "{}", schedule.len());
        assert!(schedule.windows(2).all(|pair| pair[0].0 <= pair[1].0));
        assert!(schedule
            .iter()
            .all(|(_, spec)| spec.oneway_client_to_raida.is_none()));
        assert!(schedule
            .iter()
            .all(|(_, spec)| (1..=8).contains(&spec.raidas.len())));
    }
}
