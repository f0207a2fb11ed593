//! `raida-sim compare`: the same seeds of one scenario run on two sides — the base (the
//! scenario as written, plus `--base` extensions on every RAIDA and client) and the other
//! side (the scenario plus `--with` extensions) — side by side, and judged.
//!
//! **Judging.** A seed fails when the `with` side violates an invariant the base side does
//! not violate on that seed (expected by the scenario or not: an extension must not add a
//! hazard), or when either side panics or its host software fails. [`Comparison::passed`]
//! is the command's exit status.
//!
//! **Labels.** A side is named after every extension it runs, `name(some)` when only some
//! hosts run it (a scenario's own `[extensions]`), or `base` when it runs none.
//!
//! **Numbers.** Per side: each invariant's violation count, bytes on the wire (every byte
//! every client connection wrote and read), requests per email (connection attempts over
//! emails sent), and the mean, p50 and p99 of the simulated latency from an email's first
//! `TellSent` to each recipient's first `TellReceived` of it ([`Traffic`]).
//!
//! The CLI runs each (side, seed) in a fresh child process (`run --seed N --traffic`, on a
//! temporary copy of the scenario file with the side's extensions added);
//! [`compare_in_process`] runs them in this process (tests).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::checkers::Invariant;
use crate::extensions::{ExtensionName, ExtensionsConfig, Which};
use crate::history::{tell_key, EmailId, EventKind, History, MailboxId};
use crate::junit::{Failure, TestCase, TestSuite};
use crate::run::{run_full, SeedRecord, SeedRun};
use crate::scenario::Scenario;
use crate::world::RunResult;

/// What one run put on the wire and how long deliveries took.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Traffic {
    /// Bytes every client connection wrote and read.
    pub wire_bytes: u64,
    /// Connections clients tried to open.
    pub requests: u64,
    /// Emails sent (EmailSent events: revisions count).
    pub emails: u64,
    /// First-TellSent → first-TellReceived latency of each (email, recipient) delivered,
    /// microseconds, in (email, recipient) order.
    pub tell_latencies_us: Vec<u64>,
}

impl Traffic {
    /// The traffic of a finished run.
    pub fn from_run(run: &RunResult) -> Traffic {
        let (emails, tell_latencies_us) = latencies(&run.history);
        Traffic {
            wire_bytes: run.wire_bytes,
            requests: run.requests,
            emails,
            tell_latencies_us,
        }
    }
}

/// Emails sent, and every first-TellSent → first-TellReceived latency.
fn latencies(history: &History) -> (u64, Vec<u64>) {
    let mut emails = 0u64;
    let mut sent_us: BTreeMap<EmailId, u64> = BTreeMap::new();
    let mut received_us: BTreeMap<(EmailId, MailboxId), u64> = BTreeMap::new();
    for event in history.events() {
        match &event.kind {
            EventKind::EmailSent { .. } => emails += 1,
            EventKind::TellSent { email_id, .. } => {
                sent_us.entry(*email_id).or_insert(event.at_sim_us);
            }
            EventKind::TellReceived {
                mailbox, record, ..
            } => {
                if let Some((email_id, _)) = tell_key(&record.0) {
                    received_us
                        .entry((email_id, *mailbox))
                        .or_insert(event.at_sim_us);
                }
            }
            _ => {}
        }
    }
    let latencies = received_us
        .iter()
        .filter_map(|((email_id, _), at_us)| Some(at_us.saturating_sub(*sent_us.get(email_id)?)))
        .collect();
    (emails, latencies)
}

/// The `percent`-th percentile (nearest rank) of `sorted`, if it holds anything.
pub fn percentile(sorted: &[u64], percent: u64) -> Option<u64> {
    assert!((1..=100).contains(&percent), "percentile {percent}");
    let count = sorted.len() as u64;
    let rank = (percent * count).div_ceil(100).max(1);
    sorted.get(usize::try_from(rank - 1).ok()?).copied()
}

/// Which side of a comparison.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The scenario plus `--base` extensions.
    Base,
    /// The scenario plus `--with` extensions.
    With,
}

/// The scenario with `added` extensions on every RAIDA and client, on top of its own.
pub fn with_extensions(scenario: &Scenario, added: &[ExtensionName]) -> Scenario {
    let mut variant = scenario.clone();
    let everywhere = ExtensionsConfig::everywhere(added);
    variant.extensions.raidas.extend(everywhere.raidas);
    variant.extensions.clients.extend(everywhere.clients);
    variant
}

