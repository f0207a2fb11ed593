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
//!
//! [faults]                      # every fault defaults to off
//! swarm = false                 # true: the seed picks each rate in 0..=value, some off
//! clock_skew_s_max = 0          # per-host clock offset, ±seconds
//! clock_drift_ppm_max = 0       # per-host clock drift, ±ppm
//! clock_step_fraction = 0.0     # chance per host of one clock step in the safety phase
//! packet_loss = 0.0             # turmoil link fail_rate (chance per send the link breaks)
//! latency_ms_min = 1            # per-link latency bounds, milliseconds
//! latency_ms_max = 5
//! partition_fraction = 0.0      # chance per simulated second of a two-way partition
//! oneway_partition_fraction = 0.0  # same, one-way
//! crash_rate_per_host_per_min = 0.0  # power-loss crashes per RAIDA per simulated minute
//! crash_at_steps = []           # server fs steps to crash at (KNOWN_CRASH_STEPS)
//! crash_at_step_fraction = 0.0  # chance a listed step, when reached, crashes the host
//! replay_fraction = 0.0         # chance per tell that the adversary replays it later
//! duplicate_tell_fraction = 0.0 # chance per tell that it is sent twice
//! tell_before_upload_fraction = 0.0  # chance per email that tells precede uploads
//! stripe_loss_fraction = 0.0    # chance per stored stripe that it is deleted
//! stripe_corrupt_fraction = 0.0 # chance per stored stripe that its bytes change
//!
//! [server]                      # unset keys keep the server's defaults (DECISIONS.md)
//! delete_on_read = "before_reply"    # or "after_reply"
//! ping_timeout_s = 900
//! ping_timeout_status = 17           # 17 or 245
//! tell_skew_s = 60
//! max_tells_per_reply = 255          # 1..=255
//! max_reply_bytes = 1048576
//! upload_fee = 1
//! inbox_fee = 0
//! inbox_dir_fsync = true
//! response_counter = "restart"       # or "continue"
//!
//! [expect]
//! violations = []               # invariants some seed may violate; any other fails the run
//! must_find = []                # subset of violations that some default seed MUST produce
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::Path;

use rand::Rng;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::extensions::{ExtensionName, ExtensionsConfig, Which};
use toml::Spanned;

use crate::checkers::Invariant;
use crate::limits::{
    ATTACHMENTS_MAX, CLIENT_HOSTS_MAX, CLOCK_DRIFT_PPM_MAX, CLOCK_SKEW_S_MAX,
    CRASH_RATE_PER_HOST_PER_MIN_MAX, DATA_STRIPES_DEFAULT, DATA_STRIPES_MAX,
    DEVICES_PER_MAILBOX_MAX, DURATION_S_MAX, EMAILS_MAX, HEAL_S_MAX, LATENCY_MS_MAX, MAILBOXES_MAX,
    MAX_REPLY_BYTES_MAX, MAX_REPLY_BYTES_MIN, MAX_TELLS_PER_REPLY_MAX, PING_TIMEOUT_STATUSES,
    PING_TIMEOUT_S_MAX, RAIDA_COUNT_MAX, RECIPIENTS_MAX, SEEDS_COUNT_MAX, STRIPE_SIZE_BYTES_MAX,
    TCP_CAPACITY_MAX, TCP_CAPACITY_MIN, TELL_SKEW_S_DEFAULT, TELL_SKEW_S_MAX, TICK_MS_MAX,
    TICK_MS_MIN,
};
use crate::seed::{fnv1a_64, SeedTree};

/// The server's file-system steps a crash can be pinned to. The world checks that each
/// name is one its server hooks report; scenario files may only use these.
pub const KNOWN_CRASH_STEPS: &[&str] = &[
    "TellTempCreated",
    "TellTempWritten",
    "TellTempSynced",
    "TellRenamed",
    "TellDirSynced",
    "InboxListed",
    "TellRead",
    "TellDeleted",
    "StripeTempSynced",
    "StripeRenamed",
];

/// The default seed list when a scenario gives none: `0..8`.
pub const SEEDS_DEFAULT: Range<u64> = 0..8;

/// A parse or validation error. Every variant names the file.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ScenarioError {
    /// The file could not be read.
    Io {
        /// The file.
        file: String,
        /// The OS error.
        message: String,
    },
    /// The text is not a valid scenario.
    Invalid {
        /// The file.
        file: String,
        /// 1-based line of the offending key or value.
        line: usize,
        /// 1-based column.
        column: usize,
        /// Dotted key, e.g. `faults.packet_loss`.
        key: String,
        /// What is wrong.
        message: String,
    },
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScenarioError::Io { file, message } => write!(f, "{file}: cannot read: {message}"),
            ScenarioError::Invalid {
                file,
                line,
                column,
                key,
                message,
            } => write!(f, "{file}:{line}:{column}: key `{key}`: {message}"),
        }
    }
}

impl std::error::Error for ScenarioError {}

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
#[derive(Clone, Copy, PartialEq, Eq, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PollMode {
    /// Long poll (72) only.
    Ping,
    /// Immediate check (73) only.
    Peek,
    /// Each device picks one by seed.
    Mixed,
}

impl PollMode {
    /// Stable name.
    pub const fn name(self) -> &'static str {
        match self {
            PollMode::Ping => "ping",
            PollMode::Peek => "peek",
            PollMode::Mixed => "mixed",
        }
    }
}

/// Server setting `delete_on_read` (DECISIONS.md).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeleteOnRead {
    /// Remove files once read into the reply, before sending it (server default).
    BeforeReply,
    /// Remove them after the reply is written.
    AfterReply,
}

impl DeleteOnRead {
    /// Stable name.
    pub const fn name(self) -> &'static str {
        match self {
            DeleteOnRead::BeforeReply => "before_reply",
            DeleteOnRead::AfterReply => "after_reply",
        }
    }
}

/// Server setting `response_counter` (DECISIONS.md).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseCounter {
    /// The AES-CTR counter restarts at block 0 for the response (server default).
    Restart,
    /// It continues after the request's last block.
    Continue,
}

impl ResponseCounter {
    /// Stable name.
    pub const fn name(self) -> &'static str {
        match self {
            ResponseCounter::Restart => "restart",
            ResponseCounter::Continue => "continue",
        }
    }
}

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
    /// Beacon assignment (default hash).
    pub beacon: BeaconPolicy,
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
}

/// `[faults]` as configured (maxima when `swarm` is on).
#[derive(Clone, PartialEq, Debug)]
pub struct FaultsConfig {
    /// Let the seed choose each rate (default false).
    pub swarm: bool,
    /// Per-host clock offset bound, seconds.
    pub clock_skew_s_max: u32,
    /// Per-host clock drift bound, ppm.
    pub clock_drift_ppm_max: u32,
    /// Chance per host of one clock step.
    pub clock_step_fraction: f64,
    /// turmoil link fail_rate.
    pub packet_loss: f64,
    /// Link latency lower bound, ms (default 1).
    pub latency_ms_min: u32,
    /// Link latency upper bound, ms (default 5).
    pub latency_ms_max: u32,
    /// Chance per simulated second of a two-way partition.
    pub partition_fraction: f64,
    /// Chance per simulated second of a one-way partition.
    pub oneway_partition_fraction: f64,
    /// Crashes per RAIDA per simulated minute.
    pub crash_rate_per_host_per_min: f64,
    /// Server fs steps to crash at (names from [`KNOWN_CRASH_STEPS`]).
    pub crash_at_steps: Vec<String>,
    /// Chance a listed step crashes its host when reached.
    pub crash_at_step_fraction: f64,
    /// Chance per tell of a later replay by the adversary.
    pub replay_fraction: f64,
    /// Chance per tell of a duplicate send.
    pub duplicate_tell_fraction: f64,
    /// Chance per email of telling before uploading.
    pub tell_before_upload_fraction: f64,
    /// Chance per stored stripe of deletion.
    pub stripe_loss_fraction: f64,
    /// Chance per stored stripe of corruption.
    pub stripe_corrupt_fraction: f64,
}

impl Default for FaultsConfig {
    fn default() -> Self {
        FaultsConfig {
            swarm: false,
            clock_skew_s_max: 0,
            clock_drift_ppm_max: 0,
            clock_step_fraction: 0.0,
            packet_loss: 0.0,
            latency_ms_min: 1,
            latency_ms_max: 5,
            partition_fraction: 0.0,
            oneway_partition_fraction: 0.0,
            crash_rate_per_host_per_min: 0.0,
            crash_at_steps: Vec::new(),
            crash_at_step_fraction: 0.0,
            replay_fraction: 0.0,
            duplicate_tell_fraction: 0.0,
            tell_before_upload_fraction: 0.0,
            stripe_loss_fraction: 0.0,
            stripe_corrupt_fraction: 0.0,
        }
    }
}

