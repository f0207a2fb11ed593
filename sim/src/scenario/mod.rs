//! Scenario files: what one simulated run (per seed) sets up, breaks and expects.
//!
//! A scenario is a TOML file with these sections; every key but `scenario.name` is optional
//! and its default is given beside it. Unknown sections or keys, values of the wrong type
//! and values out of range are errors that name the file, the line and the key.
//!
//! ```toml
//! [scenario]
//! name = "loss"                 # required; letters, digits, '-' and '_'
//! description = "..."           # default ""
//! seeds = "0..8"                # default "0..8"; "a..b", "a..=b" or a list [1, 2, 3]
//!
//! [sim]
//! tick_ms = 10                  # turmoil tick, 1..=1000
//! duration_s = 60               # safety phase (faults on), 1..=86400
//! heal_s = 120                  # healed-phase bound for liveness, 1..=86400
//! tcp_capacity = 256            # turmoil pending connects per listener
//!
//! [topology]
//! raidas = 25                   # 1..=25
//! mailboxes = 16                # 1..=100000
//! devices_per_mailbox = 1       # 1..=64
//! client_hosts = 2              # 1..=16 (each runs many mailboxes as tasks)
//! beacon = "hash"               # "hash", "fixed:N" or a list of RAIDA ids [0, 5, 9]
//!
//! [workload]
//! emails = 32                   # 0..=1000000
//! recipients_min = 1            # 1..=255, ≤ recipients_max ≤ mailboxes
//! recipients_max = 3
//! cc_fraction = 0.2             # share of recipients addressed CC; cc + bcc ≤ 1
//! bcc_fraction = 0.1
//! attachments_max = 2           # 0..=32
//! attachment_size_bytes_max = 16384   # ≤ 65447 × data_stripes
//! body_size_bytes_max = 4096          # ≤ 65447 × data_stripes
//! revision_fraction = 0.0       # share of emails re-sent with edit_sequence + 1
//! data_stripes = 7              # 1..=31 and data_stripes + 1 ≤ raidas
//! send_window_s = duration_s/2  # sends spread over [0, send_window_s), ≤ duration_s
//! poll = "ping"                 # "ping", "peek" or "mixed"
//! data_stripes_max = data_stripes    # each email draws N in data_stripes..=this, ≤ 24
//! reed_solomon_fraction = 0.0   # chance per email of Reed–Solomon parity (parity_algo 1)
//! rs_parity_max = 2             # RS emails draw 2..=this parity stripes (≤ 8);
//!                               # data_stripes_max + rs_parity_max ≤ raidas when RS is on
//! revisions_max = 2             # a revised email sends 2..=this revisions (≤ 16)
//! revision_burst_fraction = 0.0 # chance per revised email its revisions go 0–1 s apart
//! hot_mailbox_fraction = 0.0    # chance per email that mailbox 0 is added as To
//! device_outage_fraction = 0.0  # chance per device of one outage (no polls, no downloads)
//! device_outage_s_min = 10      # outage length bounds, seconds (1..=3600, min ≤ max); an
//! device_outage_s_max = 40      # outage starts in the safety phase and ends by the heal
//! device_slow_fraction = 0.0    # chance per device that its poll pauses are multiplied
//! device_slow_factor = 4        # by this (1..=20); a slow ping device pauses a peek interval
//! tell_retries_max = 0          # the clients' retries of a tell after an I/O failure (≤ 16)
//! send_policy = "all_stripes"   # or "allow_one_missing_per_file": tell with one stripe short
//!
//! [faults]                      # every fault defaults to off
//! swarm = false                 # true: the seed picks each rate in 0..=value, some off
//!                               # (and the workload's chances and maxima above likewise)
//! clock_skew_s_max = 0          # per-host clock offset, ±seconds
//! clock_drift_ppm_max = 0       # per-host clock drift, ±ppm
//! clock_step_fraction = 0.0     # chance per host of one clock step in the safety phase
//! packet_loss = 0.0             # turmoil link fail_rate (chance per send the link breaks)
//! latency_ms_min = 1            # per-link latency bounds, milliseconds
//! latency_ms_max = 5
//! partition_fraction = 0.0      # chance per simulated second of a two-way partition
//! oneway_partition_fraction = 0.0  # same, one-way
//! crash_rate_per_host_per_min = 0.0  # power-loss crashes per RAIDA per simulated minute
//! crash_at_steps = []           # server fs steps to crash at (raida_server::fs::Step::NAMES)
//! crash_at_step_fraction = 0.0  # chance a listed step, when reached, crashes the host
//! replay_fraction = 0.0         # chance per tell that the adversary replays it later
//! replay_delay_s_max = 45       # replays come 1..=this many seconds later (≤ 300; past
//!                               # tell_skew_s the stale file-header timestamp gets a 198)
//! timestamp_split_fraction = 0.0  # chance per tell of a re-send whose routing timestamp
//!                               # differs from its file-header one by up to ±2×tell_skew_s
//! duplicate_tell_fraction = 0.0 # chance per tell that it is sent twice
//! tell_before_upload_fraction = 0.0  # chance per email that tells precede uploads
//! stripe_loss_fraction = 0.0    # chance per stored stripe that it is deleted
//! stripe_corrupt_fraction = 0.0 # chance per stored stripe that its bytes change
//!
//! [server]                      # raida-server's settings: the same keys, ranges and
//!                               # defaults as a `raida serve --config` file (DECISIONS.md)
//! delete_on_read = "before_reply"    # or "after_reply"
//! ping_timeout_s = 900
//! ping_timeout_status = 17           # 17 or 245
//! tell_skew_s = 60
//! max_tells_per_reply = 255          # 1..=255
//! max_reply_bytes = 1048576
//! upload_fee = 1
//! inbox_fee_default = 0
//! inbox_dir_fsync = false
//! response_counter = "restart"       # or "continue"
//! # ... and every other key of raida_server::settings::Settings
//!
//! [expect]
//! violations = []               # invariants some seed may violate; any other fails the run
//! must_find = []                # subset of violations that some default seed MUST produce
//! must_hit = []                 # code probes (crate `probe`) some default seed MUST hit
//! ```
//!
//! Where things live: this module holds the scenario's types and their knobs (each key is
//! listed once, in its section's `Knobs::visit`, which gives its range and print order);
//! [`parse`] reads a file section by section through the `knobs` crate, so every error names
//! the file, line, column and key; [`validate`] holds the checks that tie keys together. The
//! `[faults]` keys belong to the fault families in [`crate::faults`].

