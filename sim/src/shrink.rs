//! `raida-sim shrink`: make a failing run smaller while it keeps failing the same way.
//!
//! The target is one invariant: the one `--violation` names, or the seed's first unexpected
//! violation. Starting from the scenario file, [`Shrinker`] tries reductions greedily, one
//! at a time, and keeps each one under which the seed still violates the target:
//!
//! 1. pin swarm: `swarm = false` with the rates this seed resolved (the same run, fixed);
//! 2. drop each fault kind: an on/off knob of `[faults]` set to 0 (a list to `[]`);
//! 3. halve emails, mailboxes (recipients clamped to them), client hosts, devices per
//!    mailbox, the safety phase (the send window with it) and `heal_s`; halve attachments
//!    and the attachment and body size bounds (down to [`SIZE_BYTES_FLOOR`]);
//! 4. drop each listed crash step, one at a time;
//! 5. halve each fault rate still on.
//!
//! Passes repeat until one keeps nothing or `max_runs` candidates have run (a file already
//! tried is not run again: the same file and seed give the same run). Each candidate
//! is the parsed `toml::Value` of the file with the reduced keys set (other keys kept as
//! they were), checked with [`Scenario::from_toml_str`], written to a temporary file and run
//! in a fresh child process ([`ChildRunner`]) — the way `run --seed N` runs it.
//!
//! The result names itself `NAME-shrunk`, runs just the seed (`seeds = [N]`), and lists the
//! target under `must_find` when the scenario expects it, so `raida-sim run` of the shrunk
//! file passes exactly when the seed still shows an expected target, and fails when it
//! still shows an unexpected one.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use knobs::{Knob, Knobs, Value, Vary, Visitor};

use crate::checkers::Invariant;
use crate::faults::Faults;
use crate::report::replay_command;
use crate::run::{ChildRunner, SeedRecord};
use crate::scenario::Scenario;
use crate::seed::SeedTree;
use crate::tomlfile::scenario_text;

/// Size bounds (attachment, body) are not halved below this many bytes.
pub const SIZE_BYTES_FLOOR: u32 = 256;
/// Fault rates are not halved below this.
pub const RATE_FLOOR: f64 = 1e-4;
/// Candidates run by default before shrinking stops.
pub const MAX_RUNS_DEFAULT: usize = 200;
/// Longest scenario name.
const NAME_LENGTH_MAX: usize = 64;
/// Appended to the scenario's name.
const NAME_SUFFIX: &str = "-shrunk";

/// Why shrinking could not start or go on.
#[derive(Debug)]
pub enum ShrinkError {
    /// The scenario file cannot be read or parsed, or a temporary file cannot be written.
    Input(String),
    /// The seed does not fail the way asked.
    NothingToShrink(String),
}

impl fmt::Display for ShrinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShrinkError::Input(message) | ShrinkError::NothingToShrink(message) => {
                f.write_str(message)
            }
        }
    }
}

impl std::error::Error for ShrinkError {}

/// How big a run was.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct RunSize {
    /// Faults fired, all kinds.
    pub faults_fired: u64,
    /// Events recorded.
    pub events: u64,
    /// Distinct emails sent.
    pub emails: u64,
    /// Wall time, milliseconds.
    pub wall_ms: u64,
    /// Violations of the target invariant.
    pub target_violations: usize,
}

impl RunSize {
    fn of(record: &SeedRecord, target: Invariant) -> RunSize {
        let report = record.report.as_ref();
        RunSize {
            faults_fired: report.map_or(0, |r| r.faults_fired()),
            events: report.map_or(0, |r| r.counts.events),
            emails: report.map_or(0, |r| r.counts.emails),
            wall_ms: record.wall_ms,
            target_violations: report
                .and_then(|r| r.outcome.violated.get(&target).copied())
                .unwrap_or(0),
        }
    }
}

/// One candidate tried.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Attempt {
    /// What was reduced, e.g. `workload.emails 48 -> 24`.
    pub change: String,
    /// Whether the seed still violated the target (the reduction was kept).
    pub kept: bool,
}

