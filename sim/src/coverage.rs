//! Code-probe coverage: which of the server's and the client's probes (crate `probe`,
//! FoundationDB's `CODE_PROBE`) the runs hit, and the scenarios' `expect.must_hit` judged.
//!
//! Each seed's [`SeedReport::probes`] holds the probes its run hit. [`Coverage`] sums them
//! over any set of seeds into one row per declared probe (hits and seeds hitting; a probe
//! with none is never hit), and [`MustHit`] judges one scenario's `must_hit` list over its
//! seeds — only when every default seed is among them, as `must_find` is judged, since a
//! subset cannot promise what the default list does. `raida-sim coverage` prints both; the
//! scenario suite (`sim/tests/suite.rs`) judges `must_hit` from the seed runs it already
//! makes, so CI pays no extra run.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use probe::Probe;
use serde::{Deserialize, Serialize};

use crate::report::SeedReport;
use crate::scenario::Scenario;

/// Every registry whose probes coverage lists: its name and its probes, in print order.
pub fn registries() -> [(&'static str, &'static [&'static Probe]); 2] {
    [
        ("server", raida_server::probes::ALL),
        ("client", qmail_client::probes::ALL),
    ]
}

/// Every declared probe, registry by registry.
pub fn declared() -> impl Iterator<Item = (&'static str, &'static Probe)> {
    registries()
        .into_iter()
        .flat_map(|(registry, probes)| probes.iter().map(move |probe| (registry, *probe)))
}

/// The declared probe named `name`.
pub fn declared_probe(name: &str) -> Option<&'static Probe> {
    declared()
        .map(|(_, probe)| probe)
        .find(|probe| probe.name() == name)
}

/// One declared probe over a set of seeds.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ProbeRow {
    /// The probe's name.
    pub name: String,
    /// The registry declaring it (`server`, `client`).
    pub registry: String,
    /// What reaching it means.
    pub description: String,
    /// Hits over every seed.
    pub hits: u64,
    /// Seeds that hit it at least once.
    pub seeds_hitting: u64,
}

/// Hits of every declared probe over a set of seeds.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Coverage {
    /// Seeds counted.
    pub seeds: u64,
    /// One row per declared probe, in registry then declaration order.
    pub rows: Vec<ProbeRow>,
    /// Hits of names no registry declares (a probe from a newer or older build).
    pub undeclared: BTreeMap<String, u64>,
}

impl Coverage {
    /// The hits of `reports`, summed.
    pub fn from_reports<'a>(reports: impl IntoIterator<Item = &'a SeedReport>) -> Coverage {
        let mut coverage = Coverage {
            seeds: 0,
            rows: declared()
                .map(|(registry, probe)| ProbeRow {
                    name: probe.name().to_string(),
                    registry: registry.to_string(),
                    description: probe.description().to_string(),
                    hits: 0,
                    seeds_hitting: 0,
                })
                .collect(),
            undeclared: BTreeMap::new(),
        };
        for report in reports {
            coverage.add(report);
        }
        coverage
    }

    fn add(&mut self, report: &SeedReport) {
        self.seeds += 1;
        for (name, hits) in &report.probes {
            match self.rows.iter_mut().find(|row| &row.name == name) {
                Some(row) => {
                    row.hits = row.hits.saturating_add(*hits);
                    row.seeds_hitting += u64::from(*hits > 0);
                }
                None => {
                    let total = self.undeclared.entry(name.clone()).or_insert(0);
                    *total = total.saturating_add(*hits);
                }
            }
        }
    }

    /// The declared probes no seed hit, in row order.
    pub fn never_hit(&self) -> Vec<&str> {
        self.rows
            .iter()
            .filter(|row| row.hits == 0)
            .map(|row| row.name.as_str())
            .collect()
    }

    /// One line per declared probe (hits, seeds hitting, `NEVER HIT`), then the count of
    /// never-hit probes and any undeclared names.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let width = self
            .rows
            .iter()
            .map(|row| row.name.len())
            .max()
            .unwrap_or(0);
        let _ = writeln!(out, "{:width$}  {:>10}  {:>6}", "probe", "hits", "seeds");
        for row in &self.rows {
            let mark = if row.hits == 0 { "  NEVER HIT" } else { "" };
            let _ = writeln!(
                out,
                "{:width$}  {:>10}  {:>6}{mark}",
                row.name, row.hits, row.seeds_hitting
            );
        }
        for (name, hits) in &self.undeclared {
            let _ = writeln!(out, "{name:width$}  {hits:>10}  (declared by no registry)");
        }
        let _ = writeln!(
            out,
            "never hit: {} of {} probes over {} seeds",
            self.never_hit().len(),
            self.rows.len(),
            self.seeds
        );
        out
    }
}