mod parse;
#[cfg(test)]
mod tests;
mod validate;

use std::fmt;
use std::ops::Range;
use std::path::Path;

use knobs::{Knob, Knobs, Vary, Visitor};
use qmail_client::config::SendPolicy;
use qmail_client::limits::RETRIES_MAX_LIMIT;
use raida_server::settings::Settings;

use crate::checkers::{CheckContext, Invariant};
use crate::extensions::ExtensionsConfig;
use crate::faults::Faults;
use crate::limits::{
    ATTACHMENTS_MAX, CLIENT_HOSTS_MAX, DATA_STRIPES_DEFAULT, DATA_STRIPES_MAX,
    DATA_STRIPES_PLACEABLE_MAX, DEVICES_PER_MAILBOX_MAX, DEVICE_OUTAGE_S_LIMIT,
    DEVICE_SLOW_FACTOR_MAX, DURATION_S_MAX, EMAILS_MAX, HEAL_S_MAX, MAILBOXES_MAX, RAIDA_COUNT_MAX,
    RECIPIENTS_MAX, REVISIONS_MAX, RS_PARITY_STRIPES_MAX, RS_PARITY_STRIPES_MIN,
    STRIPE_SIZE_BYTES_MAX, TCP_CAPACITY_MAX, TCP_CAPACITY_MIN, TICK_MS_MAX, TICK_MS_MIN,
};
use crate::seed::fnv1a_64;

/// The default seed list when a scenario gives none: `0..8`.
pub const SEEDS_DEFAULT: Range<u64> = 0..8;

/// A scenario that could not be read or is not valid. Every variant names the file.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ScenarioError {
    /// The file could not be read.
    Io {
        /// The file.
        file: String,
        /// The OS error.
        message: String,
    },
    /// The text is not a valid scenario: file, line, column, dotted key, what is wrong.
    Invalid(knobs::ConfigError),
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScenarioError::Io { file, message } => write!(f, "{file}: cannot read: {message}"),
            ScenarioError::Invalid(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for ScenarioError {}

impl From<knobs::ConfigError> for ScenarioError {
    fn from(error: knobs::ConfigError) -> Self {
        ScenarioError::Invalid(error)
    }
}

/// How mailboxes are assigned their beacon RAIDA.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum BeaconPolicy {
    /// `FNV-1a-64(denom byte ‖ sn big-endian) mod raidas`: spread, stable across runs.
    Hash,
    /// Every mailbox uses this RAIDA.
    Fixed(u8),
    /// Mailbox number `i` (creation order) uses `list[i mod len]`.
    List(Vec<u8>),
}