/// What shrinking found.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The invariant kept violated.
    pub target: Invariant,
    /// The original run.
    pub before: RunSize,
    /// The smallest run found.
    pub after: RunSize,
    /// The smallest scenario's file text.
    pub text: String,
    /// The smallest scenario.
    pub scenario: Scenario,
    /// Every candidate tried, in order.
    pub attempts: Vec<Attempt>,
}

impl Shrunk {
    /// Reductions kept.
    pub fn kept(&self) -> impl Iterator<Item = &Attempt> {
        self.attempts.iter().filter(|attempt| attempt.kept)
    }
}

/// The current smallest failing scenario.
#[derive(Clone, Debug)]
struct State {
    value: toml::Value,
    scenario: Scenario,
    record: SeedRecord,
}

/// Shrinks one failing seed of one scenario file.
#[derive(Debug)]
pub struct Shrinker {
    /// The `raida-sim` executable the candidates run in.
    pub exe: PathBuf,
    /// The scenario file.
    pub path: PathBuf,
    /// The seed.
    pub seed: u64,
    /// The invariant to keep violated (default: the seed's first unexpected violation).
    pub violation: Option<Invariant>,
    /// Candidates run at most (the original and its rewrite not counted).
    pub max_runs: usize,
}

impl Shrinker {
    /// Shrinks, calling `on_attempt` after each candidate.
    pub fn shrink(&self, mut on_attempt: impl FnMut(&Attempt)) -> Result<Shrunk, ShrinkError> {
        let (scenario, value) = self.read()?;
        let dir = tempfile::tempdir()
            .map_err(|error| ShrinkError::Input(format!("cannot make a temp dir: {error}")))?;
        let original = ChildRunner {
            exe: self.exe.clone(),
            scenario_path: self.path.clone(),
        }
        .run_with(self.seed, &[]);
        let target = self.target(&original)?;
        let before = RunSize::of(&original, target);
        let candidates = Candidates {
            exe: &self.exe,
            dir: dir.path(),
            seed: self.seed,
            target,
            original_error: original.report.as_ref().and_then(|r| r.error.clone()),
        };
        let value = rewritten(&scenario, &value, self.seed, target);
        let rewritten = candidates.parse(value)?.ok_or_else(|| {
            ShrinkError::Input(format!(
                "{} does not parse once rewritten as TOML",
                self.path.display()
            ))
        })?;
        let mut state = candidates.run(rewritten)?.ok_or_else(|| {
            ShrinkError::NothingToShrink(format!(
                "seed {} no longer violates {target} once the file is rewritten",
                self.seed
            ))
        })?;
        let mut attempts = Vec::new();
        let mut tried: BTreeSet<String> = BTreeSet::new();
        loop {
            let mut progress = false;
            for reduction in reductions(&state) {
                if attempts.len() >= self.max_runs {
                    break;
                }
                let Some((change, value)) = reduction.apply(&state, self.seed) else {
                    continue;
                };
                // A reduction the scenario's own checks refuse is not a run, and a file
                // tried before gives the same run again.
                let Some(candidate) = candidates.parse(value)? else {
                    continue;
                };
                if !tried.insert(candidate.1.clone()) {
                    continue;
                }
                let next = candidates.run(candidate)?;
                let attempt = Attempt {
                    change,
                    kept: next.is_some(),
                };
                on_attempt(&attempt);
                attempts.push(attempt);
                if let Some(next) = next {
                    state = next;
                    progress = true;
                }
            }
            if !progress || attempts.len() >= self.max_runs {
                break;
            }
        }
        Ok(Shrunk {
            target,
            before,
            after: RunSize::of(&state.record, target),
            text: file_text(&self.path, self.seed, target, &state.value),
            scenario: state.scenario,
            attempts,
        })
    }