/// The same edit on a scenario file's TOML: `[extensions]` gains `NAME = "all"` under
/// `raidas` (and `clients`, for extensions with a client half). Errors when the file's
/// `[extensions]` is not a table of tables.
pub fn toml_with_extensions(
    file: &toml::Value,
    added: &[ExtensionName],
) -> Result<toml::Value, String> {
    let mut value = file.clone();
    let root = value
        .as_table_mut()
        .ok_or("a scenario file is a TOML table")?;
    for &name in added {
        let mut sides = vec!["raidas"];
        if name.has_client_half() {
            sides.push("clients");
        }
        for side in sides {
            let extensions = root
                .entry("extensions")
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let table = extensions
                .as_table_mut()
                .ok_or("[extensions] is not a table")?
                .entry(side)
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .ok_or_else(|| format!("extensions.{side} is not a table"))?;
            table.insert(name.as_str().into(), toml::Value::String("all".into()));
        }
    }
    Ok(value)
}

/// A side's name: every extension it runs (`name(some)` when not on every host that can
/// run it), or `base` when none.
pub fn label(scenario: &Scenario) -> String {
    let config = &scenario.extensions;
    let names: BTreeSet<ExtensionName> = config
        .raidas
        .keys()
        .chain(config.clients.keys())
        .copied()
        .collect();
    if names.is_empty() {
        return "base".into();
    }
    let everywhere = |name: &ExtensionName| {
        matches!(config.raidas.get(name), Some(Which::All))
            && (!name.has_client_half() || matches!(config.clients.get(name), Some(Which::All)))
    };
    names
        .iter()
        .map(|name| {
            if everywhere(name) {
                name.to_string()
            } else {
                format!("{name}(some)")
            }
        })
        .collect::<Vec<_>>()
        .join("+")
}

/// One seed run on one side.
#[derive(Clone, Debug, PartialEq)]
pub struct SideRun {
    /// The run as `--format json` records it (without traffic).
    pub record: SeedRecord,
    /// Its traffic (empty when the run panicked).
    pub traffic: Traffic,
}

impl SideRun {
    /// A child's record, its traffic taken out.
    pub fn from_record(mut record: SeedRecord) -> SideRun {
        let traffic = record.traffic.take().unwrap_or_default();
        SideRun { record, traffic }
    }

    /// Runs `seed` of `scenario` in this process.
    pub fn in_process(scenario: &Scenario, seed: u64) -> SideRun {
        let (result, wall) = run_full(scenario, seed);
        let traffic = result.as_ref().map(Traffic::from_run).unwrap_or_default();
        let run = SeedRun {
            seed,
            result: result.map(|run| run.report(scenario)),
            wall,
        };
        SideRun {
            record: run.record(),
            traffic,
        }
    }

    /// Invariants this run violated, with counts.
    pub fn violated(&self) -> BTreeMap<Invariant, usize> {
        self.record
            .report
            .as_ref()
            .map(|report| report.outcome.violated.clone())
            .unwrap_or_default()
    }

    /// Why the run could not be judged: its panic or its host failure.
    pub fn failure(&self) -> Option<String> {
        match (&self.record.panic, &self.record.report) {
            (Some(panic), _) => Some(format!("panicked: {panic}")),
            (None, Some(report)) => report
                .error
                .as_ref()
                .map(|error| format!("host software failed: {error}")),
            (None, None) => Some("no report".into()),
        }
    }
}

/// One seed on both sides.
#[derive(Clone, Debug, PartialEq)]
pub struct SeedRow {
    /// The seed.
    pub seed: u64,
    /// The base side's run.
    pub base: SideRun,
    /// The other side's run.
    pub with: SideRun,
}

impl SeedRow {
    /// Invariants the `with` side violated and the base side did not.
    pub fn new_violations(&self) -> Vec<Invariant> {
        let base = self.base.violated();
        self.with
            .violated()
            .into_keys()
            .filter(|invariant| !base.contains_key(invariant))
            .collect()
    }