impl BeaconPolicy {
    /// The beacon of the `mailbox_index`-th mailbox, whose id is (denom, sn).
    pub fn beacon_for(&self, mailbox_index: usize, denom: i8, sn: u32, raidas: u8) -> u8 {
        assert!(raidas >= 1);
        match self {
            BeaconPolicy::Hash => {
                let mut bytes = [0u8; 5];
                bytes[0] = denom.to_be_bytes()[0];
                bytes[1..].copy_from_slice(&sn.to_be_bytes());
                u8::try_from(fnv1a_64(&bytes) % u64::from(raidas)).unwrap_or(0)
            }
            BeaconPolicy::Fixed(raida) => *raida,
            BeaconPolicy::List(list) => {
                assert!(!list.is_empty());
                list.get(mailbox_index % list.len()).copied().unwrap_or(0)
            }
        }
    }
}

impl fmt::Display for BeaconPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BeaconPolicy::Hash => f.write_str("\"hash\""),
            BeaconPolicy::Fixed(raida) => write!(f, "\"fixed:{raida}\""),
            BeaconPolicy::List(list) => write!(f, "{list:?}"),
        }
    }
}

/// How devices poll their beacon.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PollMode {
    /// Long poll (72) only.
    Ping,
    /// Immediate check (73) only.
    Peek,
    /// Each device picks one by seed.
    Mixed,
}

knobs::choice!(PollMode {
    PollMode::Ping => "ping",
    PollMode::Peek => "peek",
    PollMode::Mixed => "mixed",
});

/// `[sim]`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SimConfig {
    /// turmoil tick, milliseconds (default 10).
    pub tick_ms: u32,
    /// Safety phase length, seconds (default 60).
    pub duration_s: u32,
    /// Healed-phase bound, seconds (default 120).
    pub heal_s: u32,
    /// turmoil pending-connect capacity (default 256).
    pub tcp_capacity: u32,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            tick_ms: 10,
            duration_s: 60,
            heal_s: 120,
            tcp_capacity: 256,
        }
    }
}

impl Knobs for SimConfig {
    fn visit(&mut self, v: &mut dyn Visitor) {
        let tick = i64::from(TICK_MS_MIN)..=i64::from(TICK_MS_MAX);
        v.knob(Knob::int("tick_ms", &mut self.tick_ms, tick));
        v.knob(Knob::int(
            "duration_s",
            &mut self.duration_s,
            1..=i64::from(DURATION_S_MAX),
        ));
        v.knob(Knob::int(
            "heal_s",
            &mut self.heal_s,
            1..=i64::from(HEAL_S_MAX),
        ));
        let capacity = i64::from(TCP_CAPACITY_MIN)..=i64::from(TCP_CAPACITY_MAX);
        v.knob(Knob::int("tcp_capacity", &mut self.tcp_capacity, capacity));
    }
}

/// `[topology]`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Topology {
    /// RAIDA servers (default 25).
    pub raidas: u8,
    /// Mailboxes (default 16).
    pub mailboxes: u32,
    /// Devices polling each mailbox (default 1).
    pub devices_per_mailbox: u16,
    /// Client hosts (default 2).
    pub client_hosts: u16,
    /// Beacon assignment (default hash; read by [`parse`], not a knob).
    pub beacon: BeaconPolicy,
}

impl Default for Topology {
    fn default() -> Self {
        Topology {
            raidas: RAIDA_COUNT_MAX,
            mailboxes: 16,
            devices_per_mailbox: 1,
            client_hosts: 2,
            beacon: BeaconPolicy::Hash,
        }
    }
}

impl Knobs for Topology {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.knob(Knob::int(
            "raidas",
            &mut self.raidas,
            1..=i64::from(RAIDA_COUNT_MAX),
        ));
        v.knob(Knob::int(
            "mailboxes",
            &mut self.mailboxes,
            1..=i64::from(MAILBOXES_MAX),
        ));
        let devices = 1..=i64::from(DEVICES_PER_MAILBOX_MAX);
        v.knob(Knob::int(
            "devices_per_mailbox",
            &mut self.devices_per_mailbox,
            devices,
        ));
        v.knob(Knob::int(
            "client_hosts",
            &mut self.client_hosts,
            1..=i64::from(CLIENT_HOSTS_MAX),
        ));
    }
}

