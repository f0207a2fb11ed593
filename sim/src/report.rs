//! Run summaries and verdicts.
//!
//! [`SeedReport`] is what one seed prints (and, as JSON, what a seed's child process hands
//! its parent): the seed, every parameter (scenario settings and
//! the fault rates the seed chose), counts of what happened, each invariant held or
//! violated, every violation with the command that replays it, and the trace digest. It
//! contains no wall time, so it can be snapshot-tested; the caller prints wall time on its
//! own line with [`render_wall_time`].
//!
//! [`SeedOutcome`] judges one seed against the scenario's `expect.violations`;
//! [`Outcome`] judges a whole seed list, including `expect.must_find` (every listed
//! invariant must be violated by at least one of the scenario's default seeds, so a fault
//! or checker that silently stops firing fails CI).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::checkers::{Invariant, Violation};
use crate::faults::Faults;
use crate::history::{EventKind, FaultKind, History};
use crate::limits::STATUS_SUCCESS;
use crate::scenario::Scenario;
use crate::trace::{format_sim_time, trace_digest};

/// Violations printed in full per run; the rest are counted.
pub const VIOLATIONS_PRINTED_MAX: usize = 20;

/// The command that replays one seed of one scenario file.
pub fn replay_command(scenario_file: &str, seed: u64) -> String {
    format!("cargo run --release -p raida-sim -- replay {scenario_file} --seed {seed}")
}

/// The wall-time line, printed apart from the (snapshot-stable) summary.
pub fn render_wall_time(wall: Duration) -> String {
    format!(
        "wall_time_s = {}.{:03}",
        wall.as_secs(),
        wall.subsec_millis()
    )
}

/// What happened in a run, counted.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct Counts {
    /// Distinct emails sent.
    pub emails: u64,
    /// Email revisions sent (an email with two revisions counts 2).
    pub email_revisions: u64,
    /// Tell attempts by clients.
    pub tells_sent: u64,
    /// Tell attempts the client saw answered 250.
    pub tells_sent_ok: u64,
    /// Tell requests the beacons handled.
    pub tells_handled: u64,
    /// Per-recipient publications.
    pub tells_accepted: u64,
    /// Tells devices received.
    pub tells_received: u64,
    /// Polls that got a reply.
    pub polls: u64,
    /// Polls that failed.
    pub polls_failed: u64,
    /// Files downloaded.
    pub downloads: u64,
    /// Downloads given up.
    pub downloads_failed: u64,
    /// Downloads that rebuilt a stripe from parity.
    pub stripes_rebuilt: u64,
    /// Faults fired, by kind name (every kind listed, zeros included).
    pub faults: BTreeMap<String, u64>,
    /// Events recorded, of every kind (JSON only: `shrink` reports it; the text summary
    /// does not print it).
    #[serde(default)]
    pub events: u64,
}

impl Counts {
    /// Counts a history.
    pub fn from_history(history: &History) -> Counts {
        let mut counts = Counts {
            faults: FaultKind::NAMES
                .iter()
                .map(|name| ((*name).to_string(), 0))
                .collect(),
            ..Counts::default()
        };
        counts.events = history.len() as u64;
        let mut emails = Vec::new();
        for event in history.events() {
            match &event.kind {
                EventKind::EmailSent { email_id, .. } => {
                    counts.email_revisions += 1;
                    emails.push(*email_id);
                }
                EventKind::TellSent { status, .. } => {
                    counts.tells_sent += 1;
                    counts.tells_sent_ok += u64::from(*status == Some(STATUS_SUCCESS));
                }
                EventKind::TellHandled { .. } => counts.tells_handled += 1,
                EventKind::TellAccepted { .. } => counts.tells_accepted += 1,
                EventKind::TellReceived { .. } => counts.tells_received += 1,
                EventKind::PollDone { .. } => counts.polls += 1,
                EventKind::PollFailed { .. } => counts.polls_failed += 1,
                EventKind::DownloadDone { rebuilt_stripe, .. } => {
                    counts.downloads += 1;
                    counts.stripes_rebuilt += u64::from(rebuilt_stripe.is_some());
                }
                EventKind::DownloadFailed { .. } => counts.downloads_failed += 1,
                EventKind::FaultFired { fault, .. } => {
                    *counts.faults.entry(fault.name().to_string()).or_insert(0) += 1;
                }
                EventKind::UploadStarted { .. }
                | EventKind::TellSkipped { .. }
                | EventKind::TellDeleted { .. }
                | EventKind::RequestStarted { .. }
                | EventKind::RequestDone { .. }
                | EventKind::ServerRequest { .. }
                | EventKind::PingParked { .. }
                | EventKind::PingResumed { .. }
                | EventKind::PingTimedOut { .. }
                | EventKind::TellsRead { .. }
                | EventKind::FsStep { .. }
                | EventKind::StripeAudited { .. }
                | EventKind::StripeExpiryAudited { .. }
                | EventKind::PhaseChange { .. } => {}
            }
        }
        emails.sort_unstable();
        emails.dedup();
        counts.emails = emails.len() as u64;
        counts
    }
}