    fn read(&self) -> Result<(Scenario, toml::Value), ShrinkError> {
        let scenario = Scenario::load(&self.path).map_err(|e| ShrinkError::Input(e.to_string()))?;
        let text = std::fs::read_to_string(&self.path).map_err(|error| {
            ShrinkError::Input(format!("{}: cannot read: {error}", self.path.display()))
        })?;
        let value: toml::Value = toml::from_str(&text)
            .map_err(|error| ShrinkError::Input(format!("{}: {error}", self.path.display())))?;
        Ok((scenario, value))
    }

    /// The invariant to keep: the one asked for, if the seed violates it; else the first
    /// unexpected violation.
    fn target(&self, record: &SeedRecord) -> Result<Invariant, ShrinkError> {
        let seed = self.seed;
        let Some(report) = &record.report else {
            let panic = record.panic.clone().unwrap_or_default();
            let message = format!("seed {seed} panicked; shrink needs a violation: {panic}");
            return Err(ShrinkError::NothingToShrink(message));
        };
        match self.violation {
            Some(invariant) if report.outcome.violated.contains_key(&invariant) => Ok(invariant),
            Some(invariant) => Err(ShrinkError::NothingToShrink(format!(
                "seed {seed} does not violate {invariant}"
            ))),
            None => report
                .violations
                .iter()
                .find(|v| report.outcome.is_unexpected(v))
                .map(|v| v.invariant)
                .ok_or_else(|| {
                    ShrinkError::NothingToShrink(format!(
                        "seed {seed} has no unexpected violation; name an expected one with \
                         --violation"
                    ))
                }),
        }
    }
}

/// Runs candidate files.
struct Candidates<'a> {
    exe: &'a Path,
    dir: &'a Path,
    seed: u64,
    target: Invariant,
    /// A host failure the original run had (a candidate may keep it).
    original_error: Option<String>,
}

impl Candidates<'_> {
    /// The candidate's text and scenario, if the scenario's checks accept it.
    fn parse(&self, value: toml::Value) -> Result<Option<(toml::Value, String)>, ShrinkError> {
        let text = scenario_text(&value);
        let valid = Scenario::from_toml_str(&text, "candidate.toml").is_ok();
        Ok(valid.then_some((value, text)))
    }

    /// The candidate's state when its run still violates the target.
    fn run(&self, (value, text): (toml::Value, String)) -> Result<Option<State>, ShrinkError> {
        let path = self.dir.join("candidate.toml");
        std::fs::write(&path, &text).map_err(|error| {
            ShrinkError::Input(format!("cannot write {}: {error}", path.display()))
        })?;
        let scenario = Scenario::from_toml_str(&text, &path.display().to_string())
            .map_err(|error| ShrinkError::Input(error.to_string()))?;
        let runner = ChildRunner {
            exe: self.exe.to_path_buf(),
            scenario_path: path,
        };
        let record = runner.run_with(self.seed, &[]);
        let still_fails = record.report.as_ref().is_some_and(|report| {
            report.outcome.violated.contains_key(&self.target)
                && (report.error.is_none() || self.original_error.is_some())
        });
        Ok(still_fails.then_some(State {
            value,
            scenario,
            record,
        }))
    }
}

/// The original file under its shrunk name, running only `seed`, with `must_find` the
/// target when the scenario expects it (else empty).
fn rewritten(
    scenario: &Scenario,
    value: &toml::Value,
    seed: u64,
    target: Invariant,
) -> toml::Value {
    let mut value = value.clone();
    let keep = NAME_LENGTH_MAX - NAME_SUFFIX.len();
    let name: String = scenario.name.chars().take(keep).collect();
    set(
        &mut value,
        "scenario",
        "name",
        format!("{name}{NAME_SUFFIX}").into(),
    );
    let seed = i64::try_from(seed).map_or_else(
        |_| toml::Value::String(format!("{seed}..={seed}")),
        |seed| toml::Value::Array(vec![seed.into()]),
    );
    set(&mut value, "scenario", "seeds", seed);
    let must_find = if scenario.expect.allows(target) {
        vec![toml::Value::String(target.name().into())]
    } else {
        Vec::new()
    };
    set(
        &mut value,
        "expect",
        "must_find",
        toml::Value::Array(must_find),
    );
    value
}

