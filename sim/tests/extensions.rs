//! Protocol extensions in the simulator: each worked extension answers the hazard of its
//! scenario (violations without it, none with it, over the same fixed seeds), a mixed network
//! of upgraded and legacy peers keeps every invariant, and bad `[extensions]` keys are
//! refused naming the key.

use std::path::Path;

use raida_sim::checkers::Invariant;
use raida_sim::compare::{compare, VariantStats};
use raida_sim::extensions::{ExtensionName, Which};
use raida_sim::scenario::{Scenario, ScenarioError};
use raida_sim::world::run_seed;

fn named(name: &str) -> ExtensionName {
    ExtensionName::parse(name).expect("a registered extension")
}

fn scenario_file(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(format!("{name}.toml"));
    Scenario::load(&path).unwrap_or_else(|error| panic!("{error}"))
}

/// Runs the scenario's default seeds without and with `with`.
fn both(name: &str, with: ExtensionName) -> (VariantStats, VariantStats) {
    let scenario = scenario_file(name);
    assert!(
        scenario.extensions.is_empty(),
        "{name} runs the base protocol"
    );
    let seeds = scenario.seeds.clone();
    compare(&scenario, &seeds, &[with])
}

fn assert_answers(stats: &(VariantStats, VariantStats), hazards: &[Invariant]) {
    let (base, with) = stats;
    assert_eq!(base.host_errors + with.host_errors, 0);
    for &hazard in hazards {
        assert!(
            base.violations_of(hazard) > 0,
            "the base protocol shows {hazard:?}: {base:?}"
        );
    }
    for invariant in Invariant::ALL {
        assert_eq!(
            with.violations_of(invariant),
            0,
            "{} leaves {invariant:?}: {with:?}",
            with.label
        );
    }
    assert!(with.wire_bytes > 0 && with.requests > 0 && with.latency_count > 0);
}

#[test]
fn replay_guard_ends_replayed_revisions() {
    let stats = both("ext-replay-guard", named("replay_guard"));
    assert_answers(&stats, &[Invariant::RevisionOrder, Invariant::OneShot]);
}

#[test]
fn delivery_ack_ends_tells_lost_with_their_reply() {
    let stats = both("ext-delivery-ack", named("delivery_ack"));
    assert_answers(&stats, &[Invariant::AckDurable]);
}

#[test]
fn a_mixed_network_of_upgraded_and_legacy_peers_keeps_every_invariant() {
    let scenario = scenario_file("ext-mixed");
    // Really mixed: some beacons and mailboxes run each extension, some do not.
    for which in scenario
        .extensions
        .raidas
        .values()
        .chain(scenario.extensions.clients.values())
    {
        assert!(
            matches!(which, Which::Ids(ids) if !ids.is_empty()),
            "{which}"
        );
    }
    assert!(!scenario.extensions.server_set(0).is_empty());
    assert!(scenario.extensions.server_set(1).names() == vec!["delivery_ack"]);
    assert!(scenario.extensions.server_set(13).is_empty());
    assert!(!scenario.extensions.client_set(0).is_empty());
    assert!(scenario.extensions.client_set(1).is_empty());
    for seed in scenario.seeds.clone() {
        let run = run_seed(&scenario, seed);
        assert_eq!(run.error, None, "seed {seed}");
        assert_eq!(run.violations, vec![], "seed {seed}");
        assert!(run.passed(), "seed {seed}");
    }
}

fn error_of(extensions: &str) -> (String, String) {
    let text = format!("[scenario]\nname = \"x\"\n[extensions]\n{extensions}\n");
    match Scenario::from_toml_str(&text, "x.toml") {
        Err(ScenarioError::Invalid(error)) => (error.key, error.message),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn bad_extension_keys_are_refused_naming_the_key() {
    let (key, message) = error_of("raidas = { replay_gaurd = \"all\" }");
    assert_eq!(key, "extensions.raidas.replay_gaurd");
    assert!(message.contains("unknown extension"), "{message}");
    let (key, message) = error_of("clients = { replay_guard = \"all\" }");
    assert_eq!(key, "extensions.clients.replay_guard");
    assert!(message.contains("beacon only"), "{message}");
    let (key, message) = error_of("raidas = { delivery_ack = [25] }");
    assert_eq!(key, "extensions.raidas.delivery_ack");
    assert!(message.contains("outside"), "{message}");
    let (key, _) = error_of("raidas = { delivery_ack = \"some\" }");
    assert_eq!(key, "extensions.raidas.delivery_ack");
}

/// Whether the record's file-header byte 59 is nonzero.
fn byte_59(record: &[u8]) -> u8 {
    record.get(59).copied().unwrap_or(0)
}

#[test]
fn attachment_count_passes_through_upgraded_beacons_and_legacy_beacons_refuse_it() {
    use raida_sim::history::EventKind;
    let base = "[topology]\nmailboxes = 6\nclient_hosts = 1\n\
                [workload]\nemails = 12\nsend_window_s = 20\n\
                [sim]\nduration_s = 40\nheal_s = 60\n";
    let upgraded = Scenario::from_toml_str(
        &format!(
            "[scenario]\nname = \"ac\"\nseeds = \"0..1\"\n{base}\
             [extensions]\nraidas = {{ attachment_count = \"all\" }}\n\
             clients = {{ attachment_count = \"all\" }}\n"
        ),
        "ac.toml",
    )
    .expect("valid");
    let run = run_seed(&upgraded, 0);
    assert_eq!(run.error, None);
    assert_eq!(run.violations, vec![], "upgraded beacons and clients");
    let received_with_count = run
        .history
        .events()
        .iter()
        .filter(|event| {
            matches!(&event.kind, EventKind::TellReceived { record, .. } if byte_59(&record.0) > 0)
        })
        .count();
    assert!(
        received_with_count > 0,
        "byte 59 reached the recipients verbatim"
    );

    // The same clients against legacy beacons: the tell page's rule refuses the tail (198).
    let mut legacy_beacons = upgraded.clone();
    legacy_beacons.extensions.raidas.clear();
    let run = run_seed(&legacy_beacons, 0);
    assert_eq!(run.error, None);
    let refused = run
        .history
        .events()
        .iter()
        .filter(|event| matches!(&event.kind, EventKind::TellHandled { status: 198, .. }))
        .count();
    assert!(
        refused > 0,
        "legacy beacons refuse a nonzero file-header tail"
    );
}