/// One seed judged against the scenario's expectations.
///
/// A violation fails the seed when its invariant is not one the scenario expects, or when
/// it is expected but no injected fault explains it (no [`crate::checkers::Cause`]): the
/// faithful protocol breaks an expected invariant only through a fault, so an unexplained
/// violation of it is a bug hiding among the expected ones.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SeedOutcome {
    /// The seed.
    pub seed: u64,
    /// Violations per invariant (only invariants violated at least once).
    pub violated: BTreeMap<Invariant, usize>,
    /// Invariants that fail the seed: not expected, or expected with unexplained violations.
    pub unexpected: Vec<Invariant>,
    /// The expected invariants among `unexpected` (they fail through unexplained violations).
    #[serde(default)]
    pub unexplained: Vec<Invariant>,
}

impl SeedOutcome {
    /// Judges one seed's violations.
    pub fn new(scenario: &Scenario, seed: u64, violations: &[Violation]) -> SeedOutcome {
        let mut violated: BTreeMap<Invariant, usize> = BTreeMap::new();
        for violation in violations {
            *violated.entry(violation.invariant).or_insert(0) += 1;
        }
        let unexplained: Vec<Invariant> = violated
            .keys()
            .copied()
            .filter(|invariant| scenario.expect.allows(*invariant))
            .filter(|invariant| {
                violations
                    .iter()
                    .any(|v| v.invariant == *invariant && v.caused_by.is_none())
            })
            .collect();
        let unexpected = violated
            .keys()
            .copied()
            .filter(|invariant| {
                !scenario.expect.allows(*invariant) || unexplained.contains(invariant)
            })
            .collect();
        SeedOutcome {
            seed,
            violated,
            unexpected,
            unexplained,
        }
    }

    /// True when every violation was expected and explained.
    pub fn passed(&self) -> bool {
        self.unexpected.is_empty()
    }

    /// Whether this violation fails the seed: its invariant is not expected, or it is and
    /// no fault explains this violation.
    pub fn is_unexpected(&self, violation: &Violation) -> bool {
        self.unexpected.contains(&violation.invariant)
            && (!self.unexplained.contains(&violation.invariant) || violation.caused_by.is_none())
    }
}

/// A seed list judged as a whole.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Outcome {
    /// The scenario file (for replay commands).
    pub scenario_file: String,
    /// Each seed run, in run order.
    pub seeds: Vec<SeedOutcome>,
    /// Whether every default seed was run (only then is `must_find` judged).
    pub must_find_judged: bool,
    /// `must_find` invariants no seed violated (empty when not judged).
    pub missing_must_find: Vec<Invariant>,
}

impl Outcome {
    /// Judges the seeds run for a scenario.
    pub fn from_seeds(scenario: &Scenario, seeds: Vec<SeedOutcome>) -> Outcome {
        let must_find_judged = scenario
            .seeds
            .iter()
            .all(|seed| seeds.iter().any(|outcome| outcome.seed == *seed));
        let missing_must_find = if must_find_judged {
            scenario
                .expect
                .must_find
                .iter()
                .copied()
                .filter(|invariant| {
                    !seeds
                        .iter()
                        .any(|outcome| outcome.violated.contains_key(invariant))
                })
                .collect()
        } else {
            Vec::new()
        };
        Outcome {
            scenario_file: scenario.file_name.clone(),
            seeds,
            must_find_judged,
            missing_must_find,
        }
    }

    /// True when no seed had an unexpected violation and every `must_find` was found.
    pub fn passed(&self) -> bool {
        self.missing_must_find.is_empty() && self.seeds.iter().all(SeedOutcome::passed)
    }