    /// Why this seed fails the comparison (empty when it passes).
    pub fn problems(&self, base_label: &str, with_label: &str) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        for (label, side) in [(base_label, &self.base), (with_label, &self.with)] {
            if let Some(failure) = side.failure() {
                problems.push(("host_failure".into(), format!("{label} {failure}")));
            }
        }
        let with = self.with.violated();
        for invariant in self.new_violations() {
            let count = with.get(&invariant).copied().unwrap_or(0);
            problems.push((
                invariant.name().into(),
                format!("{with_label} violates {invariant} ({count}), {base_label} does not"),
            ));
        }
        problems
    }
}

/// What one side did over all seeds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VariantStats {
    /// `base` or the extensions the side runs ([`label`]).
    pub label: String,
    /// Seeds run.
    pub seed_count: u64,
    /// Violations per invariant, summed over the seeds.
    pub violations: BTreeMap<Invariant, u64>,
    /// Bytes on the wire, summed.
    pub wire_bytes: u64,
    /// Request attempts, summed.
    pub requests: u64,
    /// Emails sent (EmailSent events), summed.
    pub emails: u64,
    /// Sum of TellSent→TellReceived latencies, microseconds.
    pub latency_us_sum: u64,
    /// Number of (email, recipient) deliveries measured.
    pub latency_count: u64,
    /// Every latency measured, microseconds, sorted.
    pub latencies_us: Vec<u64>,
    /// Seeds whose host software failed or whose run panicked.
    pub host_errors: u64,
}

impl VariantStats {
    fn new(label: String) -> VariantStats {
        VariantStats {
            label,
            ..VariantStats::default()
        }
    }

    fn add(&mut self, run: &SideRun) {
        self.seed_count += 1;
        self.host_errors += u64::from(run.failure().is_some());
        for (invariant, count) in run.violated() {
            *self.violations.entry(invariant).or_default() += count as u64;
        }
        let traffic = &run.traffic;
        self.wire_bytes += traffic.wire_bytes;
        self.requests += traffic.requests;
        self.emails += traffic.emails;
        for &latency in &traffic.tell_latencies_us {
            self.latency_us_sum = self.latency_us_sum.saturating_add(latency);
            self.latency_count += 1;
            self.latencies_us.push(latency);
        }
        self.latencies_us.sort_unstable();
    }

    /// Violations of `invariant`.
    pub fn violations_of(&self, invariant: Invariant) -> u64 {
        self.violations.get(&invariant).copied().unwrap_or(0)
    }

    /// Mean latency in milliseconds, if anything was delivered.
    pub fn mean_latency_ms(&self) -> Option<f64> {
        (self.latency_count > 0)
            .then(|| self.latency_us_sum as f64 / self.latency_count as f64 / 1000.0)
    }

    /// The `percent`-th percentile latency in milliseconds, if anything was delivered.
    pub fn latency_ms(&self, percent: u64) -> Option<f64> {
        percentile(&self.latencies_us, percent).map(|us| us as f64 / 1000.0)
    }

    /// Requests per email sent.
    pub fn requests_per_email(&self) -> Option<f64> {
        (self.emails > 0).then(|| self.requests as f64 / self.emails as f64)
    }

    fn summary(&self) -> VariantSummary {
        VariantSummary {
            label: self.label.clone(),
            seed_count: self.seed_count,
            violations: self.violations.clone(),
            wire_bytes: self.wire_bytes,
            requests: self.requests,
            emails: self.emails,
            requests_per_email: self.requests_per_email(),
            latency_mean_ms: self.mean_latency_ms(),
            latency_p50_ms: self.latency_ms(50),
            latency_p99_ms: self.latency_ms(99),
            deliveries: self.latency_count,
            host_errors: self.host_errors,
        }
    }
}

/// One side in the JSON summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VariantSummary {
    /// The side's label.
    pub label: String,
    /// Seeds run.
    pub seed_count: u64,
    /// Violations per invariant.
    pub violations: BTreeMap<Invariant, u64>,
    /// Bytes on the wire.
    pub wire_bytes: u64,
    /// Request attempts.
    pub requests: u64,
    /// Emails sent.
    pub emails: u64,
    /// Requests per email.
    pub requests_per_email: Option<f64>,
    /// Mean TellSent→TellReceived latency, ms.
    pub latency_mean_ms: Option<f64>,
    /// Its median, ms.
    pub latency_p50_ms: Option<f64>,
    /// Its 99th percentile, ms.
    pub latency_p99_ms: Option<f64>,
    /// Deliveries measured.
    pub deliveries: u64,
    /// Seeds that panicked or whose host software failed.
    pub host_errors: u64,
}