/// The shrunk file: a header saying where it came from, then the TOML.
fn file_text(original: &Path, seed: u64, target: Invariant, value: &toml::Value) -> String {
    let body = scenario_text(value);
    format!(
        "# Shrunk by `raida-sim shrink {} --seed {seed}`: the smallest scenario found whose\n\
         # seed {seed} still violates {target}.\n\n{body}",
        original.display()
    )
}

/// Sets `section.key`, creating the section.
fn set(value: &mut toml::Value, section: &str, key: &str, new: toml::Value) {
    let Some(root) = value.as_table_mut() else {
        return;
    };
    let table = root
        .entry(section)
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let Some(table) = table.as_table_mut() {
        table.insert(key.to_string(), new);
    }
}

/// A `[faults]` knob's value.
#[derive(Clone, PartialEq, Debug)]
enum FaultValue {
    Int(i64),
    Real(f64),
    Bool(bool),
    Names(Vec<String>),
    Other,
}

impl FaultValue {
    fn to_toml(&self) -> Option<toml::Value> {
        match self {
            FaultValue::Int(value) => Some((*value).into()),
            FaultValue::Real(value) => Some((*value).into()),
            FaultValue::Bool(value) => Some((*value).into()),
            FaultValue::Names(names) => Some(toml::Value::Array(
                names.iter().map(|n| n.as_str().into()).collect(),
            )),
            FaultValue::Other => None,
        }
    }

    fn is_off(&self) -> bool {
        match self {
            FaultValue::Int(value) => *value == 0,
            FaultValue::Real(value) => *value == 0.0,
            FaultValue::Names(names) => names.is_empty(),
            FaultValue::Bool(_) | FaultValue::Other => true,
        }
    }
}

/// One `[faults]` knob: name, value, and whether swarm varies it.
#[derive(Clone, PartialEq, Debug)]
struct FaultKnob {
    name: &'static str,
    value: FaultValue,
    vary: Vary,
}

impl FaultKnob {
    /// A fault that can be off (swarm turns it on and off).
    fn is_fault(&self) -> bool {
        matches!(self.vary, Vary::OnOff { .. } | Vary::Subset)
    }
}

fn fault_knobs(faults: &Faults) -> Vec<FaultKnob> {
    struct Collect(Vec<FaultKnob>);
    impl Visitor for Collect {
        fn knob(&mut self, knob: Knob<'_>) {
            let value = match knob.value {
                Value::Int { slot, .. } => FaultValue::Int(slot.get()),
                Value::Real { slot, .. } => FaultValue::Real(*slot),
                Value::Bool(slot) => FaultValue::Bool(*slot),
                Value::Names { slot, .. } => FaultValue::Names(slot.clone()),
                Value::Choice(_) | Value::Text { .. } => FaultValue::Other,
            };
            self.0.push(FaultKnob {
                name: knob.name,
                value,
                vary: knob.vary,
            });
        }
    }
    let mut collect = Collect(Vec::new());
    faults.clone().visit(&mut collect);
    collect.0
}

/// A size setting shrinking halves.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Size {
    Emails,
    Mailboxes,
    ClientHosts,
    Devices,
    Duration,
    Heal,
    Attachments,
    AttachmentBytes,
    BodyBytes,
}

impl Size {
    const ALL: [Size; 9] = [
        Size::Emails,
        Size::Mailboxes,
        Size::ClientHosts,
        Size::Devices,
        Size::Duration,
        Size::Heal,
        Size::Attachments,
        Size::AttachmentBytes,
        Size::BodyBytes,
    ];