    /// One line per failing seed (with its replay command), then the must_find verdict.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for seed in self.seeds.iter().filter(|seed| !seed.passed()) {
            let names: Vec<&str> = seed.unexpected.iter().map(|i| i.name()).collect();
            let _ = writeln!(
                out,
                "seed {} FAILED: unexpected {}\n  replay: {}",
                seed.seed,
                names.join(", "),
                replay_command(&self.scenario_file, seed.seed)
            );
        }
        for invariant in &self.missing_must_find {
            let _ = writeln!(
                out,
                "must_find {invariant} FAILED: no seed of the default list violated it"
            );
        }
        if !self.must_find_judged {
            out.push_str("must_find not judged: not every default seed was run\n");
        }
        let passed = self.seeds.iter().filter(|seed| seed.passed()).count();
        let _ = writeln!(
            out,
            "{}: {passed}/{} seeds as expected",
            if self.passed() { "PASS" } else { "FAIL" },
            self.seeds.len()
        );
        out
    }
}

/// Everything one seed's run reports: what `run` prints for it, what `--format json` emits
/// (one JSON object per line), and what a seed's child process hands its parent. It
/// contains no wall time, so its rendering can be snapshot-tested; the caller prints wall
/// time on its own line with [`render_wall_time`].
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct SeedReport {
    /// The scenario's name.
    pub scenario: String,
    /// The scenario file, as given (replay commands name it).
    pub scenario_file: String,
    /// The seed.
    pub seed: u64,
    /// Every scenario setting, `(key, value)`, in print order.
    pub parameters: Vec<(String, String)>,
    /// The fault rates this seed chose (swarm) or was given, `(key, value)`.
    pub faults: Vec<(String, String)>,
    /// What happened, counted.
    pub counts: Counts,
    /// Simulated time when the run stopped, microseconds.
    pub sim_end_us: u64,
    /// Every broken invariant, oldest first.
    pub violations: Vec<Violation>,
    /// The seed judged against the scenario's expectations.
    pub outcome: SeedOutcome,
    /// FNV-1a-64 of the JSON-lines trace, 16 hex digits.
    pub digest: String,
    /// Set when host software failed (returned an error): a bug, whatever the invariants say.
    pub error: Option<String>,
    /// The one command that replays this seed.
    pub replay: String,
    /// Code probes hit during the run, by name (only probes hit at least once; crate
    /// `probe`). `raida-sim coverage` sums them over seeds.
    #[serde(default)]
    pub probes: BTreeMap<String, u64>,
}

impl SeedReport {
    /// The report of a run that ended at `sim_end_us` (simulated time since the epoch).
    pub fn new(
        scenario: &Scenario,
        seed: u64,
        faults: &Faults,
        history: &History,
        violations: &[Violation],
        sim_end_us: u64,
    ) -> SeedReport {
        let digest = trace_digest(history);
        SeedReport::with_digest(
            scenario, seed, faults, history, violations, sim_end_us, digest,
        )
    }

    /// [`SeedReport::new`] for a run whose trace digest is already known: `digest` must be
    /// [`trace_digest`] of `history` (hashing a storm seed's trace again costs as much as a
    /// tenth of a second, so it is not checked here).
    pub fn with_digest(
        scenario: &Scenario,
        seed: u64,
        faults: &Faults,
        history: &History,
        violations: &[Violation],
        sim_end_us: u64,
        digest: u64,
    ) -> SeedReport {
        SeedReport {
            scenario: scenario.name.clone(),
            scenario_file: scenario.file_name.clone(),
            seed,
            parameters: scenario.parameters(),
            faults: faults.parameters(),
            counts: Counts::from_history(history),
            sim_end_us: sim_end_us.max(history.end_us()),
            violations: violations.to_vec(),
            outcome: SeedOutcome::new(scenario, seed, violations),
            digest: format!("{digest:016x}"),
            error: None,
            replay: replay_command(&scenario.file_name, seed),
            probes: BTreeMap::new(),
        }
    }

    /// The same report, with the code probes the run hit.
    pub fn with_probes(mut self, probes: BTreeMap<String, u64>) -> SeedReport {
        self.probes = probes;
        self
    }

    /// The same report, with the host software failure the run ended with.
    pub fn with_error(mut self, error: Option<String>) -> SeedReport {
        self.error = error;
        self
    }

    /// The counts.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// Faults fired, all kinds together.
    pub fn faults_fired(&self) -> u64 {
        self.counts.faults.values().sum()
    }