/// One (side, seed) line of `compare --format json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompareSeedLine {
    /// Always `seed`.
    pub kind: String,
    /// Which side.
    pub side: Side,
    /// The side's label.
    pub label: String,
    /// The run (seed, verdict, report, ...).
    #[serde(flatten)]
    pub record: SeedRecord,
    /// Bytes on the wire.
    pub wire_bytes: u64,
    /// Request attempts.
    pub requests: u64,
    /// Median TellSent→TellReceived latency of this seed, ms.
    pub latency_p50_ms: Option<f64>,
    /// Its 99th percentile, ms.
    pub latency_p99_ms: Option<f64>,
}

/// The last line of `compare --format json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompareSummary {
    /// Always `summary`.
    pub kind: String,
    /// The scenario's name.
    pub scenario: String,
    /// Seeds compared.
    pub seeds: Vec<u64>,
    /// The base side.
    pub base: VariantSummary,
    /// The other side.
    pub with: VariantSummary,
    /// Each failing seed and why.
    pub failures: Vec<(u64, Vec<String>)>,
    /// Whether no seed failed.
    pub passed: bool,
}

/// A finished comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// The scenario as given.
    pub scenario: Scenario,
    /// The command that re-runs one seed of this comparison, with `{seed}` for the seed.
    pub rerun: String,
    /// The base side, over all seeds.
    pub base: VariantStats,
    /// The other side.
    pub with: VariantStats,
    /// Each seed, in seed order.
    pub rows: Vec<SeedRow>,
}

impl Comparison {
    /// Judges rows run on sides labelled `base_label` and `with_label`.
    pub fn new(
        scenario: &Scenario,
        labels: (String, String),
        rerun: String,
        rows: Vec<SeedRow>,
    ) -> Comparison {
        let mut base = VariantStats::new(labels.0);
        let mut with = VariantStats::new(labels.1);
        for row in &rows {
            base.add(&row.base);
            with.add(&row.with);
        }
        Comparison {
            scenario: scenario.clone(),
            rerun,
            base,
            with,
            rows,
        }
    }

    /// Why each failing seed fails, in seed order.
    pub fn failures(&self) -> Vec<(u64, Vec<(String, String)>)> {
        self.rows
            .iter()
            .map(|row| (row.seed, row.problems(&self.base.label, &self.with.label)))
            .filter(|(_, problems)| !problems.is_empty())
            .collect()
    }

    /// True when no seed fails.
    pub fn passed(&self) -> bool {
        self.failures().is_empty()
    }

    /// The command that re-runs `seed` of this comparison.
    pub fn rerun_command(&self, seed: u64) -> String {
        self.rerun.replace("{seed}", &seed.to_string())
    }