/// `[server]`: overrides of the server's Settings; `None` keeps the server default.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct ServerSettings {
    /// `delete_on_read` (server default before_reply).
    pub delete_on_read: Option<DeleteOnRead>,
    /// `ping_timeout_s` (default 900).
    pub ping_timeout_s: Option<u32>,
    /// `ping_timeout_status` (default 17; 17 or 245).
    pub ping_timeout_status: Option<u8>,
    /// `tell_skew_s` (default 60).
    pub tell_skew_s: Option<u32>,
    /// `max_tells_per_reply` (default 255).
    pub max_tells_per_reply: Option<u16>,
    /// `max_reply_bytes` (default 1 MiB).
    pub max_reply_bytes: Option<u32>,
    /// `upload_fee` (default 1).
    pub upload_fee: Option<u64>,
    /// Per-mailbox `inbox_fee` (default 0).
    pub inbox_fee: Option<u64>,
    /// Whether publishing a tell fsyncs the inbox directory after the rename.
    pub inbox_dir_fsync: Option<bool>,
    /// `response_counter` (default restart).
    pub response_counter: Option<ResponseCounter>,
}

impl ServerSettings {
    /// The timestamp window the server will use.
    pub fn tell_skew_s_or_default(&self) -> u32 {
        self.tell_skew_s.unwrap_or(TELL_SKEW_S_DEFAULT)
    }
}

/// `[expect]`.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Expectations {
    /// Invariants some seed may violate.
    pub violations: Vec<Invariant>,
    /// Invariants at least one default seed must violate (a subset of `violations`).
    pub must_find: Vec<Invariant>,
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
    pub faults: FaultsConfig,
    /// `[server]`.
    pub server: ServerSettings,
    /// `[expect]`.
    pub expect: Expectations,
    /// `[extensions]`: which RAIDAs and clients run which protocol extensions (none by
    /// default).
    pub extensions: ExtensionsConfig,
}

impl Scenario {
    /// Parses and validates scenario text; `file_name` is used in error messages.
    pub fn from_toml_str(text: &str, file_name: &str) -> Result<Scenario, ScenarioError> {
        let doc = Doc {
            file: file_name,
            text,
        };
        let raw: RawFile = toml::from_str(text).map_err(|error| doc.toml_error(&error))?;
        raw.validate(&doc)
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

    /// Every resolved setting as `key = value` lines (faults as configured; the seed's
    /// choices are [`ResolvedFaults`]).
    pub fn parameters(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut put = |key: &str, value: String| out.push((key.to_string(), value));
        put("scenario.name", format!("{:?}", self.name));
        put("sim.tick_ms", self.sim.tick_ms.to_string());
        put("sim.duration_s", self.sim.duration_s.to_string());
        put("sim.heal_s", self.sim.heal_s.to_string());
        put("sim.tcp_capacity", self.sim.tcp_capacity.to_string());
        let t = &self.topology;
        put("topology.raidas", t.raidas.to_string());
        put("topology.mailboxes", t.mailboxes.to_string());
        put(
            "topology.devices_per_mailbox",
            t.devices_per_mailbox.to_string(),
        );
        put("topology.client_hosts", t.client_hosts.to_string());
        put("topology.beacon", t.beacon.to_string());
        let w = &self.workload;
        put("workload.emails", w.emails.to_string());
        put("workload.recipients_min", w.recipients_min.to_string());
        put("workload.recipients_max", w.recipients_max.to_string());
        put("workload.cc_fraction", w.cc_fraction.to_string());
        put("workload.bcc_fraction", w.bcc_fraction.to_string());
        put("workload.attachments_max", w.attachments_max.to_string());
        put(
            "workload.attachment_size_bytes_max",
            w.attachment_size_bytes_max.to_string(),
        );
        put(
            "workload.body_size_bytes_max",
            w.body_size_bytes_max.to_string(),
        );
        put(
            "workload.revision_fraction",
            w.revision_fraction.to_string(),
        );
        put("workload.data_stripes", w.data_stripes.to_string());
        put("workload.send_window_s", w.send_window_s.to_string());
        put("workload.poll", format!("{:?}", w.poll.name()));
        let s = &self.server;
        let or_default = |value: Option<String>| value.unwrap_or_else(|| "default".to_string());
        put(
            "server.delete_on_read",
            or_default(s.delete_on_read.map(|v| format!("{:?}", v.name()))),
        );
        put(
            "server.ping_timeout_s",
            or_default(s.ping_timeout_s.map(|v| v.to_string())),
        );
        put(
            "server.ping_timeout_status",
            or_default(s.ping_timeout_status.map(|v| v.to_string())),
        );
        put("server.tell_skew_s", s.tell_skew_s_or_default().to_string());
        put(
            "server.max_tells_per_reply",
            or_default(s.max_tells_per_reply.map(|v| v.to_string())),
        );
        put(
            "server.max_reply_bytes",
            or_default(s.max_reply_bytes.map(|v| v.to_string())),
        );
        put(
            "server.upload_fee",
            or_default(s.upload_fee.map(|v| v.to_string())),
        );
        put(
            "server.inbox_fee",
            or_default(s.inbox_fee.map(|v| v.to_string())),
        );
        put(
            "server.inbox_dir_fsync",
            or_default(s.inbox_dir_fsync.map(|v| v.to_string())),
        );
        put(
            "server.response_counter",
            or_default(s.response_counter.map(|v| format!("{:?}", v.name()))),
        );
        let names =
            |list: &[Invariant]| format!("{:?}", list.iter().map(|i| i.name()).collect::<Vec<_>>());
        put("expect.violations", names(&self.expect.violations));
        put("expect.must_find", names(&self.expect.must_find));
        // Only listed when set, so scenarios without extensions print as before.
        out.extend(self.extensions.parameters());
        out
    }
}

/// The fault rates one seed runs with.
#[derive(Clone, PartialEq, Debug)]
pub struct ResolvedFaults {
    /// Whether the seed chose these (swarm) or they are the configured ones.
    pub swarm: bool,
    /// Per-host clock offset bound, seconds.
    pub clock_skew_s_max: u32,
    /// Per-host drift bound, ppm.
    pub clock_drift_ppm_max: u32,
    /// Chance per host of one clock step.
    pub clock_step_fraction: f64,
    /// turmoil link fail_rate.
    pub packet_loss: f64,
    /// Link latency lower bound, ms.
    pub latency_ms_min: u32,
    /// Link latency upper bound, ms.
    pub latency_ms_max: u32,
    /// Chance per simulated second of a two-way partition.
    pub partition_fraction: f64,
    /// Chance per simulated second of a one-way partition.
    pub oneway_partition_fraction: f64,
    /// Crashes per RAIDA per simulated minute.
    pub crash_rate_per_host_per_min: f64,
    /// Steps this seed crashes at.
    pub crash_at_steps: Vec<String>,
    /// Chance a listed step crashes its host.
    pub crash_at_step_fraction: f64,
    /// Chance per tell of a replay.
    pub replay_fraction: f64,
    /// Chance per tell of a duplicate.
    pub duplicate_tell_fraction: f64,
    /// Chance per email of telling before uploading.
    pub tell_before_upload_fraction: f64,
    /// Chance per stripe of deletion.
    pub stripe_loss_fraction: f64,
    /// Chance per stripe of corruption.
    pub stripe_corrupt_fraction: f64,
}

/// Swarm resolution of one fraction: off half the time, else uniform in 0..=max, in whole
/// parts per million (so the summary prints short exact numbers).
fn swarm_fraction<R: Rng + ?Sized>(rng: &mut R, max: f64) -> f64 {
    let off = rng.random_bool(0.5);
    let max_ppm = (max * 1_000_000.0).floor() as u64;
    let value_ppm = rng.random_range(0..=max_ppm);
    if off {
        0.0
    } else {
        value_ppm as f64 / 1_000_000.0
    }
}

fn swarm_u32<R: Rng + ?Sized>(rng: &mut R, max: u32) -> u32 {
    let off = rng.random_bool(0.5);
    let value = rng.random_range(0..=max);
    if off {
        0
    } else {
        value
    }
}

fn swarm_rate<R: Rng + ?Sized>(rng: &mut R, max: f64) -> f64 {
    // Rates go up to 60 per minute; resolve in thousandths.
    let off = rng.random_bool(0.5);
    let max_milli = (max * 1_000.0).floor() as u64;
    let value_milli = rng.random_range(0..=max_milli);
    if off {
        0.0
    } else {
        value_milli as f64 / 1_000.0
    }
}

impl ResolvedFaults {
    /// The rates one seed runs with. Without swarm they are the configured ones (and `rng`
    /// is not touched); with swarm each fault is off with probability 1/2 and otherwise
    /// uniform between 0 and its configured value (latency: between min and max; crash
    /// steps: each listed step kept with probability 1/2), TigerBeetle-VOPR style.
    pub fn resolve<R: Rng + ?Sized>(config: &FaultsConfig, rng: &mut R) -> ResolvedFaults {
        if !config.swarm {
            return ResolvedFaults {
                swarm: false,
                clock_skew_s_max: config.clock_skew_s_max,
                clock_drift_ppm_max: config.clock_drift_ppm_max,
                clock_step_fraction: config.clock_step_fraction,
                packet_loss: config.packet_loss,
                latency_ms_min: config.latency_ms_min,
                latency_ms_max: config.latency_ms_max,
                partition_fraction: config.partition_fraction,
                oneway_partition_fraction: config.oneway_partition_fraction,
                crash_rate_per_host_per_min: config.crash_rate_per_host_per_min,
                crash_at_steps: config.crash_at_steps.clone(),
                crash_at_step_fraction: config.crash_at_step_fraction,
                replay_fraction: config.replay_fraction,
                duplicate_tell_fraction: config.duplicate_tell_fraction,
                tell_before_upload_fraction: config.tell_before_upload_fraction,
                stripe_loss_fraction: config.stripe_loss_fraction,
                stripe_corrupt_fraction: config.stripe_corrupt_fraction,
            };
        }
        let clock_skew_s_max = swarm_u32(rng, config.clock_skew_s_max);
        let clock_drift_ppm_max = swarm_u32(rng, config.clock_drift_ppm_max);
        let clock_step_fraction = swarm_fraction(rng, config.clock_step_fraction);
        let packet_loss = swarm_fraction(rng, config.packet_loss);
        let latency_ms_max = rng.random_range(config.latency_ms_min..=config.latency_ms_max);
        let partition_fraction = swarm_fraction(rng, config.partition_fraction);
        let oneway_partition_fraction = swarm_fraction(rng, config.oneway_partition_fraction);
        let crash_rate_per_host_per_min = swarm_rate(rng, config.crash_rate_per_host_per_min);
        let crash_at_steps: Vec<String> = config
            .crash_at_steps
            .iter()
            .filter(|_| rng.random_bool(0.5))
            .cloned()
            .collect();
        let step_fraction = swarm_fraction(rng, config.crash_at_step_fraction);
        let crash_at_step_fraction = if crash_at_steps.is_empty() {
            0.0
        } else {
            step_fraction
        };
        ResolvedFaults {
            swarm: true,
            clock_skew_s_max,
            clock_drift_ppm_max,
            clock_step_fraction,
            packet_loss,
            latency_ms_min: config.latency_ms_min,
            latency_ms_max,
            partition_fraction,
            oneway_partition_fraction,
            crash_rate_per_host_per_min,
            crash_at_steps,
            crash_at_step_fraction,
            replay_fraction: swarm_fraction(rng, config.replay_fraction),
            duplicate_tell_fraction: swarm_fraction(rng, config.duplicate_tell_fraction),
            tell_before_upload_fraction: swarm_fraction(rng, config.tell_before_upload_fraction),
            stripe_loss_fraction: swarm_fraction(rng, config.stripe_loss_fraction),
            stripe_corrupt_fraction: swarm_fraction(rng, config.stripe_corrupt_fraction),
        }
    }