/// `[workload]`.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct Workload {
    /// Emails sent (default 32).
    pub emails: u32,
    /// Recipients per email, lower bound (default 1).
    pub recipients_min: u8,
    /// Upper bound (default 3).
    pub recipients_max: u8,
    /// Share of recipients addressed CC (default 0.2).
    pub cc_fraction: f64,
    /// Share addressed BCC (default 0.1).
    pub bcc_fraction: f64,
    /// Attachments per email, upper bound (default 2).
    pub attachments_max: u8,
    /// Attachment size upper bound, bytes (default 16384).
    pub attachment_size_bytes_max: u32,
    /// Body size upper bound, bytes (default 4096).
    pub body_size_bytes_max: u32,
    /// Share of emails re-sent as a revision (default 0).
    pub revision_fraction: f64,
    /// Data stripes per file (default 7).
    pub data_stripes: u8,
    /// Sends start in `[0, send_window_s)` (default duration_s / 2, at least 1).
    pub send_window_s: u32,
    /// Poll mode (default ping).
    pub poll: PollMode,
    /// Each email draws its data stripes in `data_stripes..=data_stripes_max` (default
    /// `data_stripes`: every email alike).
    pub data_stripes_max: u8,
    /// Chance per email of Reed–Solomon parity (`parity_algo` 1) instead of XOR (default 0).
    pub reed_solomon_fraction: f64,
    /// A Reed–Solomon email draws 2..=`rs_parity_max` parity stripes (default 2).
    pub rs_parity_max: u8,
    /// An email that revises sends 2..=`revisions_max` revisions (default 2).
    pub revisions_max: u8,
    /// Chance per revised email that its revisions go out 0–1 s apart (default 0).
    pub revision_burst_fraction: f64,
    /// Chance per email of adding mailbox 0 as a To recipient (default 0).
    pub hot_mailbox_fraction: f64,
    /// Chance per device of one outage in the safety phase: no polls, no downloads (default 0).
    pub device_outage_fraction: f64,
    /// An outage lasts `device_outage_s_min..=device_outage_s_max` seconds (defaults 10, 40).
    pub device_outage_s_min: u32,
    /// See [`Workload::device_outage_s_min`].
    pub device_outage_s_max: u32,
    /// Chance per device of being slow: its pauses between polls multiplied (default 0).
    pub device_slow_fraction: f64,
    /// How many times a slow device's pause is (a ping device, which re-polls at once,
    /// pauses a seeded peek interval times this) (default 4).
    pub device_slow_factor: u32,
    /// The clients' `tell_retries_max`: retries of a tell after an I/O failure (default 0).
    pub tell_retries_max: u32,
    /// The clients' `send_policy` (default `all_stripes`).
    pub send_policy: SendPolicy,
}

impl Workload {
    /// The defaults for a safety phase of `duration_s` seconds.
    pub fn defaults(duration_s: u32) -> Workload {
        Workload {
            emails: 32,
            recipients_min: 1,
            recipients_max: 3,
            cc_fraction: 0.2,
            bcc_fraction: 0.1,
            attachments_max: 2,
            attachment_size_bytes_max: 16_384,
            body_size_bytes_max: 4_096,
            revision_fraction: 0.0,
            data_stripes: DATA_STRIPES_DEFAULT,
            send_window_s: (duration_s / 2).max(1),
            poll: PollMode::Ping,
            data_stripes_max: DATA_STRIPES_DEFAULT,
            reed_solomon_fraction: 0.0,
            rs_parity_max: RS_PARITY_STRIPES_MIN,
            revisions_max: 2,
            revision_burst_fraction: 0.0,
            hot_mailbox_fraction: 0.0,
            device_outage_fraction: 0.0,
            device_outage_s_min: 10,
            device_outage_s_max: 40,
            device_slow_fraction: 0.0,
            device_slow_factor: 4,
            tell_retries_max: 0,
            send_policy: SendPolicy::AllStripes,
        }
    }

