//! `raida-sim compare`: the same seeds of one scenario run twice, as written and with
//! protocol extensions added on every RAIDA and client, side by side.
//!
//! For each variant the table gives each invariant's violation count, bytes on the wire
//! (every byte every client connection wrote and read), requests per email (connection
//! attempts over emails sent) and the mean simulated latency from an email's first
//! `TellSent` to each recipient's first `TellReceived` of it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::checkers::Invariant;
use crate::extensions::{ExtensionName, ExtensionsConfig};
use crate::history::{tell_key, EmailId, EventKind, History, MailboxId};
use crate::scenario::Scenario;
use crate::world::{run_seed, RunResult};

/// What one variant did over all seeds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VariantStats {
    /// `base` or the added extensions.
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
    /// Seeds whose host software failed.
    pub host_errors: u64,
}

impl VariantStats {
    fn add(&mut self, run: &RunResult) {
        self.seed_count += 1;
        for violation in &run.violations {
            *self.violations.entry(violation.invariant).or_default() += 1;
        }
        self.wire_bytes += run.wire_bytes;
        self.requests += run.requests;
        self.host_errors += u64::from(run.error.is_some());
        let (emails, latency_us_sum, latency_count) = latencies(&run.history);
        self.emails += emails;
        self.latency_us_sum += latency_us_sum;
        self.latency_count += latency_count;
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

    /// Requests per email sent.
    pub fn requests_per_email(&self) -> Option<f64> {
        (self.emails > 0).then(|| self.requests as f64 / self.emails as f64)
    }
}

/// Emails sent, and the sum and count of first-TellSent → first-TellReceived latencies.
fn latencies(history: &History) -> (u64, u64, u64) {
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
    let (sum, count) = received_us
        .iter()
        .filter_map(|((email_id, _), at_us)| Some(at_us.saturating_sub(*sent_us.get(email_id)?)))
        .fold((0u64, 0u64), |(sum, count), latency| {
            (sum.saturating_add(latency), count + 1)
        });
    (emails, sum, count)
}

/// The scenario as written and with `with` added everywhere, over `seeds`.
pub fn compare(
    scenario: &Scenario,
    seeds: &[u64],
    with: &[ExtensionName],
) -> (VariantStats, VariantStats) {
    let base = scenario.clone();
    let mut extended = scenario.clone();
    let added = ExtensionsConfig::everywhere(with);
    extended.extensions.raidas.extend(added.raidas);
    extended.extensions.clients.extend(added.clients);
    let label = with
        .iter()
        .map(|name| name.as_str())
        .collect::<Vec<_>>()
        .join("+");
    let mut stats = (
        VariantStats {
            label: "base".to_string(),
            ..VariantStats::default()
        },
        VariantStats {
            label,
            ..VariantStats::default()
        },
    );
    for &seed in seeds {
        stats.0.add(&run_seed(&base, seed));
        stats.1.add(&run_seed(&extended, seed));
    }
    stats
}

/// The comparison as a text table, one column per variant.
pub fn render(scenario: &Scenario, seeds: &[u64], stats: &(VariantStats, VariantStats)) -> String {
    let (base, with) = stats;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "compare {} over {} seeds: base vs {}",
        scenario.name,
        seeds.len(),
        with.label
    );
    let width = with.label.len().max(12);
    let _ = writeln!(out, "{:<28} {:>12} {:>width$}", "", "base", with.label);
    let mut row = |name: &str, a: String, b: String| {
        let _ = writeln!(out, "{name:<28} {a:>12} {b:>width$}");
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
        "host errors",
        base.host_errors.to_string(),
        with.host_errors.to_string(),
    );
    out
}