    /// The rates of `seed`, drawn from its `"faults"` stream.
    pub fn for_seed(config: &FaultsConfig, seed: &SeedTree) -> ResolvedFaults {
        ResolvedFaults::resolve(config, &mut seed.stream("faults"))
    }

    /// True when no fault can fire (latency aside).
    pub fn is_quiet(&self) -> bool {
        self.clock_skew_s_max == 0
            && self.clock_drift_ppm_max == 0
            && self.clock_step_fraction == 0.0
            && self.packet_loss == 0.0
            && self.partition_fraction == 0.0
            && self.oneway_partition_fraction == 0.0
            && self.crash_rate_per_host_per_min == 0.0
            && self.crash_at_step_fraction == 0.0
            && self.replay_fraction == 0.0
            && self.duplicate_tell_fraction == 0.0
            && self.tell_before_upload_fraction == 0.0
            && self.stripe_loss_fraction == 0.0
            && self.stripe_corrupt_fraction == 0.0
    }
}

impl ResolvedFaults {
    /// Every rate as `(key, value)`, in the order the summary prints them.
    pub fn parameters(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut put = |key: &str, value: String| out.push((key.to_string(), value));
        put("swarm", self.swarm.to_string());
        put("clock_skew_s_max", self.clock_skew_s_max.to_string());
        put("clock_drift_ppm_max", self.clock_drift_ppm_max.to_string());
        put("clock_step_fraction", self.clock_step_fraction.to_string());
        put("packet_loss", self.packet_loss.to_string());
        put("latency_ms_min", self.latency_ms_min.to_string());
        put("latency_ms_max", self.latency_ms_max.to_string());
        put("partition_fraction", self.partition_fraction.to_string());
        put(
            "oneway_partition_fraction",
            self.oneway_partition_fraction.to_string(),
        );
        put(
            "crash_rate_per_host_per_min",
            self.crash_rate_per_host_per_min.to_string(),
        );
        put("crash_at_steps", format!("{:?}", self.crash_at_steps));
        put(
            "crash_at_step_fraction",
            self.crash_at_step_fraction.to_string(),
        );
        put("replay_fraction", self.replay_fraction.to_string());
        put(
            "duplicate_tell_fraction",
            self.duplicate_tell_fraction.to_string(),
        );
        put(
            "tell_before_upload_fraction",
            self.tell_before_upload_fraction.to_string(),
        );
        put(
            "stripe_loss_fraction",
            self.stripe_loss_fraction.to_string(),
        );
        put(
            "stripe_corrupt_fraction",
            self.stripe_corrupt_fraction.to_string(),
        );
        out
    }
}

impl fmt::Display for ResolvedFaults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (key, value) in self.parameters() {
            writeln!(f, "{key} = {value}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Parsing: raw, spanned structs first, then validation that can point at each value.

type Field<T> = Option<Spanned<T>>;

/// A number that may be written as an integer or a float (`packet_loss = 0` is fine).
#[derive(Clone, Copy, Debug)]
struct Number(f64);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumberVisitor;
        impl Visitor<'_> for NumberVisitor {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Number, E> {
                Ok(Number(value as f64))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Number, E> {
                Ok(Number(value as f64))
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Number, E> {
                Ok(Number(value))
            }
        }
        deserializer.deserialize_any(NumberVisitor)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    scenario: Spanned<RawMeta>,
    #[serde(default)]
    sim: Field<RawSim>,
    #[serde(default)]
    topology: Field<RawTopology>,
    #[serde(default)]
    workload: Field<RawWorkload>,
    #[serde(default)]
    faults: Field<RawFaults>,
    #[serde(default)]
    server: Field<RawServer>,
    #[serde(default)]
    expect: Field<RawExpect>,
    #[serde(default)]
    extensions: Field<RawExtensions>,
}

/// `[extensions]`: name → `"all"` or a list of indexes, for each side.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawExtensions {
    #[serde(default)]
    raidas: Field<BTreeMap<String, RawWhich>>,
    #[serde(default)]
    clients: Field<BTreeMap<String, RawWhich>>,
}

#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum RawWhich {
    Word(String),
    Ids(Vec<u32>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMeta {
    name: Spanned<String>,
    #[serde(default)]
    description: Field<String>,
    #[serde(default)]
    seeds: Field<toml::Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSim {
    #[serde(default)]
    tick_ms: Field<u32>,
    #[serde(default)]
    duration_s: Field<u32>,
    #[serde(default)]
    heal_s: Field<u32>,
    #[serde(default)]
    tcp_capacity: Field<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTopology {
    #[serde(default)]
    raidas: Field<u8>,
    #[serde(default)]
    mailboxes: Field<u32>,
    #[serde(default)]
    devices_per_mailbox: Field<u16>,
    #[serde(default)]
    client_hosts: Field<u16>,
    #[serde(default)]
    beacon: Field<toml::Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    #[serde(default)]
    emails: Field<u32>,
    #[serde(default)]
    recipients_min: Field<u8>,
    #[serde(default)]
    recipients_max: Field<u8>,
    #[serde(default)]
    cc_fraction: Field<Number>,
    #[serde(default)]
    bcc_fraction: Field<Number>,
    #[serde(default)]
    attachments_max: Field<u8>,
    #[serde(default)]
    attachment_size_bytes_max: Field<u32>,
    #[serde(default)]
    body_size_bytes_max: Field<u32>,
    #[serde(default)]
    revision_fraction: Field<Number>,
    #[serde(default)]
    data_stripes: Field<u8>,
    #[serde(default)]
    send_window_s: Field<u32>,
    #[serde(default)]
    poll: Field<PollMode>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFaults {
    #[serde(default)]
    swarm: Field<bool>,
    #[serde(default)]
    clock_skew_s_max: Field<u32>,
    #[serde(default)]
    clock_drift_ppm_max: Field<u32>,
    #[serde(default)]
    clock_step_fraction: Field<Number>,
    #[serde(default)]
    packet_loss: Field<Number>,
    #[serde(default)]
    latency_ms_min: Field<u32>,
    #[serde(default)]
    latency_ms_max: Field<u32>,
    #[serde(default)]
    partition_fraction: Field<Number>,
    #[serde(default)]
    oneway_partition_fraction: Field<Number>,
    #[serde(default)]
    crash_rate_per_host_per_min: Field<Number>,
    #[serde(default)]
    crash_at_steps: Field<Vec<Spanned<String>>>,
    #[serde(default)]
    crash_at_step_fraction: Field<Number>,
    #[serde(default)]
    replay_fraction: Field<Number>,
    #[serde(default)]
    duplicate_tell_fraction: Field<Number>,
    #[serde(default)]
    tell_before_upload_fraction: Field<Number>,
    #[serde(default)]
    stripe_loss_fraction: Field<Number>,
    #[serde(default)]
    stripe_corrupt_fraction: Field<Number>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    #[serde(default)]
    delete_on_read: Field<DeleteOnRead>,
    #[serde(default)]
    ping_timeout_s: Field<u32>,
    #[serde(default)]
    ping_timeout_status: Field<u8>,
    #[serde(default)]
    tell_skew_s: Field<u32>,
    #[serde(default)]
    max_tells_per_reply: Field<u16>,
    #[serde(default)]
    max_reply_bytes: Field<u32>,
    #[serde(default)]
    upload_fee: Field<u64>,
    #[serde(default)]
    inbox_fee: Field<u64>,
    #[serde(default)]
    inbox_dir_fsync: Field<bool>,
    #[serde(default)]
    response_counter: Field<ResponseCounter>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    #[serde(default)]
    violations: Field<Vec<Spanned<String>>>,
    #[serde(default)]
    must_find: Field<Vec<Spanned<String>>>,
}

/// The text being parsed, for turning byte spans into lines and keys.
struct Doc<'a> {
    file: &'a str,
    text: &'a str,
}

/// Strips a `#` comment that is not inside a basic or literal string.
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    for (index, c) in line.char_indices() {
        match (quote, c) {
            (None, '#') => return line.get(..index).unwrap_or(line),
            (None, '"' | '\'') => quote = Some(c),
            (Some(open), c) if c == open => quote = None,
            _ => {}
        }
    }
    line
}

/// The table header a trimmed line declares (`[a.b]` or `[[a]]`), if it is one.
fn header_of(line: &str) -> Option<String> {
    let inner = line.strip_prefix('[')?.trim_end().strip_suffix(']')?;
    let inner = inner.trim_start_matches('[').trim_end_matches(']');
    Some(inner.trim().to_string())
}

/// The key a `key = value` line assigns, if it is one.
fn key_of(line: &str) -> Option<String> {
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"').trim_matches('\'');
    (!key.is_empty() && !key.contains(char::is_whitespace)).then(|| key.to_string())
}

impl Doc<'_> {
    /// 1-based (line, column) of a byte offset.
    fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |index| index + 1);
        let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
        (line, column)
    }