    /// The shapes one seed runs with. Without swarm they are the configured ones (and the
    /// seed's stream is not touched); with `faults.swarm`, the knobs of the new shapes that
    /// vary are drawn from the workload subtree's `"swarm"` stream, as [`Faults::resolve`]
    /// draws the fault rates.
    pub fn resolve(&self, swarm: bool, tree: &crate::seed::SeedTree) -> Workload {
        let mut resolved = *self;
        if swarm {
            let mut swarm = crate::faults::Swarm {
                rng: tree.stream("swarm"),
            };
            resolved.visit(&mut swarm);
        }
        resolved
    }

    /// Largest file the data stripes can carry (one upload per stripe).
    pub fn file_size_bytes_max(&self) -> u32 {
        STRIPE_SIZE_BYTES_MAX.saturating_mul(u32::from(self.data_stripes))
    }
}

impl Knobs for Workload {
    fn visit(&mut self, v: &mut dyn Visitor) {
        v.knob(Knob::int(
            "emails",
            &mut self.emails,
            0..=i64::from(EMAILS_MAX),
        ));
        let recipients_min = i64::from(self.recipients_min);
        v.knob(Knob::int(
            "recipients_min",
            &mut self.recipients_min,
            1..=i64::from(RECIPIENTS_MAX),
        ));
        let recipients = recipients_min..=i64::from(RECIPIENTS_MAX);
        v.knob(Knob::int(
            "recipients_max",
            &mut self.recipients_max,
            recipients,
        ));
        v.knob(Knob::fraction("cc_fraction", &mut self.cc_fraction));
        v.knob(Knob::fraction("bcc_fraction", &mut self.bcc_fraction));
        v.knob(Knob::int(
            "attachments_max",
            &mut self.attachments_max,
            0..=i64::from(ATTACHMENTS_MAX),
        ));
        let file_size = 0..=i64::from(self.file_size_bytes_max());
        v.knob(Knob::int(
            "attachment_size_bytes_max",
            &mut self.attachment_size_bytes_max,
            file_size.clone(),
        ));
        v.knob(Knob::int(
            "body_size_bytes_max",
            &mut self.body_size_bytes_max,
            file_size,
        ));
        v.knob(Knob::fraction(
            "revision_fraction",
            &mut self.revision_fraction,
        ));
        v.knob(Knob::int(
            "data_stripes",
            &mut self.data_stripes,
            1..=i64::from(DATA_STRIPES_MAX),
        ));
        v.knob(Knob::int(
            "send_window_s",
            &mut self.send_window_s,
            1..=i64::from(DURATION_S_MAX),
        ));
        v.knob(Knob::choice("poll", &mut self.poll));
        self.visit_shapes(v);
    }
}

impl Workload {
    /// The shape knobs (issue 10), after the original ones so those print as before. Swarm
    /// varies the chances (off half the time) and the maxima (down to their minimum).
    fn visit_shapes(&mut self, v: &mut dyn Visitor) {
        let ppm = Vary::OnOff { per: 1_000_000 };
        let data_stripes = i64::from(self.data_stripes);
        v.knob(
            Knob::int(
                "data_stripes_max",
                &mut self.data_stripes_max,
                data_stripes..=i64::from(DATA_STRIPES_PLACEABLE_MAX),
            )
            .vary(Vary::From(data_stripes)),
        );
        v.knob(Knob::fraction("reed_solomon_fraction", &mut self.reed_solomon_fraction).vary(ppm));
        let parity_min = i64::from(RS_PARITY_STRIPES_MIN);
        v.knob(
            Knob::int(
                "rs_parity_max",
                &mut self.rs_parity_max,
                parity_min..=i64::from(RS_PARITY_STRIPES_MAX),
            )
            .vary(Vary::From(parity_min)),
        );
        v.knob(
            Knob::int(
                "revisions_max",
                &mut self.revisions_max,
                2..=i64::from(REVISIONS_MAX),
            )
            .vary(Vary::From(2)),
        );
        v.knob(
            Knob::fraction("revision_burst_fraction", &mut self.revision_burst_fraction).vary(ppm),
        );
        v.knob(Knob::fraction("hot_mailbox_fraction", &mut self.hot_mailbox_fraction).vary(ppm));
        v.knob(
            Knob::fraction("device_outage_fraction", &mut self.device_outage_fraction).vary(ppm),
        );
        let outage = 1..=i64::from(DEVICE_OUTAGE_S_LIMIT);
        v.knob(Knob::int(
            "device_outage_s_min",
            &mut self.device_outage_s_min,
            outage.clone(),
        ));
        v.knob(Knob::int(
            "device_outage_s_max",
            &mut self.device_outage_s_max,
            outage,
        ));
        v.knob(Knob::fraction("device_slow_fraction", &mut self.device_slow_fraction).vary(ppm));
        v.knob(Knob::int(
            "device_slow_factor",
            &mut self.device_slow_factor,
            1..=i64::from(DEVICE_SLOW_FACTOR_MAX),
        ));
        // The clients' send settings: never varied, so swarm draws nothing for them.
        v.knob(Knob::int(
            "tell_retries_max",
            &mut self.tell_retries_max,
            0..=i64::from(RETRIES_MAX_LIMIT),
        ));
        v.knob(Knob::choice("send_policy", &mut self.send_policy));
    }
}