    /// True when every violation was expected and no host software failed.
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.outcome.passed()
    }

    /// Whether `violation`'s invariant is one this scenario does not expect.
    fn is_unexpected(&self, violation: &Violation) -> bool {
        self.outcome.is_unexpected(violation)
    }

    /// The summary text: stable for a given seed (no wall time).
    pub fn render(&self) -> String {
        self.render_with(ViolationFilter::All)
    }

    /// The summary text, listing the violations `filter` selects.
    pub fn render_with(&self, filter: ViolationFilter) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "run scenario={} seed={} file={}",
            self.scenario, self.seed, self.scenario_file
        );
        out.push_str("[parameters]\n");
        for (key, value) in &self.parameters {
            let _ = writeln!(out, "{key} = {value}");
        }
        out.push_str("[faults resolved for this seed]\n");
        for (key, value) in &self.faults {
            let _ = writeln!(out, "{key} = {value}");
        }
        self.render_counts(&mut out);
        self.render_invariants(&mut out);
        self.render_violations(&mut out, filter);
        if let Some(error) = &self.error {
            let _ = writeln!(out, "host failure: {error}\n  replay: {}", self.replay);
        }
        let _ = writeln!(out, "digest = {}", self.digest);
        let _ = writeln!(
            out,
            "verdict = {}",
            if self.passed() { "pass" } else { "FAIL" }
        );
        out
    }

    fn render_counts(&self, out: &mut String) {
        let c = &self.counts;
        out.push_str("[counts]\n");
        let _ = writeln!(out, "sim_time_s = {}", format_sim_time(self.sim_end_us));
        for (key, value) in [
            ("emails", c.emails),
            ("email_revisions", c.email_revisions),
            ("tells_sent", c.tells_sent),
            ("tells_sent_ok", c.tells_sent_ok),
            ("tells_handled", c.tells_handled),
            ("tells_accepted", c.tells_accepted),
            ("tells_received", c.tells_received),
            ("polls", c.polls),
            ("polls_failed", c.polls_failed),
            ("downloads", c.downloads),
            ("downloads_failed", c.downloads_failed),
            ("stripes_rebuilt", c.stripes_rebuilt),
        ] {
            let _ = writeln!(out, "{key} = {value}");
        }
        for (name, count) in &c.faults {
            let _ = writeln!(out, "faults.{name} = {count}");
        }
    }

    fn render_invariants(&self, out: &mut String) {
        out.push_str("[invariants]\n");
        for invariant in Invariant::ALL {
            let verdict = match self.outcome.violated.get(&invariant) {
                None => "held".to_string(),
                Some(count) => {
                    let explained = self
                        .violations
                        .iter()
                        .filter(|v| v.invariant == invariant && v.caused_by.is_some())
                        .count();
                    let expectation = if self.outcome.unexplained.contains(&invariant) {
                        "expected, but UNEXPLAINED ones fail the seed"
                    } else if self.outcome.unexpected.contains(&invariant) {
                        "UNEXPECTED"
                    } else {
                        "expected"
                    };
                    format!("violated {count} ({explained} explained by faults; {expectation})")
                }
            };
            let _ = writeln!(out, "{invariant} = {verdict}");
        }
    }

    /// Unexpected violations first (they fail the seed), then the expected ones; at most
    /// [`VIOLATIONS_PRINTED_MAX`] of each group print, the rest are counted.
    fn render_violations(&self, out: &mut String, filter: ViolationFilter) {
        let (unexpected, expected): (Vec<&Violation>, Vec<&Violation>) = self
            .violations
            .iter()
            .partition(|violation| self.is_unexpected(violation));
        let groups = match filter {
            ViolationFilter::All => vec![("UNEXPECTED", unexpected), ("expected", expected)],
            ViolationFilter::OnlyUnexpected => vec![("UNEXPECTED", unexpected)],
        };
        for (label, group) in groups {
            if group.is_empty() {
                continue;
            }
            let _ = writeln!(out, "[violations {label}: {}]", group.len());
            for violation in group.iter().take(VIOLATIONS_PRINTED_MAX) {
                let _ = writeln!(out, "{violation}\n  replay: {}", self.replay);
            }
            let rest = group.len().saturating_sub(VIOLATIONS_PRINTED_MAX);
            if rest > 0 {
                let _ = writeln!(
                    out,
                    "... and {rest} more {label} (replay prints them all)\n  replay: {}",
                    self.replay
                );
            }
        }
    }
}

/// Which violations a summary lists.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum ViolationFilter {
    /// Unexpected ones first, then expected ones.
    #[default]
    All,
    /// Only the ones the scenario does not expect (`--only-unexpected`).
    OnlyUnexpected,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkers::check_all;
    use crate::checkers::testing::*;
    use crate::history::{EventKind, FaultKind, Host};
    use crate::seed::SeedTree;

    const SCENARIO: &str = "
