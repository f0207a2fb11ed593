//! `raida-sim perfetto`: a failing seed of `scenarios/loss.toml` exported as trace-event
//! JSON, validated against the format Perfetto reads (top-level `traceEvents`, typed
//! fields, complete spans with a duration, flows paired by id, one named track per host)
//! and against the run (its violations appear as global instants).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use common::{raida_sim, stdout};
use serde_json::Value;

/// A seed of `scenarios/loss.toml` that violates `ack_durable` (a ping reply carrying a
/// tell lost with its link).
const LOSS_SEED: &str = "1";

fn scenario_path(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("scenarios")
        .join(name);
    path.to_str().expect("utf-8 path").to_string()
}

fn field<'a>(event: &'a Value, key: &str) -> &'a Value {
    event
        .get(key)
        .unwrap_or_else(|| panic!("event without {key}: {event}"))
}

fn validate(events: &[Value]) {
    let phases = ["X", "i", "s", "f", "M"];
    for event in events {
        assert!(field(event, "name").is_string(), "{event}");
        let ph = field(event, "ph").as_str().expect("ph is a string");
        assert!(phases.contains(&ph), "{event}");
        assert!(field(event, "ts").is_u64(), "{event}");
        assert!(field(event, "pid").is_u64(), "{event}");
        assert!(field(event, "tid").is_u64(), "{event}");
        match ph {
            "X" => assert!(field(event, "dur").is_u64(), "a span has dur >= 0: {event}"),
            "i" => {
                let scope = field(event, "s").as_str().expect("instant scope");
                assert!(["t", "p", "g"].contains(&scope), "{event}");
            }
            "s" | "f" => assert!(field(event, "id").is_u64(), "{event}"),
            _ => {}
        }
    }
}

/// Flow ids start once and end once, and each end binds to its enclosing slice.
fn validate_flows(events: &[Value]) -> usize {
    let mut flows: BTreeMap<u64, (usize, usize)> = BTreeMap::new();
    for event in events {
        let ph = field(event, "ph").as_str().unwrap_or("");
        if ph != "s" && ph != "f" {
            continue;
        }
        let id = field(event, "id").as_u64().expect("flow id");
        let entry = flows.entry(id).or_default();
        if ph == "s" {
            entry.0 += 1;
        } else {
            entry.1 += 1;
            assert_eq!(field(event, "bp").as_str(), Some("e"), "{event}");
        }
    }
    for (id, (starts, ends)) in &flows {
        assert_eq!((*starts, *ends), (1, 1), "flow {id}");
    }
    flows.len()
}

#[test]
fn a_failing_loss_seed_exports_a_valid_picture() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("loss.json");
    let out_text = out.to_str().expect("utf-8");
    let run = raida_sim(&[
        "perfetto",
        &scenario_path("loss.toml"),
        "--seed",
        LOSS_SEED,
        "--out",
        out_text,
    ]);
    let text = stdout(&run);
    assert!(text.contains("trace events written to"), "{text}");
    let listed = text
        .lines()
        .filter(|line| line.starts_with("ack_durable at "))
        .count();
    assert!(listed >= 1, "seed {LOSS_SEED} violates ack_durable: {text}");

    let bytes = std::fs::read(&out).expect("the export exists");
    let document: Value = serde_json::from_slice(&bytes).expect("valid JSON");
    assert_eq!(document["displayTimeUnit"], "ms");
    let events = document["traceEvents"]
        .as_array()
        .expect("top-level traceEvents array");
    validate(events);
    assert!(validate_flows(events) > 100, "client→server arrows");

    let tracks: BTreeSet<&str> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "process_name")
        .filter_map(|e| e["args"]["name"].as_str())
        .collect();
    for raida in 0..25 {
        assert!(
            tracks.contains(format!("raida{raida:02}").as_str()),
            "{tracks:?}"
        );
    }
    for track in ["client00", "client01", "world"] {
        assert!(tracks.contains(track), "{tracks:?}");
    }
    let violations = events
        .iter()
        .filter(|e| e["ph"] == "i" && e["s"] == "g" && e["name"] == "violation: ack_durable")
        .count();
    assert_eq!(violations, listed, "every listed violation is an instant");
    let spans = |cat: &str| {
        events
            .iter()
            .filter(|e| e["ph"] == "X" && e["cat"] == cat)
            .count()
    };
    assert!(spans("client") > 0 && spans("server") > 0 && spans("park") > 0);
    assert!(
        events.iter().any(|e| e["cat"] == "fs"),
        "file-system steps are drawn"
    );
    assert!(events
        .iter()
        .any(|e| e["ph"] == "i" && e["name"] == "fault: link_loss"));
}