    /// The dotted key path in effect at a byte offset: the nearest `key =` on or above that
    /// line within its table, prefixed by the table header. `with_key = false` gives the
    /// table alone.
    fn key_path_at(&self, offset: usize, with_key: bool) -> String {
        let offset = offset.min(self.text.len());
        let line_end = self
            .text
            .get(offset..)
            .and_then(|rest| rest.find('\n'))
            .map_or(self.text.len(), |index| offset + index);
        let upto = self.text.get(..line_end).unwrap_or(self.text);
        let mut key: Option<String> = None;
        for line in upto.lines().rev() {
            let line = strip_comment(line).trim();
            if let Some(header) = header_of(line) {
                return match key {
                    Some(key) if with_key => format!("{header}.{key}"),
                    _ => header,
                };
            }
            if with_key && key.is_none() {
                key = key_of(line);
            }
        }
        key.unwrap_or_default()
    }

    fn error(&self, span: Option<Range<usize>>, key: &str, message: String) -> ScenarioError {
        let (line, column) = span.map_or((1, 1), |span| self.position(span.start));
        ScenarioError::Invalid {
            file: self.file.to_string(),
            line,
            column,
            key: key.to_string(),
            message,
        }
    }

    /// Turns a toml/serde error into one naming the file, line and key.
    fn toml_error(&self, error: &toml::de::Error) -> ScenarioError {
        let message = error.message().trim().to_string();
        let span = error.span();
        let offset = span.as_ref().map_or(0, |span| span.start);
        let backticked = message
            .split('`')
            .nth(1)
            .map(str::to_string)
            .unwrap_or_default();
        // A missing field of the root table comes with an empty span at 0; of a section,
        // with the section's span starting at its header.
        let root = span.as_ref().is_none_or(|span| span.is_empty());
        let key = if message.starts_with("missing field") {
            let table = if root {
                String::new()
            } else {
                self.key_path_at(offset, false)
            };
            if table.is_empty() {
                backticked
            } else {
                format!("{table}.{backticked}")
            }
        } else if message.starts_with("unknown field") && span.is_none() {
            backticked
        } else {
            self.key_path_at(offset, true)
        };
        self.error(span, &key, message)
    }
}

/// Validation helpers: one per value shape, each naming the key and pointing at the value
/// (or at its section when the value is absent and a cross-check fails).
struct Section<'d, 'a> {
    doc: &'d Doc<'a>,
    name: &'static str,
    span: Option<Range<usize>>,
}

impl Section<'_, '_> {
    fn key(&self, field: &str) -> String {
        format!("{}.{field}", self.name)
    }

    fn span_of<T>(&self, field: &Field<T>) -> Option<Range<usize>> {
        field
            .as_ref()
            .map(Spanned::span)
            .or_else(|| self.span.clone())
    }

    fn fail<T, V>(
        &self,
        field: &str,
        value: &Field<V>,
        message: String,
    ) -> Result<T, ScenarioError> {
        Err(self
            .doc
            .error(self.span_of(value), &self.key(field), message))
    }

    fn int<T>(
        &self,
        field: &str,
        value: &Field<T>,
        default: T,
        min: T,
        max: T,
    ) -> Result<T, ScenarioError>
    where
        T: Copy + PartialOrd + fmt::Display,
    {
        let got = value.as_ref().map_or(default, |v| *v.get_ref());
        if got < min || got > max {
            return self.fail(field, value, format!("{got} is out of range {min}..={max}"));
        }
        Ok(got)
    }

    fn fraction(
        &self,
        field: &str,
        value: &Field<Number>,
        default: f64,
    ) -> Result<f64, ScenarioError> {
        self.real(field, value, default, 1.0)
    }

    fn real(
        &self,
        field: &str,
        value: &Field<Number>,
        default: f64,
        max: f64,
    ) -> Result<f64, ScenarioError> {
        let got = value.as_ref().map_or(default, |v| v.get_ref().0);
        if !(got.is_finite() && (0.0..=max).contains(&got)) {
            return self.fail(field, value, format!("{got} is out of range 0..={max}"));
        }
        Ok(got)
    }

    fn get<T: Clone>(value: &Field<T>, default: T) -> T {
        value.as_ref().map_or(default, |v| v.get_ref().clone())
    }

    fn names(
        &self,
        field: &str,
        value: &Field<Vec<Spanned<String>>>,
    ) -> Result<Vec<Invariant>, ScenarioError> {
        let Some(list) = value else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for name in list.get_ref() {
            let Some(invariant) = Invariant::from_name(name.get_ref()) else {
                let known: Vec<&str> = Invariant::ALL.iter().map(|i| i.name()).collect();
                return Err(self.doc.error(
                    Some(name.span()),
                    &self.key(field),
                    format!(
                        "unknown invariant {:?}; known: {}",
                        name.get_ref(),
                        known.join(", ")
                    ),
                ));
            };
            if !out.contains(&invariant) {
                out.push(invariant);
            }
        }
        Ok(out)
    }
}

impl RawFile {
    fn section<'d, 'a, T>(doc: &'d Doc<'a>, name: &'static str, raw: &Field<T>) -> Section<'d, 'a> {
        Section {
            doc,
            name,
            span: raw.as_ref().map(Spanned::span),
        }
    }

    fn validate(self, doc: &Doc<'_>) -> Result<Scenario, ScenarioError> {
        let meta_span = Some(self.scenario.span());
        let meta = self.scenario.into_inner();
        let meta_section = Section {
            doc,
            name: "scenario",
            span: meta_span,
        };
        let name = meta.name.get_ref().clone();
        let name_ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return meta_section.fail(
                "name",
                &Some(meta.name.clone()),
                format!("{name:?} must be 1..=64 letters, digits, '-' or '_'"),
            );
        }
        let seeds = parse_seeds(&meta_section, &meta.seeds)?;
        let description = Section::get(&meta.description, String::new());