[scenario]
name = \"report\"
description = \"report test\"
seeds = [1, 2]
[expect]
violations = [\"ack_durable\", \"liveness\"]
must_find = [\"ack_durable\"]
";

    fn scenario() -> Scenario {
        Scenario::from_toml_str(SCENARIO, "scenarios/report.toml").expect("parses")
    }

    fn lossy_history() -> History {
        Builder::new()
            .email_sent(email(1), 0, &[BOB, CAROL])
            .tell(email(1), 0, &[BOB, CAROL])
            .fault(FaultKind::Crash { step: None }, &[Host::Raida(BEACON)])
            .healed()
            .receive(BOB, 0, email(1), 0)
            .push(
                Host::Client(1),
                EventKind::DownloadDone {
                    mailbox: BOB,
                    device: 0,
                    email_id: email(1),
                    file_type: 1,
                    size_bytes: 1000,
                    crc32: 0xAAAA_0000,
                    rebuilt_stripe: Some(3),
                },
            )
            .download_file(BOB, email(1), 0x0A, 50, 0xBBBB_0000)
            .build()
    }

    #[test]
    fn counts_what_happened() {
        let counts = Counts::from_history(&lossy_history());
        assert_eq!(counts.emails, 1);
        assert_eq!(counts.tells_sent, 1);
        assert_eq!(counts.tells_sent_ok, 1);
        assert_eq!(counts.tells_accepted, 2);
        assert_eq!(counts.tells_received, 1);
        assert_eq!(counts.downloads, 2);
        assert_eq!(counts.stripes_rebuilt, 1);
        assert_eq!(counts.faults.get("crash"), Some(&1));
        assert_eq!(counts.faults.get("partition"), Some(&0));
        assert_eq!(counts.faults.len(), FaultKind::NAMES.len());
        assert_eq!(counts.events, lossy_history().len() as u64);
    }

    #[test]
    fn summary_lists_parameters_counts_invariants_and_replay() {
        let scenario = scenario();
        let history = lossy_history();
        let violations = check_all(&history, &scenario.check_context());
        assert_eq!(violations.len(), 1, "{violations:?}");
        let faults = scenario.faults.resolve(&SeedTree::new(2));
        let summary = SeedReport::new(&scenario, 2, &faults, &history, &violations, 0);
        let text = summary.render();
        assert_eq!(text, summary.render(), "rendering is stable");
        assert!(text.starts_with("run scenario=report seed=2 file=scenarios/report.toml\n"));
        for needle in [
            "sim.tick_ms = 10\n",
            "packet_loss = 0\n",
            "tells_accepted = 2\n",
            "faults.crash = 1\n",
            "one_shot = held\n",
            "ack_durable = violated 1 (1 explained by faults; expected)\n",
            "caused by crash at",
            "  replay: cargo run --release -p raida-sim -- replay scenarios/report.toml --seed 2\n",
            "verdict = pass\n",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from\n{text}");
        }
        assert!(!text.contains("wall"));
        let outcome = summary.outcome.clone();
        assert!(outcome.passed());
        assert_eq!(outcome.violated.get(&Invariant::AckDurable), Some(&1));
    }

    #[test]
    fn unexpected_violations_fail_the_seed() {
        let scenario = scenario();
        let violation = Violation {
            invariant: Invariant::OneShot,
            at_sim_us: 5,
            detail: "twice".into(),
            caused_by: None,
        };
        let outcome = SeedOutcome::new(&scenario, 7, std::slice::from_ref(&violation));
        assert!(!outcome.passed());
        assert_eq!(outcome.unexpected, vec![Invariant::OneShot]);
        let faults = scenario.faults.resolve(&SeedTree::new(7));
        let violations = [violation];
        let text = SeedReport::new(
            &scenario,
            7,
            &faults,
            &History::new(),
            &violations,
            9_000_000,
        )
        .render();
        assert!(text.contains("one_shot = violated 1 (0 explained by faults; UNEXPECTED)"));
        assert!(text.contains("(no fault explains it)"));
        assert!(text.contains("sim_time_s = 9.000000\n"));
        assert!(text.ends_with("verdict = FAIL\n"));
    }

    #[test]
    fn must_find_is_judged_over_the_default_seeds() {
        let scenario = scenario();
        let found = |seed: u64| Violation {
            invariant: Invariant::AckDurable,
            at_sim_us: seed,
            detail: String::new(),
            caused_by: Some(link_loss()),
        };
        let with = Outcome::from_seeds(
            &scenario,
            vec![
                SeedOutcome::new(&scenario, 1, &[]),
                SeedOutcome::new(&scenario, 2, &[found(2)]),
            ],
        );
        assert!(with.must_find_judged);
        assert!(with.passed(), "{}", with.render());
        assert!(with.render().contains("PASS: 2/2 seeds as expected"));

        let without = Outcome::from_seeds(
            &scenario,
            vec![
                SeedOutcome::new(&scenario, 1, &[]),
                SeedOutcome::new(&scenario, 2, &[]),
            ],
        );
        assert_eq!(without.missing_must_find, vec![Invariant::AckDurable]);
        assert!(!without.passed());
        assert!(without.render().contains("must_find ack_durable FAILED"));

        let partial = Outcome::from_seeds(&scenario, vec![SeedOutcome::new(&scenario, 1, &[])]);
        assert!(!partial.must_find_judged);
        assert!(partial.passed());

        let failing = Outcome::from_seeds(
            &scenario,
            vec![SeedOutcome::new(
                &scenario,
                1,
                &[Violation {
                    invariant: Invariant::ExactRecord,
                    ..found(1)
                }],
            )],
        );
        let text = failing.render();
        assert!(
            text.contains("seed 1 FAILED: unexpected exact_record"),
            "{text}"
        );
        assert!(
            text.contains("replay scenarios/report.toml --seed 1"),
            "{text}"
        );
    }

    fn link_loss() -> crate::checkers::Cause {
        crate::checkers::Cause::from_fault(0, &FaultKind::LinkLoss, &[], "lost")
    }

    #[test]
    fn an_expected_invariant_broken_without_a_cause_fails_the_seed() {
        let scenario = scenario();
        let violation = |caused_by| Violation {
            invariant: Invariant::AckDurable,
            at_sim_us: 1,
            detail: String::new(),
            caused_by,
        };
        let explained = SeedOutcome::new(&scenario, 1, &[violation(Some(link_loss()))]);
        assert!(explained.passed());
        let mixed = [violation(Some(link_loss())), violation(None)];
        let unexplained = SeedOutcome::new(&scenario, 1, &mixed);
        assert!(!unexplained.passed());
        assert_eq!(unexplained.unexplained, vec![Invariant::AckDurable]);
        assert!(!unexplained.is_unexpected(&mixed[0]));
        assert!(unexplained.is_unexpected(&mixed[1]));
    }

    /// 25 expected `ack_durable` violations (each explained by a fault), then 3 unexpected
    /// `one_shot` ones, in time order.
    fn mixed_report() -> SeedReport {
        let scenario = scenario();
        let violation = |invariant, at_sim_us| Violation {
            invariant,
            at_sim_us,
            detail: format!("{invariant} at {at_sim_us}"),
            caused_by: (invariant == Invariant::AckDurable).then(link_loss),
        };
        let mut violations: Vec<Violation> = (0..25)
            .map(|at| violation(Invariant::AckDurable, at))
            .collect();
        violations.extend((100..103).map(|at| violation(Invariant::OneShot, at)));
        let faults = scenario.faults.resolve(&SeedTree::new(4));
        SeedReport::new(&scenario, 4, &faults, &History::new(), &violations, 0)
    }

    #[test]
    fn unexpected_violations_print_first_and_alone_on_request() {
        let report = mixed_report();
        let text = report.render();
        let unexpected_at = text.find("[violations UNEXPECTED: 3]").expect("header");
        let expected_at = text.find("[violations expected: 25]").expect("header");
        assert!(unexpected_at < expected_at, "{text}");
        for at in 100..103 {
            assert!(text.contains(&format!("one_shot at {at}")), "{text}");
        }
        assert!(text.contains("... and 5 more expected"), "{text}");
        let only = report.render_with(ViolationFilter::OnlyUnexpected);
        assert!(only.contains("one_shot at 102"));
        assert!(!only.contains("ack_durable at"), "{only}");
        assert!(only.contains("digest = "));
    }

    #[test]
    fn reports_survive_json() {
        let report = mixed_report();
        let json = serde_json::to_string(&report).expect("serializes");
        assert!(!json.contains('\n'), "one object per line");
        let back: SeedReport = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, report);
        assert_eq!(back.render(), report.render());
    }

    #[test]
    fn wall_time_has_its_own_line() {
        assert_eq!(
            render_wall_time(Duration::from_millis(12_345)),
            "wall_time_s = 12.345"
        );
    }
}