/// One scenario's `expect.must_hit` judged over its seeds.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct MustHit {
    /// The scenario file.
    pub scenario_file: String,
    /// Whether every default seed was among the seeds (only then is it judged).
    pub judged: bool,
    /// Listed probes no seed hit (empty when not judged).
    pub missing: Vec<String>,
}

impl MustHit {
    /// Judges `scenario`'s must_hit over `reports` (the scenario's seed runs).
    pub fn judge<'a>(
        scenario: &Scenario,
        reports: impl IntoIterator<Item = &'a SeedReport> + Clone,
    ) -> MustHit {
        let judged = scenario.seeds.iter().all(|seed| {
            reports
                .clone()
                .into_iter()
                .any(|report| report.seed == *seed)
        });
        let missing = if judged {
            scenario
                .expect
                .must_hit
                .iter()
                .filter(|name| {
                    !reports
                        .clone()
                        .into_iter()
                        .any(|report| report.probes.get(*name).is_some_and(|hits| *hits > 0))
                })
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        MustHit {
            scenario_file: scenario.file_name.clone(),
            judged,
            missing,
        }
    }

    /// True unless a judged must_hit probe was never hit.
    pub fn passed(&self) -> bool {
        self.missing.is_empty()
    }

    /// One line per missing probe, or a note that it was not judged; empty when it holds.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for name in &self.missing {
            let _ = writeln!(
                out,
                "must_hit {name} FAILED: no default seed of {} hit it",
                self.scenario_file
            );
        }
        if !self.judged {
            let _ = writeln!(
                out,
                "must_hit of {} not judged: not every default seed was run",
                self.scenario_file
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::Faults;
    use crate::history::History;

    fn scenario(must_hit: &str) -> Scenario {
        let text = format!(
            "[scenario]\nname = \"cov\"\nseeds = [1, 2]\n[expect]\nmust_hit = {must_hit}\n"
        );
        Scenario::from_toml_str(&text, "scenarios/cov.toml").expect("parses")
    }

    fn report(scenario: &Scenario, seed: u64, probes: &[(&str, u64)]) -> SeedReport {
        let faults = Faults::default();
        SeedReport::new(scenario, seed, &faults, &History::new(), &[], 0).with_probes(
            probes
                .iter()
                .map(|(name, hits)| ((*name).to_string(), *hits))
                .collect(),
        )
    }

    #[test]
    fn registries_declare_distinct_names_under_their_prefix() {
        let mut names: Vec<&str> = declared().map(|(_, probe)| probe.name()).collect();
        for (registry, probe) in declared() {
            assert!(probe.name().starts_with(&format!("{registry}.")));
        }
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "probe names repeat across registries");
        assert!(declared_probe("server.tell.guard_skip").is_some());
        assert!(declared_probe("server.tell.nonsense").is_none());
    }

    #[test]
    fn coverage_sums_hits_and_seeds_and_marks_never_hit() {
        let scenario = scenario("[]");
        let reports = [
            report(&scenario, 1, &[("server.ping.parked", 3), ("old.probe", 1)]),
            report(&scenario, 2, &[("server.ping.parked", 2)]),
        ];
        let coverage = Coverage::from_reports(&reports);
        assert_eq!(coverage.seeds, 2);
        let row = coverage
            .rows
            .iter()
            .find(|row| row.name == "server.ping.parked")
            .expect("declared");
        assert_eq!((row.hits, row.seeds_hitting), (5, 2));
        assert_eq!(coverage.undeclared.get("old.probe"), Some(&1));
        assert!(coverage.never_hit().contains(&"server.tell.guard_skip"));
        assert!(!coverage.never_hit().contains(&"server.ping.parked"));
        let text = coverage.render();
        assert!(text.contains("server.tell.guard_skip"), "{text}");
        assert!(text.contains("NEVER HIT"), "{text}");
        assert!(text.contains("(declared by no registry)"), "{text}");
    }

    #[test]
    fn must_hit_is_judged_over_the_default_seeds_only() {
        let scenario = scenario("[\"server.ping.parked\", \"server.ping.timeout\"]");
        let both = [
            report(&scenario, 1, &[("server.ping.parked", 1)]),
            report(&scenario, 2, &[("server.ping.timeout", 4)]),
        ];
        assert!(MustHit::judge(&scenario, &both).passed());
        let one_short = [
            report(&scenario, 1, &[("server.ping.parked", 1)]),
            report(&scenario, 2, &[]),
        ];
        let judged = MustHit::judge(&scenario, &one_short);
        assert_eq!(judged.missing, vec!["server.ping.timeout".to_string()]);
        assert!(judged
            .render()
            .contains("must_hit server.ping.timeout FAILED"));
        let partial = MustHit::judge(&scenario, &one_short[..1]);
        assert!(!partial.judged && partial.passed());
        assert!(partial.render().contains("not judged"));
    }
}