    /// Per-seed rows, the totals table and the verdict, as text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "compare {} over {} seeds: {} vs {}",
            self.scenario.name,
            self.rows.len(),
            self.base.label,
            self.with.label
        );
        self.render_rows(&mut out);
        self.render_table(&mut out);
        self.render_verdict(&mut out);
        out
    }

    fn render_rows(&self, out: &mut String) {
        let cell = |run: &SideRun| match run.failure() {
            Some(_) if run.record.report.is_none() => "PANIC".to_string(),
            failure => {
                let violated = run.violated();
                let mut text: Vec<String> = violated
                    .iter()
                    .map(|(invariant, count)| format!("{invariant}={count}"))
                    .collect();
                if failure.is_some() {
                    text.push("HOST-FAILURE".into());
                }
                if text.is_empty() {
                    "-".into()
                } else {
                    text.join(",")
                }
            }
        };
        let cells: Vec<(u64, String, String, String)> = self
            .rows
            .iter()
            .map(|row| {
                let problems = row.problems(&self.base.label, &self.with.label);
                let verdict = if problems.is_empty() { "ok" } else { "FAIL" };
                (row.seed, cell(&row.base), cell(&row.with), verdict.into())
            })
            .collect();
        let width = |pick: fn(&(u64, String, String, String)) -> usize, title: &str| {
            cells
                .iter()
                .map(pick)
                .chain([title.len()])
                .max()
                .unwrap_or(0)
        };
        let base_width = width(|c| c.1.len(), &self.base.label);
        let with_width = width(|c| c.2.len(), &self.with.label);
        let _ = writeln!(
            out,
            "{:>6}  {:<base_width$}  {:<with_width$}  verdict",
            "seed", self.base.label, self.with.label
        );
        for (seed, base, with, verdict) in &cells {
            let _ = writeln!(
                out,
                "{seed:>6}  {base:<base_width$}  {with:<with_width$}  {verdict}"
            );
        }
    }

    fn render_table(&self, out: &mut String) {
        let (base, with) = (&self.base, &self.with);
        let base_width = base.label.len().max(12);
        let with_width = with.label.len().max(12);
        let _ = writeln!(
            out,
            "{:<28} {:>base_width$} {:>with_width$}",
            "", base.label, with.label
        );
        let mut row = |name: &str, a: String, b: String| {
            let _ = writeln!(out, "{name:<28} {a:>base_width$} {b:>with_width$}");
        };
        for invariant in Invariant::ALL {
            row(
                &format!("violations {}", invariant.name()),
                base.violations_of(invariant).to_string(),
                with.violations_of(invariant).to_string(),
            );
        }
        let float = |value: Option<f64>| value.map_or("-".to_string(), |v| format!("{v:.2}"));
        row(
            "bytes on the wire",
            base.wire_bytes.to_string(),
            with.wire_bytes.to_string(),
        );
        row(
            "requests per email",
            float(base.requests_per_email()),
            float(with.requests_per_email()),
        );
        row(
            "mean latency to delivery ms",
            float(base.mean_latency_ms()),
            float(with.mean_latency_ms()),
        );
        row(
            "p50 latency to delivery ms",
            float(base.latency_ms(50)),
            float(with.latency_ms(50)),
        );
        row(
            "p99 latency to delivery ms",
            float(base.latency_ms(99)),
            float(with.latency_ms(99)),
        );
        row(
            "host errors",
            base.host_errors.to_string(),
            with.host_errors.to_string(),
        );
    }

    fn render_verdict(&self, out: &mut String) {
        let failures = self.failures();
        for (seed, problems) in &failures {
            for (_, problem) in problems {
                let _ = writeln!(out, "seed {seed} FAILED: {problem}");
            }
            let _ = writeln!(out, "  rerun: {}", self.rerun_command(*seed));
        }
        let _ = if failures.is_empty() {
            writeln!(
                out,
                "PASS: {} shows no violation {} does not, on {} seeds",
                self.with.label,
                self.base.label,
                self.rows.len()
            )
        } else {
            writeln!(out, "FAIL: {} of {} seeds", failures.len(), self.rows.len())
        };
    }

    /// `--format json`: one line per (side, seed), then the summary line.
    pub fn json_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for row in &self.rows {
            for (side, stats, run) in [
                (Side::Base, &self.base, &row.base),
                (Side::With, &self.with, &row.with),
            ] {
                let mut sorted = run.traffic.tell_latencies_us.clone();
                sorted.sort_unstable();
                let ms = |percent| percentile(&sorted, percent).map(|us| us as f64 / 1000.0);
                let line = CompareSeedLine {
                    kind: "seed".into(),
                    side,
                    label: stats.label.clone(),
                    record: run.record.clone(),
                    wire_bytes: run.traffic.wire_bytes,
                    requests: run.traffic.requests,
                    latency_p50_ms: ms(50),
                    latency_p99_ms: ms(99),
                };
                lines.push(to_json(&line));
            }
        }
        lines.push(to_json(&self.summary()));
        lines
    }

    /// The summary object of `--format json`.
    pub fn summary(&self) -> CompareSummary {
        CompareSummary {
            kind: "summary".into(),
            scenario: self.scenario.name.clone(),
            seeds: self.rows.iter().map(|row| row.seed).collect(),
            base: self.base.summary(),
            with: self.with.summary(),
            failures: self
                .failures()
                .into_iter()
                .map(|(seed, problems)| (seed, problems.into_iter().map(|p| p.1).collect()))
                .collect(),
            passed: self.passed(),
        }
    }

    /// `--junit`: one suite, one case per seed; each problem a failure, each side's
    /// violations `<system-out>` lines.
    pub fn junit(&self) -> TestSuite {
        let name = format!(
            "{}: {} vs {}",
            self.scenario.name, self.base.label, self.with.label
        );
        let cases = self
            .rows
            .iter()
            .map(|row| self.junit_case(&name, row))
            .collect();
        TestSuite { name, cases }
    }

    fn junit_case(&self, classname: &str, row: &SeedRow) -> TestCase {
        let rerun = self.rerun_command(row.seed);
        let failures = row
            .problems(&self.base.label, &self.with.label)
            .into_iter()
            .map(|(kind, message)| Failure {
                detail: format!("{message}\nrerun: {rerun}"),
                kind,
                message,
            })
            .collect();
        let mut system_out = Vec::new();
        for (label, run) in [(&self.base.label, &row.base), (&self.with.label, &row.with)] {
            for violation in run.record.report.iter().flat_map(|r| &r.violations) {
                system_out.push(format!("{label}: {violation}"));
            }
        }
        let wall_ms = row.base.record.wall_ms + row.with.record.wall_ms;
        TestCase {
            classname: classname.into(),
            name: format!("seed {}", row.seed),
            time_s: wall_ms as f64 / 1000.0,
            failures,
            skipped: None,
            system_out,
        }
    }
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("compare lines hold only serializable data")
}