        let sim_section = Self::section(doc, "sim", &self.sim);
        let sim_raw = self.sim.map(Spanned::into_inner).unwrap_or_default();
        let sim = SimConfig {
            tick_ms: sim_section.int("tick_ms", &sim_raw.tick_ms, 10, TICK_MS_MIN, TICK_MS_MAX)?,
            duration_s: sim_section.int(
                "duration_s",
                &sim_raw.duration_s,
                60,
                1,
                DURATION_S_MAX,
            )?,
            heal_s: sim_section.int("heal_s", &sim_raw.heal_s, 120, 1, HEAL_S_MAX)?,
            tcp_capacity: sim_section.int(
                "tcp_capacity",
                &sim_raw.tcp_capacity,
                256,
                TCP_CAPACITY_MIN,
                TCP_CAPACITY_MAX,
            )?,
        };

        let topology = validate_topology(
            Self::section(doc, "topology", &self.topology),
            self.topology,
        )?;
        let workload = validate_workload(
            Self::section(doc, "workload", &self.workload),
            self.workload,
            &sim,
            &topology,
        )?;
        let faults = validate_faults(Self::section(doc, "faults", &self.faults), self.faults)?;
        let server = validate_server(Self::section(doc, "server", &self.server), self.server)?;

        let expect_section = Self::section(doc, "expect", &self.expect);
        let expect_raw = self.expect.map(Spanned::into_inner).unwrap_or_default();
        let violations = expect_section.names("violations", &expect_raw.violations)?;
        let must_find = expect_section.names("must_find", &expect_raw.must_find)?;
        if let Some(missing) = must_find.iter().find(|i| !violations.contains(i)) {
            return expect_section.fail(
                "must_find",
                &expect_raw.must_find,
                format!("{missing} must also be listed in expect.violations"),
            );
        }

        let extensions = validate_extensions(
            Self::section(doc, "extensions", &self.extensions),
            self.extensions,
            &topology,
        )?;

        Ok(Scenario {
            extensions,
            file_name: doc.file.to_string(),
            name,
            description,
            seeds,
            sim,
            topology,
            workload,
            faults,
            server,
            expect: Expectations {
                violations,
                must_find,
            },
        })
    }
}

fn parse_seeds(
    section: &Section<'_, '_>,
    raw: &Field<toml::Value>,
) -> Result<Vec<u64>, ScenarioError> {
    let Some(value) = raw else {
        return Ok(SEEDS_DEFAULT.collect());
    };
    let bad = |message: String| section.fail("seeds", raw, message);
    let seeds: Vec<u64> = match value.get_ref() {
        toml::Value::String(text) => {
            let (start, end, inclusive) = if let Some((a, b)) = text.split_once("..=") {
                (a, b, true)
            } else if let Some((a, b)) = text.split_once("..") {
                (a, b, false)
            } else {
                return bad(format!("{text:?} is not a range \"a..b\" or \"a..=b\""));
            };
            let (Ok(start), Ok(end)) = (start.trim().parse::<u64>(), end.trim().parse::<u64>())
            else {
                return bad(format!(
                    "{text:?} has a bound that is not a non-negative integer"
                ));
            };
            let end = if inclusive {
                end.checked_add(1)
            } else {
                Some(end)
            };
            match end {
                Some(end) if start < end && end - start <= SEEDS_COUNT_MAX as u64 => {
                    (start..end).collect()
                }
                _ => return bad(format!("{text:?} must hold 1..={SEEDS_COUNT_MAX} seeds")),
            }
        }
        toml::Value::Array(items) => {
            let mut seeds = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    toml::Value::Integer(seed) if *seed >= 0 => seeds.push(seed.unsigned_abs()),
                    other => return bad(format!("{other} is not a non-negative integer seed")),
                }
            }
            if seeds.is_empty() || seeds.len() > SEEDS_COUNT_MAX {
                return bad(format!("a seed list must hold 1..={SEEDS_COUNT_MAX} seeds"));
            }
            seeds
        }
        other => {
            return bad(format!(
                "{other} is neither a range string nor a list of seeds"
            ))
        }
    };
    Ok(seeds)
}

fn parse_beacon(
    section: &Section<'_, '_>,
    raw: &Field<toml::Value>,
    raidas: u8,
) -> Result<BeaconPolicy, ScenarioError> {
    let Some(value) = raw else {
        return Ok(BeaconPolicy::Hash);
    };
    let bad = |message: String| section.fail("beacon", raw, message);
    let check_id = |id: i64| -> Result<u8, String> {
        u8::try_from(id)
            .ok()
            .filter(|id| *id < raidas)
            .ok_or_else(|| format!("RAIDA {id} is out of range 0..{raidas}"))
    };
    match value.get_ref() {
        toml::Value::String(text) if text == "hash" => Ok(BeaconPolicy::Hash),
        toml::Value::String(text) => {
            let Some(id) = text
                .strip_prefix("fixed:")
                .and_then(|id| id.parse::<i64>().ok())
            else {
                return bad(format!(
                    "{text:?} is not \"hash\", \"fixed:N\" or a list of RAIDA ids"
                ));
            };
            check_id(id).map(BeaconPolicy::Fixed).or_else(bad)
        }
        toml::Value::Array(items) if !items.is_empty() => {
            let mut list = Vec::with_capacity(items.len());
            for item in items {
                let id = item
                    .as_integer()
                    .ok_or_else(|| format!("{item} is not a RAIDA id"))
                    .and_then(check_id);
                match id {
                    Ok(id) => list.push(id),
                    Err(message) => return bad(message),
                }
            }
            Ok(BeaconPolicy::List(list))
        }
        other => bad(format!(
            "{other} is not \"hash\", \"fixed:N\" or a non-empty list of RAIDA ids"
        )),
    }
}

fn validate_topology(
    section: Section<'_, '_>,
    raw: Field<RawTopology>,
) -> Result<Topology, ScenarioError> {
    let raw = raw.map(Spanned::into_inner).unwrap_or_default();
    let raidas = section.int("raidas", &raw.raidas, RAIDA_COUNT_MAX, 1, RAIDA_COUNT_MAX)?;
    Ok(Topology {
        raidas,
        mailboxes: section.int("mailboxes", &raw.mailboxes, 16, 1, MAILBOXES_MAX)?,
        devices_per_mailbox: section.int(
            "devices_per_mailbox",
            &raw.devices_per_mailbox,
            1,
            1,
            DEVICES_PER_MAILBOX_MAX,
        )?,
        client_hosts: section.int("client_hosts", &raw.client_hosts, 2, 1, CLIENT_HOSTS_MAX)?,
        beacon: parse_beacon(&section, &raw.beacon, raidas)?,
    })
}

fn validate_workload(
    section: Section<'_, '_>,
    raw: Field<RawWorkload>,
    sim: &SimConfig,
    topology: &Topology,
) -> Result<Workload, ScenarioError> {
    let raw = raw.map(Spanned::into_inner).unwrap_or_default();
    let data_stripes = section.int(
        "data_stripes",
        &raw.data_stripes,
        DATA_STRIPES_DEFAULT,
        1,
        DATA_STRIPES_MAX,
    )?;
    if u16::from(data_stripes) + 1 > u16::from(topology.raidas) {
        return section.fail(
            "data_stripes",
            &raw.data_stripes,
            format!(
                "{data_stripes} data stripes + 1 parity need {} RAIDAs, topology.raidas is {}",
                u16::from(data_stripes) + 1,
                topology.raidas
            ),
        );
    }
    let file_size_max = STRIPE_SIZE_BYTES_MAX.saturating_mul(u32::from(data_stripes));
    let recipients_min =
        section.int("recipients_min", &raw.recipients_min, 1, 1, RECIPIENTS_MAX)?;
    let recipients_max = section.int(
        "recipients_max",
        &raw.recipients_max,
        3,
        recipients_min,
        RECIPIENTS_MAX,
    )?;
    if u32::from(recipients_max) > topology.mailboxes {
        return section.fail(
            "recipients_max",
            &raw.recipients_max,
            format!(
                "{recipients_max} exceeds topology.mailboxes = {}",
                topology.mailboxes
            ),
        );
    }
    let cc_fraction = section.fraction("cc_fraction", &raw.cc_fraction, 0.2)?;
    let bcc_fraction = section.fraction("bcc_fraction", &raw.bcc_fraction, 0.1)?;
    if cc_fraction + bcc_fraction > 1.0 {
        return section.fail(
            "bcc_fraction",
            &raw.bcc_fraction,
            format!(
                "cc_fraction + bcc_fraction = {} exceeds 1",
                cc_fraction + bcc_fraction
            ),
        );
    }
    let latest_window = sim.duration_s;
    Ok(Workload {
        emails: section.int("emails", &raw.emails, 32, 0, EMAILS_MAX)?,
        recipients_min,
        recipients_max,
        cc_fraction,
        bcc_fraction,
        attachments_max: section.int(
            "attachments_max",
            &raw.attachments_max,
            2,
            0,
            ATTACHMENTS_MAX,
        )?,
        attachment_size_bytes_max: section.int(
            "attachment_size_bytes_max",
            &raw.attachment_size_bytes_max,
            16_384.min(file_size_max),
            0,
            file_size_max,
        )?,
        body_size_bytes_max: section.int(
            "body_size_bytes_max",
            &raw.body_size_bytes_max,
            4_096.min(file_size_max),
            0,
            file_size_max,
        )?,
        revision_fraction: section.fraction("revision_fraction", &raw.revision_fraction, 0.0)?,
        data_stripes,
        send_window_s: section.int(
            "send_window_s",
            &raw.send_window_s,
            (sim.duration_s / 2).max(1),
            1,
            latest_window,
        )?,
        poll: Section::get(&raw.poll, PollMode::Ping),
    })
}