    /// Section, key, current value and the smallest value it halves to.
    fn current(self, scenario: &Scenario) -> (&'static str, &'static str, u32, u32) {
        let (w, t, s) = (&scenario.workload, &scenario.topology, &scenario.sim);
        match self {
            Size::Emails => ("workload", "emails", w.emails, 1),
            Size::Mailboxes => ("topology", "mailboxes", t.mailboxes, 1),
            Size::ClientHosts => ("topology", "client_hosts", t.client_hosts.into(), 1),
            Size::Devices => (
                "topology",
                "devices_per_mailbox",
                t.devices_per_mailbox.into(),
                1,
            ),
            Size::Duration => ("sim", "duration_s", s.duration_s, 1),
            Size::Heal => ("sim", "heal_s", s.heal_s, 1),
            Size::Attachments => ("workload", "attachments_max", w.attachments_max.into(), 0),
            Size::AttachmentBytes => (
                "workload",
                "attachment_size_bytes_max",
                w.attachment_size_bytes_max,
                SIZE_BYTES_FLOOR,
            ),
            Size::BodyBytes => (
                "workload",
                "body_size_bytes_max",
                w.body_size_bytes_max,
                SIZE_BYTES_FLOOR,
            ),
        }
    }

    /// The file with this size halved (and what depends on it clamped), if it can shrink.
    fn halve(self, state: &State) -> Option<(String, toml::Value)> {
        let (section, key, now, floor) = self.current(&state.scenario);
        let no_attachments = state.scenario.workload.attachments_max == 0;
        if now <= floor || (self == Size::AttachmentBytes && no_attachments) {
            return None;
        }
        let new = (now / 2).max(floor);
        let mut value = state.value.clone();
        set(&mut value, section, key, i64::from(new).into());
        let workload = &state.scenario.workload;
        match self {
            Size::Mailboxes => {
                let max = u32::from(workload.recipients_max).min(new);
                let min = u32::from(workload.recipients_min).min(max);
                set(
                    &mut value,
                    "workload",
                    "recipients_max",
                    i64::from(max).into(),
                );
                set(
                    &mut value,
                    "workload",
                    "recipients_min",
                    i64::from(min).into(),
                );
            }
            Size::Duration
                if workload.send_window_s > new || has(&value, "workload", "send_window_s") =>
            {
                let window = workload.send_window_s.min(new).max(1);
                set(
                    &mut value,
                    "workload",
                    "send_window_s",
                    i64::from(window).into(),
                );
            }
            _ => {}
        }
        Some((format!("{section}.{key} {now} -> {new}"), value))
    }
}

fn has(value: &toml::Value, section: &str, key: &str) -> bool {
    value
        .get(section)
        .and_then(|table| table.get(key))
        .is_some()
}