/// `[expect]`.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Expectations {
    /// Invariants some seed may violate.
    pub violations: Vec<Invariant>,
    /// Invariants at least one default seed must violate (a subset of `violations`).
    pub must_find: Vec<Invariant>,
    /// Code probes (declared by the server's or the client's registry) at least one default
    /// seed must hit; judged by `raida-sim coverage` and the scenario suite.
    pub must_hit: Vec<String>,
}

impl Expectations {
    /// Whether a violation of `invariant` is allowed.
    pub fn allows(&self, invariant: Invariant) -> bool {
        self.violations.contains(&invariant)
    }
}

/// One parsed, validated scenario.
#[derive(Clone, PartialEq, Debug)]
pub struct Scenario {
    /// The file name it was read from (used in messages and the replay command).
    pub file_name: String,
    /// `scenario.name`.
    pub name: String,
    /// `scenario.description`.
    pub description: String,
    /// The default seeds (CI runs these).
    pub seeds: Vec<u64>,
    /// `[sim]`.
    pub sim: SimConfig,
    /// `[topology]`.
    pub topology: Topology,
    /// `[workload]`.
    pub workload: Workload,
    /// `[faults]`.
    pub faults: Faults,
    /// `[server]`: the RAIDA servers' settings (raida-server's knobs; unset keys keep the
    /// server's defaults).
    pub server: Settings,
    /// `[expect]`.
    pub expect: Expectations,
    /// `[extensions]`: which RAIDAs and clients run which protocol extensions (none by
    /// default).
    pub extensions: ExtensionsConfig,
}

impl Scenario {
    /// Parses and validates scenario text; `file_name` is used in error messages.
    pub fn from_toml_str(text: &str, file_name: &str) -> Result<Scenario, ScenarioError> {
        parse::scenario(&knobs::Source::new(file_name, text))
    }

    /// Reads and parses a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| ScenarioError::Io {
            file: file.clone(),
            message: error.to_string(),
        })?;
        Scenario::from_toml_str(&text, &file)
    }

    /// The safety phase in microseconds.
    pub fn safety_phase_us(&self) -> u64 {
        u64::from(self.sim.duration_s) * crate::limits::US_PER_S
    }

    /// What the checkers need to know of this scenario.
    pub fn check_context(&self) -> CheckContext {
        CheckContext {
            tell_skew_s: u32::try_from(self.server.tell_skew_s).unwrap_or(u32::MAX),
            heal_bound_us: u64::from(self.sim.heal_s) * crate::limits::US_PER_S,
            fs_call_delay_us_max: self.faults.interleave.fs_call_delay_us_max(),
        }
    }

    /// Every setting as `(dotted key, value)`, in a stable order, for the run summary.
    pub fn parameters(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        out.push(("scenario.name".into(), format!("{:?}", self.name)));
        push_section(&mut out, "sim", &mut self.sim.clone());
        push_section(&mut out, "topology", &mut self.topology.clone());
        out.push(("topology.beacon".into(), self.topology.beacon.to_string()));
        push_section(&mut out, "workload", &mut self.workload.clone());
        push_section(&mut out, "server", &mut self.server.clone());
        let names =
            |list: &[Invariant]| format!("{:?}", list.iter().map(|i| i.name()).collect::<Vec<_>>());
        out.push(("expect.violations".into(), names(&self.expect.violations)));
        out.push(("expect.must_find".into(), names(&self.expect.must_find)));
        // Only listed when set, so scenarios without extensions print as before.
        out.extend(self.extensions.parameters());
        out
    }
}

/// Appends a section's knobs as `(section.key, value)`.
fn push_section(out: &mut Vec<(String, String)>, name: &str, knobs: &mut dyn Knobs) {
    for (key, value) in knobs::print(knobs) {
        out.push((format!("{name}.{key}"), value));
    }
}