fn validate_faults(
    section: Section<'_, '_>,
    raw: Field<RawFaults>,
) -> Result<FaultsConfig, ScenarioError> {
    let raw = raw.map(Spanned::into_inner).unwrap_or_default();
    let defaults = FaultsConfig::default();
    let latency_ms_min = section.int(
        "latency_ms_min",
        &raw.latency_ms_min,
        defaults.latency_ms_min,
        0,
        LATENCY_MS_MAX,
    )?;
    let latency_ms_max = section.int(
        "latency_ms_max",
        &raw.latency_ms_max,
        defaults.latency_ms_max.max(latency_ms_min),
        latency_ms_min,
        LATENCY_MS_MAX,
    )?;
    let mut crash_at_steps = Vec::new();
    for step in raw.crash_at_steps.iter().flat_map(|list| list.get_ref()) {
        if !KNOWN_CRASH_STEPS.contains(&step.get_ref().as_str()) {
            return Err(section.doc.error(
                Some(step.span()),
                &section.key("crash_at_steps"),
                format!(
                    "unknown step {:?}; known: {}",
                    step.get_ref(),
                    KNOWN_CRASH_STEPS.join(", ")
                ),
            ));
        }
        if !crash_at_steps.contains(step.get_ref()) {
            crash_at_steps.push(step.get_ref().clone());
        }
    }
    let crash_at_step_fraction =
        section.fraction("crash_at_step_fraction", &raw.crash_at_step_fraction, 0.0)?;
    if crash_at_step_fraction > 0.0 && crash_at_steps.is_empty() {
        return section.fail(
            "crash_at_step_fraction",
            &raw.crash_at_step_fraction,
            "is above 0 but faults.crash_at_steps is empty".to_string(),
        );
    }
    Ok(FaultsConfig {
        swarm: Section::get(&raw.swarm, false),
        clock_skew_s_max: section.int(
            "clock_skew_s_max",
            &raw.clock_skew_s_max,
            0,
            0,
            CLOCK_SKEW_S_MAX,
        )?,
        clock_drift_ppm_max: section.int(
            "clock_drift_ppm_max",
            &raw.clock_drift_ppm_max,
            0,
            0,
            CLOCK_DRIFT_PPM_MAX,
        )?,
        clock_step_fraction: section.fraction(
            "clock_step_fraction",
            &raw.clock_step_fraction,
            0.0,
        )?,
        packet_loss: section.fraction("packet_loss", &raw.packet_loss, 0.0)?,
        latency_ms_min,
        latency_ms_max,
        partition_fraction: section.fraction("partition_fraction", &raw.partition_fraction, 0.0)?,
        oneway_partition_fraction: section.fraction(
            "oneway_partition_fraction",
            &raw.oneway_partition_fraction,
            0.0,
        )?,
        crash_rate_per_host_per_min: section.real(
            "crash_rate_per_host_per_min",
            &raw.crash_rate_per_host_per_min,
            0.0,
            CRASH_RATE_PER_HOST_PER_MIN_MAX,
        )?,
        crash_at_steps,
        crash_at_step_fraction,
        replay_fraction: section.fraction("replay_fraction", &raw.replay_fraction, 0.0)?,
        duplicate_tell_fraction: section.fraction(
            "duplicate_tell_fraction",
            &raw.duplicate_tell_fraction,
            0.0,
        )?,
        tell_before_upload_fraction: section.fraction(
            "tell_before_upload_fraction",
            &raw.tell_before_upload_fraction,
            0.0,
        )?,
        stripe_loss_fraction: section.fraction(
            "stripe_loss_fraction",
            &raw.stripe_loss_fraction,
            0.0,
        )?,
        stripe_corrupt_fraction: section.fraction(
            "stripe_corrupt_fraction",
            &raw.stripe_corrupt_fraction,
            0.0,
        )?,
    })
}

fn validate_extensions(
    section: Section<'_, '_>,
    raw: Field<RawExtensions>,
    topology: &Topology,
) -> Result<ExtensionsConfig, ScenarioError> {
    let raw = raw.map(Spanned::into_inner).unwrap_or_default();
    let raidas = extension_side(
        &section,
        "raidas",
        &raw.raidas,
        u32::from(topology.raidas),
        false,
    )?;
    let clients = extension_side(&section, "clients", &raw.clients, topology.mailboxes, true)?;
    Ok(ExtensionsConfig { raidas, clients })
}

/// One side of `[extensions]`: known names, `"all"` or indexes below `count`.
fn extension_side(
    section: &Section<'_, '_>,
    side: &str,
    raw: &Field<BTreeMap<String, RawWhich>>,
    count: u32,
    clients: bool,
) -> Result<BTreeMap<ExtensionName, Which>, ScenarioError> {
    let mut out = BTreeMap::new();
    let Some(map) = raw.as_ref() else {
        return Ok(out);
    };
    for (key, which) in map.get_ref() {
        let field = format!("{side}.{key}");
        let known: Vec<&str> = ExtensionName::ALL.iter().map(|n| n.as_str()).collect();
        let Some(name) = ExtensionName::parse(key) else {
            return section.fail(
                &field,
                raw,
                format!("unknown extension `{key}` (known: {})", known.join(", ")),
            );
        };
        if clients && !name.has_client_half() {
            return section.fail(
                &field,
                raw,
                format!("extension `{key}` runs on the beacon only; list it under raidas"),
            );
        }
        let which = match which {
            RawWhich::Word(word) if word == "all" => Which::All,
            RawWhich::Word(word) => {
                return section.fail(
                    &field,
                    raw,
                    format!("{word:?} is neither \"all\" nor a list of indexes"),
                )
            }
            RawWhich::Ids(ids) => {
                if let Some(bad) = ids.iter().find(|&&id| id >= count) {
                    return section.fail(&field, raw, format!("index {bad} is outside 0..{count}"));
                }
                Which::Ids(ids.iter().copied().collect())
            }
        };
        out.insert(name, which);
    }
    Ok(out)
}