/// One way to make the scenario smaller.
#[derive(Clone, PartialEq, Debug)]
enum Reduction {
    PinSwarm,
    DropFault(&'static str),
    Halve(Size),
    DropListItem(&'static str, String),
    HalveFault(&'static str),
}

/// Every reduction worth trying on `state`, in the order they are tried.
fn reductions(state: &State) -> Vec<Reduction> {
    let knobs = fault_knobs(&state.scenario.faults);
    let faults = || {
        knobs
            .iter()
            .filter(|knob| knob.is_fault() && !knob.value.is_off())
    };
    let mut list = Vec::new();
    if state.scenario.faults.swarm {
        list.push(Reduction::PinSwarm);
    }
    list.extend(faults().map(|knob| Reduction::DropFault(knob.name)));
    list.extend(Size::ALL.into_iter().map(Reduction::Halve));
    for knob in faults() {
        match &knob.value {
            FaultValue::Names(names) if names.len() > 1 => list.extend(
                names
                    .iter()
                    .map(|name| Reduction::DropListItem(knob.name, name.clone())),
            ),
            FaultValue::Int(_) | FaultValue::Real(_) => list.push(Reduction::HalveFault(knob.name)),
            _ => {}
        }
    }
    list
}

impl Reduction {
    /// The candidate file and a description of the change, if it applies to `state`.
    fn apply(&self, state: &State, seed: u64) -> Option<(String, toml::Value)> {
        let knobs = fault_knobs(&state.scenario.faults);
        let knob = |name: &str| knobs.iter().find(|knob| knob.name == name).cloned();
        let mut value = state.value.clone();
        let mut put = |name: &str, new: toml::Value| set(&mut value, "faults", name, new);
        let change = match self {
            Reduction::PinSwarm => {
                let resolved = state.scenario.faults.resolve(&SeedTree::new(seed));
                put("swarm", false.into());
                for knob in fault_knobs(&resolved) {
                    if knob.vary != Vary::Fixed {
                        put(knob.name, knob.value.to_toml()?);
                    }
                }
                "faults.swarm pinned to this seed's rates".to_string()
            }
            Reduction::DropFault(name) => {
                let old = knob(name)?;
                let off = match old.value {
                    FaultValue::Int(_) => 0.into(),
                    FaultValue::Real(_) => 0.0.into(),
                    FaultValue::Names(_) => toml::Value::Array(Vec::new()),
                    FaultValue::Bool(_) | FaultValue::Other => return None,
                };
                if old.value.is_off() {
                    return None;
                }
                put(name, off);
                format!("faults.{name} dropped")
            }
            Reduction::DropListItem(name, item) => {
                let FaultValue::Names(names) = knob(name)?.value else {
                    return None;
                };
                if names.len() < 2 || !names.contains(item) {
                    return None;
                }
                let kept: Vec<toml::Value> = names
                    .iter()
                    .filter(|n| *n != item)
                    .map(|n| n.as_str().into())
                    .collect();
                put(name, toml::Value::Array(kept));
                format!("faults.{name} without {item}")
            }
            Reduction::HalveFault(name) => {
                let (new, text) = match knob(name)?.value {
                    FaultValue::Int(now) if now >= 2 => {
                        ((now / 2).into(), format!("{now} -> {}", now / 2))
                    }
                    FaultValue::Real(now) if now / 2.0 >= RATE_FLOOR => {
                        ((now / 2.0).into(), format!("{now} -> {}", now / 2.0))
                    }
                    _ => return None,
                };
                put(name, new);
                format!("faults.{name} {text}")
            }
            Reduction::Halve(size) => return size.halve(state),
        };
        Some((change, value))
    }
}

/// The default output file: `SCENARIO-NAME.shrunk.seed-N.toml` in the current directory.
pub fn default_out_path(scenario: &Scenario, seed: u64) -> PathBuf {
    PathBuf::from(format!("{}.shrunk.seed-{seed}.toml", scenario.name))
}

/// What `shrink` prints when done.
pub fn render(shrunk: &Shrunk, out: &Path, seed: u64) -> String {
    let (b, a) = (&shrunk.before, &shrunk.after);
    let kept: Vec<&str> = shrunk.kept().map(|a| a.change.as_str()).collect();
    let ms = |ms: u64| format!("{}.{:03}", ms / 1000, ms % 1000);
    format!(
        "shrunk: {} of {} reductions kept; seed {seed} still violates {}\n\
         {}\
         faults fired {} -> {}\n\
         events {} -> {}\n\
         emails {} -> {}\n\
         {} violations {} -> {}\n\
         wall time s {} -> {}\n\
         written: {}\n\
         replay: {}\n",
        kept.len(),
        shrunk.attempts.len(),
        shrunk.target,
        kept.iter()
            .map(|c| format!("  kept: {c}\n"))
            .collect::<String>(),
        b.faults_fired,
        a.faults_fired,
        b.events,
        a.events,
        b.emails,
        a.emails,
        shrunk.target,
        b.target_violations,
        a.target_violations,
        ms(b.wall_ms),
        ms(a.wall_ms),
        out.display(),
        replay_command(&out.display().to_string(), seed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "[scenario]\nname = \"s\"\nseeds = \"0..4\"\n\
        [topology]\nmailboxes = 8\n[workload]\nemails = 20\nrecipients_min = 2\n\
        recipients_max = 6\nsend_window_s = 20\n[sim]\nduration_s = 30\n\
        [faults]\nswarm = true\npacket_loss = 0.04\ncrash_at_steps = [\"TellRenamed\", \"TellRead\"]\n\
        crash_at_step_fraction = 0.1\n\
        [expect]\nviolations = [\"ack_durable\"]\nmust_find = [\"ack_durable\"]\n";

    fn state(text: &str) -> State {
        let scenario = Scenario::from_toml_str(text, "s.toml").expect("parses");
        let value: toml::Value = toml::from_str(text).expect("toml");
        State {
            value,
            scenario,
            record: SeedRecord {
                seed: 3,
                verdict: crate::run::Verdict::Pass,
                wall_ms: 0,
                panic: None,
                report: None,
                traffic: None,
            },
        }
    }

    fn parse(value: &toml::Value) -> Scenario {
        let text = scenario_text(value);
        Scenario::from_toml_str(&text, "c.toml").unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn the_rewrite_runs_one_seed_under_a_new_name() {
        let state = state(FILE);
        let value = rewritten(&state.scenario, &state.value, 3, Invariant::AckDurable);
        let scenario = parse(&value);
        assert_eq!(scenario.name, "s-shrunk");
        assert_eq!(scenario.seeds, vec![3]);
        assert_eq!(scenario.expect.must_find, vec![Invariant::AckDurable]);
        let unexpected = rewritten(&state.scenario, &state.value, 3, Invariant::OneShot);
        assert!(parse(&unexpected).expect.must_find.is_empty());
        assert_eq!(scenario.faults, state.scenario.faults);
        assert_eq!(scenario.workload, state.scenario.workload);
    }

    #[test]
    fn reductions_keep_the_file_valid_and_smaller() {
        let state = state(FILE);
        let list = reductions(&state);
        assert_eq!(list.first(), Some(&Reduction::PinSwarm));
        assert!(list.contains(&Reduction::DropFault("packet_loss")));
        assert!(list.contains(&Reduction::DropListItem(
            "crash_at_steps",
            "TellRead".into()
        )));
        assert!(list.contains(&Reduction::HalveFault("crash_at_step_fraction")));
        let (mut applied, mut valid) = (0, 0);
        for reduction in &list {
            let Some((change, value)) = reduction.apply(&state, 3) else {
                continue;
            };
            applied += 1;
            let text = scenario_text(&value);
            if let Ok(scenario) = Scenario::from_toml_str(&text, "c.toml") {
                valid += 1;
                assert_ne!(scenario, state.scenario, "{change} changes something");
            }
        }
        // One device per mailbox does not halve.
        assert_eq!(applied, list.len() - 1, "{list:?}");
        // Only dropping the steps while their fraction is on is refused by validation.
        assert_eq!(valid, applied - 1, "{list:?}");
    }

    #[test]
    fn halving_mailboxes_clamps_recipients_and_duration_clamps_the_window() {
        let state = state(FILE);
        let (change, value) = Size::Mailboxes.halve(&state).expect("halves");
        assert_eq!(change, "topology.mailboxes 8 -> 4");
        let scenario = parse(&value);
        assert_eq!(scenario.topology.mailboxes, 4);
        assert_eq!(scenario.workload.recipients_max, 4);
        assert_eq!(scenario.workload.recipients_min, 2);
        let (_, value) = Size::Duration.halve(&state).expect("halves");
        let scenario = parse(&value);
        assert_eq!(
            (scenario.sim.duration_s, scenario.workload.send_window_s),
            (15, 15)
        );
        let tiny = super::tests::state(
            "[scenario]\nname = \"t\"\n[topology]\nmailboxes = 1\n[workload]\nrecipients_max = 1\n",
        );
        assert_eq!(Size::Mailboxes.halve(&tiny), None);
    }

    #[test]
    fn pinning_swarm_keeps_the_seeds_rates() {
        let state = state(FILE);
        let (_, value) = Reduction::PinSwarm.apply(&state, 3).expect("applies");
        let pinned = parse(&value);
        assert!(!pinned.faults.swarm);
        let mut resolved = state.scenario.faults.resolve(&SeedTree::new(3));
        resolved.swarm = false;
        assert_eq!(pinned.faults, resolved);
        assert_eq!(pinned.faults.resolve(&SeedTree::new(3)), resolved);
    }
}