/// Runs `seeds` of `scenario` with `base` and with `with` extensions added, in this
/// process.
pub fn compare_in_process(
    scenario: &Scenario,
    seeds: &[u64],
    base: &[ExtensionName],
    with: &[ExtensionName],
) -> Comparison {
    let base_side = with_extensions(scenario, base);
    let with_side = with_extensions(scenario, with);
    let rows = seeds
        .iter()
        .map(|&seed| SeedRow {
            seed,
            base: SideRun::in_process(&base_side, seed),
            with: SideRun::in_process(&with_side, seed),
        })
        .collect();
    let names = |list: &[ExtensionName]| {
        list.iter()
            .map(|name| name.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut rerun = format!(
        "raida-sim compare {} --seeds {{seed}} --with {}",
        scenario.file_name,
        names(with)
    );
    if !base.is_empty() {
        let _ = write!(rerun, " --base {}", names(base));
    }
    Comparison::new(
        scenario,
        (label(&base_side), label(&with_side)),
        rerun,
        rows,
    )
}

/// The scenario as written and with `with` added everywhere, over `seeds`, in this
/// process: each side's totals.
pub fn compare(
    scenario: &Scenario,
    seeds: &[u64],
    with: &[ExtensionName],
) -> (VariantStats, VariantStats) {
    let comparison = compare_in_process(scenario, seeds, &[], with);
    (comparison.base, comparison.with)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> ExtensionName {
        ExtensionName::parse(name).expect("a registered extension")
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let sorted: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&sorted, 50), Some(50));
        assert_eq!(percentile(&sorted, 99), Some(99));
        assert_eq!(percentile(&sorted, 100), Some(100));
        assert_eq!(percentile(&[7], 99), Some(7));
        assert_eq!(percentile(&[1, 2, 3], 50), Some(2));
        assert_eq!(percentile(&[], 50), None);
    }

    const MIXED: &str = "[scenario]\nname = \"m\"\n[extensions]\n\
        raidas = { replay_guard = [0, 2], delivery_ack = \"all\" }\n\
        clients = { delivery_ack = \"all\" }\n";

    #[test]
    fn labels_name_what_a_side_runs() {
        let plain = Scenario::from_toml_str("[scenario]\nname = \"p\"\n", "p.toml").expect("ok");
        assert_eq!(label(&plain), "base");
        let both = with_extensions(&plain, &[named("delivery_ack"), named("replay_guard")]);
        assert_eq!(label(&both), "replay_guard+delivery_ack");
        let mixed = Scenario::from_toml_str(MIXED, "m.toml").expect("ok");
        assert_eq!(label(&mixed), "replay_guard(some)+delivery_ack");
        let upgraded = with_extensions(&mixed, &[named("replay_guard")]);
        assert_eq!(label(&upgraded), "replay_guard+delivery_ack");
    }

    #[test]
    fn the_toml_edit_matches_the_in_memory_one() {
        for text in [MIXED, "[scenario]\nname = \"p\"\n"] {
            let scenario = Scenario::from_toml_str(text, "x.toml").expect("ok");
            let file: toml::Value = toml::from_str(text).expect("toml");
            for added in [
                vec![named("delivery_ack")],
                vec![named("replay_guard"), named("attachment_count")],
            ] {
                let edited = toml_with_extensions(&file, &added).expect("edits");
                let text = crate::tomlfile::scenario_text(&edited);
                let parsed = Scenario::from_toml_str(&text, "x.toml").expect("parses");
                assert_eq!(parsed, with_extensions(&scenario, &added), "{text}");
            }
        }
        let bad: toml::Value = toml::from_str("extensions = 3").expect("toml");
        assert!(toml_with_extensions(&bad, &[named("delivery_ack")]).is_err());
    }

    fn side(violated: &[(Invariant, usize)], panic: bool) -> SideRun {
        let scenario = Scenario::from_toml_str(
            "[scenario]\nname = \"j\"\n[expect]\nviolations = [\"ack_durable\"]\n",
            "j.toml",
        )
        .expect("ok");
        let violations: Vec<crate::checkers::Violation> = violated
            .iter()
            .flat_map(|&(invariant, count)| {
                (0..count).map(move |at| crate::checkers::Violation {
                    invariant,
                    at_sim_us: at as u64,
                    detail: "d".into(),
                    caused_by: None,
                })
            })
            .collect();
        let faults = scenario.faults.clone();
        let report =
            crate::report::SeedReport::new(&scenario, 1, &faults, &History::new(), &violations, 0);
        let run = SeedRun {
            seed: 1,
            result: if panic {
                Err("boom".into())
            } else {
                Ok(report)
            },
            wall: std::time::Duration::from_millis(5),
        };
        SideRun {
            record: run.record(),
            traffic: Traffic {
                tell_latencies_us: vec![1_000, 3_000],
                ..Traffic::default()
            },
        }
    }

    #[test]
    fn a_seed_fails_when_the_other_side_adds_a_violation_or_breaks() {
        let scenario = Scenario::from_toml_str("[scenario]\nname = \"j\"\n", "j.toml").expect("ok");
        let row = |base, with| SeedRow {
            seed: 1,
            base,
            with,
        };
        let judge = |row: SeedRow| {
            Comparison::new(
                &scenario,
                ("base".into(), "x".into()),
                "rerun {seed}".into(),
                vec![row],
            )
        };
        let fewer = judge(row(
            side(&[(Invariant::AckDurable, 2)], false),
            side(&[(Invariant::AckDurable, 1)], false),
        ));
        assert!(fewer.passed(), "{}", fewer.render());
        assert!(fewer
            .render()
            .contains("PASS: x shows no violation base does not"));
        let added = judge(row(
            side(&[(Invariant::AckDurable, 2)], false),
            side(
                &[(Invariant::AckDurable, 1), (Invariant::OneShot, 3)],
                false,
            ),
        ));
        assert!(!added.passed());
        let text = added.render();
        assert!(
            text.contains("seed 1 FAILED: x violates one_shot (3), base does not"),
            "{text}"
        );
        assert!(text.contains("  rerun: rerun 1"), "{text}");
        assert!(text.contains("ack_durable=2"), "{text}");
        assert!(!judge(row(side(&[], false), side(&[], true))).passed());
        assert!(!judge(row(side(&[], true), side(&[], false))).passed());
        assert_eq!(added.with.latency_ms(50), Some(1.0));
        assert_eq!(added.with.latency_ms(99), Some(3.0));
    }

    #[test]
    fn json_has_a_line_per_side_and_seed_and_a_summary() {
        let scenario = Scenario::from_toml_str("[scenario]\nname = \"j\"\n", "j.toml").expect("ok");
        let comparison = Comparison::new(
            &scenario,
            ("base".into(), "x".into()),
            "rerun {seed}".into(),
            vec![SeedRow {
                seed: 1,
                base: side(&[], false),
                with: side(&[(Invariant::OneShot, 1)], false),
            }],
        );
        let lines = comparison.json_lines();
        assert_eq!(lines.len(), 3);
        let base: CompareSeedLine = serde_json::from_str(&lines[0]).expect("a seed line");
        assert_eq!((base.side, base.label.as_str()), (Side::Base, "base"));
        assert_eq!(base.latency_p99_ms, Some(3.0));
        let record: SeedRecord = serde_json::from_str(&lines[1]).expect("a seed record");
        assert_eq!(record.seed, 1);
        let summary: CompareSummary = serde_json::from_str(&lines[2]).expect("a summary");
        assert!(!summary.passed);
        assert_eq!(summary.failures.len(), 1);
        assert_eq!(summary.with.violations.get(&Invariant::OneShot), Some(&1));
        let suite = comparison.junit();
        assert_eq!(suite.failed_count(), 1);
        assert_eq!(suite.cases[0].failures[0].kind, "one_shot");
    }
}