fn validate_server(
    section: Section<'_, '_>,
    raw: Field<RawServer>,
) -> Result<ServerSettings, ScenarioError> {
    let raw = raw.map(Spanned::into_inner).unwrap_or_default();
    let optional = |field: &str,
                    value: &Field<u32>,
                    min: u32,
                    max: u32|
     -> Result<Option<u32>, ScenarioError> {
        value
            .as_ref()
            .map(|v| section.int(field, value, *v.get_ref(), min, max))
            .transpose()
    };
    let ping_timeout_status = match &raw.ping_timeout_status {
        Some(status) if !PING_TIMEOUT_STATUSES.contains(status.get_ref()) => {
            return section.fail(
                "ping_timeout_status",
                &raw.ping_timeout_status,
                format!(
                    "{} is not one of {PING_TIMEOUT_STATUSES:?}",
                    status.get_ref()
                ),
            )
        }
        other => other.as_ref().map(|status| *status.get_ref()),
    };
    let max_tells_per_reply = raw
        .max_tells_per_reply
        .as_ref()
        .map(|v| {
            section.int(
                "max_tells_per_reply",
                &raw.max_tells_per_reply,
                *v.get_ref(),
                1,
                MAX_TELLS_PER_REPLY_MAX,
            )
        })
        .transpose()?;
    Ok(ServerSettings {
        delete_on_read: raw.delete_on_read.map(Spanned::into_inner),
        ping_timeout_s: optional("ping_timeout_s", &raw.ping_timeout_s, 1, PING_TIMEOUT_S_MAX)?,
        ping_timeout_status,
        tell_skew_s: optional("tell_skew_s", &raw.tell_skew_s, 0, TELL_SKEW_S_MAX)?,
        max_tells_per_reply,
        max_reply_bytes: optional(
            "max_reply_bytes",
            &raw.max_reply_bytes,
            MAX_REPLY_BYTES_MIN,
            MAX_REPLY_BYTES_MAX,
        )?,
        upload_fee: raw.upload_fee.map(Spanned::into_inner),
        inbox_fee: raw.inbox_fee.map(Spanned::into_inner),
        inbox_dir_fsync: raw.inbox_dir_fsync.map(Spanned::into_inner),
        response_counter: raw.response_counter.map(Spanned::into_inner),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::from_toml_str(text, "test.toml")
    }

    /// The (line, key) of an error, asserting it names the file.
    fn located(text: &str) -> (usize, String, String) {
        match parse(text) {
            Err(ScenarioError::Invalid {
                file,
                line,
                key,
                message,
                ..
            }) => {
                assert_eq!(file, "test.toml");
                (line, key, message)
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn a_minimal_scenario_gets_every_default() {
        let scenario = parse("[scenario]\nname = \"mini\"\n").expect("parses");
        assert_eq!(scenario.name, "mini");
        assert_eq!(scenario.seeds, (0..8).collect::<Vec<u64>>());
        assert_eq!(
            scenario.sim,
            SimConfig {
                tick_ms: 10,
                duration_s: 60,
                heal_s: 120,
                tcp_capacity: 256
            }
        );
        assert_eq!(scenario.topology.raidas, 25);
        assert_eq!(scenario.topology.beacon, BeaconPolicy::Hash);
        assert_eq!(scenario.workload.data_stripes, 7);
        assert_eq!(scenario.workload.send_window_s, 30);
        assert_eq!(scenario.workload.poll, PollMode::Ping);
        assert_eq!(scenario.faults, FaultsConfig::default());
        assert_eq!(scenario.server, ServerSettings::default());
        assert_eq!(scenario.server.tell_skew_s_or_default(), 60);
        assert_eq!(scenario.expect, Expectations::default());
    }

    const FULL: &str = r#"
[scenario]
name = "full"
description = "every key"
seeds = [1, 2, 3]

[sim]
tick_ms = 5
duration_s = 30
heal_s = 90
tcp_capacity = 512

[topology]
raidas = 9
mailboxes = 40
devices_per_mailbox = 3
client_hosts = 4
beacon = [0, 4, 8]

[workload]
emails = 100
recipients_min = 2
recipients_max = 5
cc_fraction = 0.25
bcc_fraction = 0.25
attachments_max = 3
attachment_size_bytes_max = 1000
body_size_bytes_max = 2000
revision_fraction = 0.5
data_stripes = 8
send_window_s = 30
poll = "mixed"

[faults]
swarm = true
clock_skew_s_max = 90
clock_drift_ppm_max = 200
clock_step_fraction = 0.1
packet_loss = 0      # integers are fine for fractions
latency_ms_min = 2
latency_ms_max = 20
partition_fraction = 0.01
oneway_partition_fraction = 0.02
crash_rate_per_host_per_min = 0.5
crash_at_steps = [
    "TellRenamed",
    "TellTempSynced",
]
crash_at_step_fraction = 0.05
replay_fraction = 0.1
duplicate_tell_fraction = 0.1
tell_before_upload_fraction = 0.1
stripe_loss_fraction = 0.01
stripe_corrupt_fraction = 0.01

[server]
delete_on_read = "after_reply"
ping_timeout_s = 30
ping_timeout_status = 245
tell_skew_s = 30
max_tells_per_reply = 10
max_reply_bytes = 65536
upload_fee = 2
inbox_fee = 1
inbox_dir_fsync = false
response_counter = "continue"

[expect]
violations = ["one_shot", "ack_durable"]
must_find = ["ack_durable"]
"#;

    #[test]
    fn every_key_parses() {
        let scenario = parse(FULL).expect("parses");
        assert_eq!(scenario.seeds, vec![1, 2, 3]);
        assert_eq!(scenario.topology.beacon, BeaconPolicy::List(vec![0, 4, 8]));
        assert_eq!(scenario.workload.poll, PollMode::Mixed);
        assert_eq!(scenario.workload.data_stripes, 8);
        assert!(scenario.faults.swarm);
        assert_eq!(scenario.faults.packet_loss, 0.0);
        assert_eq!(
            scenario.faults.crash_at_steps,
            vec!["TellRenamed", "TellTempSynced"]
        );
        assert_eq!(
            scenario.server.delete_on_read,
            Some(DeleteOnRead::AfterReply)
        );
        assert_eq!(
            scenario.server.response_counter,
            Some(ResponseCounter::Continue)
        );
        assert_eq!(scenario.server.ping_timeout_status, Some(245));
        assert_eq!(scenario.server.inbox_dir_fsync, Some(false));
        assert_eq!(
            scenario.expect.violations,
            vec![Invariant::OneShot, Invariant::AckDurable]
        );
        assert!(scenario.expect.allows(Invariant::OneShot));
        assert!(!scenario.expect.allows(Invariant::Liveness));
        let parameters = scenario.parameters();
        assert!(parameters.contains(&("server.tell_skew_s".into(), "30".into())));
        assert!(parameters.contains(&("topology.beacon".into(), "[0, 4, 8]".into())));
    }

    #[test]
    fn an_unknown_key_names_file_line_and_key() {
        let (line, key, message) =
            located("[scenario]\nname = \"x\"\n[faults]\npacket_los = 0.1\n");
        assert_eq!((line, key.as_str()), (4, "faults.packet_los"));
        assert!(message.contains("unknown field"), "{message}");
        let error = parse("[scenario]\nname = \"x\"\n[faults]\npacket_los = 0.1\n").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("test.toml:4:1: key `faults.packet_los`"),
            "{error}"
        );
    }

    #[test]
    fn an_unknown_section_names_it() {
        let (line, key, _) = located("[scenario]\nname = \"x\"\n\n[fault]\nswarm = true\n");
        assert_eq!((line, key.as_str()), (4, "fault"));
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_key() {
        let (line, key, message) =
            located("[scenario]\nname = \"x\"\n[sim]\n# comment = 1\ntick_ms = \"fast\"\n");
        assert_eq!((line, key.as_str()), (5, "sim.tick_ms"));
        assert!(message.contains("invalid type"), "{message}");
        let (line, key, _) = located("[scenario]\nname = \"x\"\n[sim]\ntick_ms = -3\n");
        assert_eq!((line, key.as_str()), (4, "sim.tick_ms"));
        let (line, key, message) =
            located("[scenario]\nname = \"x\"\n[workload]\npoll = \"push\"\n");
        assert_eq!((line, key.as_str()), (4, "workload.poll"));
        assert!(message.contains("unknown variant"), "{message}");
    }

    #[test]
    fn out_of_range_values_name_their_key_and_line() {
        let cases = [
            ("[faults]\npacket_loss = 1.5\n", 4, "faults.packet_loss"),
            (
                "[faults]\nclock_step_fraction = -0.1\n",
                4,
                "faults.clock_step_fraction",
            ),
            ("[topology]\nraidas = 26\n", 4, "topology.raidas"),
            ("[topology]\nraidas = 0\n", 4, "topology.raidas"),
            (
                "[workload]\ndata_stripes = 32\n",
                4,
                "workload.data_stripes",
            ),
            ("[sim]\ntick_ms = 0\n", 4, "sim.tick_ms"),
            (
                "[sim]\nduration_s = 10\n[workload]\nsend_window_s = 11\n",
                6,
                "workload.send_window_s",
            ),
            (
                "[server]\nping_timeout_status = 18\n",
                4,
                "server.ping_timeout_status",
            ),
            (
                "[server]\nmax_tells_per_reply = 256\n",
                4,
                "server.max_tells_per_reply",
            ),
            (
                "[faults]\nlatency_ms_min = 9\nlatency_ms_max = 8\n",
                5,
                "faults.latency_ms_max",
            ),
        ];
        for (body, expected_line, expected_key) in cases {
            let text = format!("[scenario]\nname = \"x\"\n{body}");
            let (line, key, _) = located(&text);
            assert_eq!(
                (line, key.as_str()),
                (expected_line, expected_key),
                "{body}"
            );
        }
    }

    #[test]
    fn cross_field_checks_name_the_dependent_key() {
        let (line, key, message) = located(
            "[scenario]\nname = \"x\"\n[topology]\nraidas = 7\n[workload]\ndata_stripes = 7\n",
        );
        assert_eq!((line, key.as_str()), (6, "workload.data_stripes"));
        assert!(message.contains("need 8 RAIDAs"), "{message}");
        // The dependent key is absent: point at its section.
        let (line, key, _) =
            located("[scenario]\nname = \"x\"\n[topology]\nraidas = 7\n[workload]\nemails = 1\n");
        assert_eq!((line, key.as_str()), (5, "workload.data_stripes"));
        let (_, key, _) = located(
            "[scenario]\nname = \"x\"\n[topology]\nmailboxes = 2\n[workload]\nrecipients_max = 3\n",
        );
        assert_eq!(key, "workload.recipients_max");
        let (_, key, _) = located(
            "[scenario]\nname = \"x\"\n[workload]\ncc_fraction = 0.6\nbcc_fraction = 0.6\n",
        );
        assert_eq!(key, "workload.bcc_fraction");
        let (_, key, _) =
            located("[scenario]\nname = \"x\"\n[faults]\ncrash_at_step_fraction = 0.5\n");
        assert_eq!(key, "faults.crash_at_step_fraction");
    }

    #[test]
    fn a_missing_name_is_reported() {
        let (line, key, message) = located("[scenario]\ndescription = \"no name\"\n");
        assert_eq!(key, "scenario.name");
        assert_eq!(line, 1);
        assert!(message.contains("missing field"), "{message}");
        let (_, key, _) = located("[sim]\ntick_ms = 5\n");
        assert_eq!(key, "scenario");
        let (line, key, _) = located("[scenario]\nname = \"has space\"\n");
        assert_eq!((line, key.as_str()), (2, "scenario.name"));
    }

    #[test]
    fn list_elements_point_at_their_own_line() {
        let text = "[scenario]\nname = \"x\"\n[faults]\ncrash_at_steps = [\n  \"TellRenamed\",\n  \"TellExploded\",\n]\n";
        let (line, key, message) = located(text);
        assert_eq!((line, key.as_str()), (6, "faults.crash_at_steps"));
        assert!(
            message.contains("TellExploded") && message.contains("TellDirSynced"),
            "{message}"
        );
        let text =
            "[scenario]\nname = \"x\"\n[expect]\nviolations = [\"one_shot\",\n \"oneshot\"]\n";
        let (line, key, _) = located(text);
        assert_eq!((line, key.as_str()), (5, "expect.violations"));
        let text = "[scenario]\nname = \"x\"\n[expect]\nviolations = [\"one_shot\"]\nmust_find = [\"liveness\"]\n";
        let (line, key, message) = located(text);
        assert_eq!((line, key.as_str()), (5, "expect.must_find"));
        assert!(message.contains("liveness"), "{message}");
    }

    #[test]
    fn a_syntax_error_names_the_line() {
        let (line, _, _) = located("[scenario]\nname = \"x\"\n[sim]\ntick_ms = = 3\n");
        assert_eq!(line, 4);
    }

    #[test]
    fn seeds_accept_ranges_and_lists() {
        let seeds = |value: &str| {
            parse(&format!("[scenario]\nname = \"x\"\nseeds = {value}\n")).map(|s| s.seeds)
        };
        assert_eq!(seeds("\"3..6\""), Ok(vec![3, 4, 5]));
        assert_eq!(seeds("\"3..=6\""), Ok(vec![3, 4, 5, 6]));
        assert_eq!(seeds("[9, 1]"), Ok(vec![9, 1]));
        for bad in [
            "\"6..3\"",
            "\"a..b\"",
            "\"7\"",
            "[]",
            "[-1]",
            "[\"x\"]",
            "4",
            "\"0..1000000\"",
        ] {
            let (line, key, _) = located(&format!("[scenario]\nname = \"x\"\nseeds = {bad}\n"));
            assert_eq!((line, key.as_str()), (3, "scenario.seeds"), "{bad}");
        }
    }

    #[test]
    fn beacon_policies_parse_and_assign() {
        let beacon = |value: &str| {
            parse(&format!(
                "[scenario]\nname = \"x\"\n[topology]\nraidas = 10\nbeacon = {value}\n"
            ))
            .map(|s| s.topology.beacon)
        };
        assert_eq!(beacon("\"hash\""), Ok(BeaconPolicy::Hash));
        assert_eq!(beacon("\"fixed:9\""), Ok(BeaconPolicy::Fixed(9)));
        assert_eq!(beacon("[1, 2]"), Ok(BeaconPolicy::List(vec![1, 2])));
        for bad in [
            "\"fixed:10\"",
            "\"fixed\"",
            "[]",
            "[1, 10]",
            "[\"a\"]",
            "3",
            "\"random\"",
        ] {
            let (line, key, _) = located(&format!(
                "[scenario]\nname = \"x\"\n[topology]\nraidas = 10\nbeacon = {bad}\n"
            ));
            assert_eq!((line, key.as_str()), (5, "topology.beacon"), "{bad}");
        }
        let list = BeaconPolicy::List(vec![4, 6]);
        assert_eq!(list.beacon_for(0, 1, 1, 25), 4);
        assert_eq!(list.beacon_for(3, 1, 1, 25), 6);
        assert_eq!(BeaconPolicy::Fixed(3).beacon_for(9, 0, 0, 25), 3);
        let spread: Vec<u8> = (0..200)
            .map(|sn| BeaconPolicy::Hash.beacon_for(0, 1, sn, 25))
            .collect();
        assert!(spread.iter().all(|b| *b < 25));
        let mut distinct = spread.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(distinct.len() > 15, "hash spreads mailboxes: {distinct:?}");
        // Pinned: the hash policy is part of the replay contract.
        assert_eq!(
            BeaconPolicy::Hash.beacon_for(0, 1, 42, 25),
            u8::try_from(fnv1a_64(&[1, 0, 0, 0, 42]) % 25).expect("small")
        );
    }

    #[test]
    fn resolved_faults_without_swarm_are_the_configured_ones() {
        let scenario =
            parse(FULL.replace("swarm = true", "swarm = false").as_str()).expect("parses");
        let resolved = ResolvedFaults::for_seed(&scenario.faults, &SeedTree::new(5));
        assert!(!resolved.swarm);
        assert_eq!(resolved.clock_skew_s_max, 90);
        assert_eq!(resolved.partition_fraction, 0.01);
        assert_eq!(resolved.crash_at_steps, scenario.faults.crash_at_steps);
        assert!(!resolved.is_quiet());
        let quiet = ResolvedFaults::for_seed(&FaultsConfig::default(), &SeedTree::new(5));
        assert!(quiet.is_quiet());
    }

    #[test]
    fn swarm_picks_rates_within_bounds_and_turns_some_off() {
        let scenario = parse(FULL).expect("parses");
        let config = &scenario.faults;
        let mut some_off = false;
        let mut some_on = false;
        for seed in 0..40 {
            let resolved = ResolvedFaults::for_seed(config, &SeedTree::new(seed));
            assert_eq!(
                resolved,
                ResolvedFaults::for_seed(config, &SeedTree::new(seed))
            );
            assert!(resolved.swarm);
            assert!(resolved.clock_skew_s_max <= 90);
            assert!(resolved.clock_drift_ppm_max <= 200);
            assert!((0.0..=0.1).contains(&resolved.clock_step_fraction));
            assert_eq!(resolved.packet_loss, 0.0);
            assert!((2..=20).contains(&resolved.latency_ms_max));
            assert!((0.0..=0.5).contains(&resolved.crash_rate_per_host_per_min));
            assert!(resolved
                .crash_at_steps
                .iter()
                .all(|s| config.crash_at_steps.contains(s)));
            if resolved.crash_at_steps.is_empty() {
                assert_eq!(resolved.crash_at_step_fraction, 0.0);
            }
            for rate in [resolved.replay_fraction, resolved.stripe_loss_fraction] {
                assert!(rate <= 0.1);
                some_off |= rate == 0.0;
                some_on |= rate > 0.0;
            }
        }
        assert!(some_off && some_on);
    }

    #[test]
    fn resolved_faults_print_every_parameter() {
        let scenario = parse(FULL).expect("parses");
        let text = ResolvedFaults::for_seed(&scenario.faults, &SeedTree::new(1)).to_string();
        for key in [
            "swarm",
            "clock_skew_s_max",
            "clock_drift_ppm_max",
            "clock_step_fraction",
            "packet_loss",
            "latency_ms_min",
            "latency_ms_max",
            "partition_fraction",
            "oneway_partition_fraction",
            "crash_rate_per_host_per_min",
            "crash_at_steps",
            "crash_at_step_fraction",
            "replay_fraction",
            "duplicate_tell_fraction",
            "tell_before_upload_fraction",
            "stripe_loss_fraction",
            "stripe_corrupt_fraction",
        ] {
            assert_eq!(
                text.lines()
                    .filter(|line| line.starts_with(&format!("{key} = ")))
                    .count(),
                1,
                "{key} in\n{text}"
            );
        }
        assert_eq!(text.lines().count(), 17);
    }

    #[test]
    fn load_names_a_missing_file() {
        let error = Scenario::load(Path::new("/nonexistent/x.toml")).unwrap_err();
        assert!(matches!(&error, ScenarioError::Io { file, .. } if file == "/nonexistent/x.toml"));
        assert!(error
            .to_string()
            .starts_with("/nonexistent/x.toml: cannot read"));
    }

    #[test]
    fn every_scenario_file_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("scenarios/ exists") {
            let path = entry.expect("readable entry").path();
            if path.extension().and_then(|e| e.to_str()) != Some("toml") {
                continue;
            }
            let scenario = Scenario::load(&path).unwrap_or_else(|error| panic!("{error}"));
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("utf-8 name");
            assert_eq!(scenario.name, stem, "scenario.name matches the file name");
            assert!(!scenario.description.is_empty(), "{stem} has a description");
            names.push(stem.to_string());
        }
        names.sort();
        for expected in [
            "crash-mid-publish",
            "loss",
            "many-devices",
            "partition",
            "replay",
            "skew",
            "smoke",
            "storm",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "scenarios/{expected}.toml missing"
            );
        }
    }
}
