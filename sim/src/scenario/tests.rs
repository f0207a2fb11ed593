//! Scenario parsing and validation, as a user meets them: defaults, every key, and errors
//! that name the file, line and key.

use std::path::Path;

use raida_server::settings::{DeleteOnRead, ResponseCounterSetting, Settings};

use super::*;
use crate::faults::Faults;
use crate::seed::{fnv1a_64, SeedTree};

fn parse(text: &str) -> Result<Scenario, ScenarioError> {
    Scenario::from_toml_str(text, "test.toml")
}

/// The (line, key) of an error, asserting it names the file.
fn located(text: &str) -> (usize, String, String) {
    match parse(text) {
        Err(ScenarioError::Invalid(error)) => {
            assert_eq!(error.file, "test.toml");
            (error.line, error.key, error.message)
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
    assert_eq!(scenario.faults, Faults::default());
    assert_eq!(scenario.server, Settings::default());
    assert_eq!(scenario.check_context().tell_skew_s, 60);
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
inbox_fee_default = 1
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
    assert_eq!(scenario.faults.network.packet_loss, 0.0);
    assert_eq!(
        scenario.faults.crash.crash_at_steps,
        vec!["TellRenamed", "TellTempSynced"]
    );
    assert_eq!(scenario.server.delete_on_read, DeleteOnRead::AfterReply);
    assert_eq!(
        scenario.server.response_counter,
        ResponseCounterSetting::Continue
    );
    assert_eq!(scenario.server.ping_timeout_status, 245);
    assert!(!scenario.server.inbox_dir_fsync);
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
    let (line, key, message) = located("[scenario]\nname = \"x\"\n[faults]\npacket_los = 0.1\n");
    assert_eq!((line, key.as_str()), (4, "faults.packet_los"));
    assert!(message.contains("unknown key `packet_los`"), "{message}");
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
    assert!(
        message.contains("expected an integer, found a string"),
        "{message}"
    );
    let (line, key, _) = located("[scenario]\nname = \"x\"\n[sim]\ntick_ms = -3\n");
    assert_eq!((line, key.as_str()), (4, "sim.tick_ms"));
    let (line, key, message) = located("[scenario]\nname = \"x\"\n[workload]\npoll = \"push\"\n");
    assert_eq!((line, key.as_str()), (4, "workload.poll"));
    assert!(message.contains("\"push\" is not one of"), "{message}");
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
    let (line, key, message) =
        located("[scenario]\nname = \"x\"\n[topology]\nraidas = 7\n[workload]\ndata_stripes = 7\n");
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
    let (_, key, _) =
        located("[scenario]\nname = \"x\"\n[workload]\ncc_fraction = 0.6\nbcc_fraction = 0.6\n");
    assert_eq!(key, "workload.bcc_fraction");
    let (_, key, _) = located("[scenario]\nname = \"x\"\n[faults]\ncrash_at_step_fraction = 0.5\n");
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
    let text = "[scenario]\nname = \"x\"\n[expect]\nviolations = [\"one_shot\",\n \"oneshot\"]\n";
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
    let scenario = parse(FULL.replace("swarm = true", "swarm = false").as_str()).expect("parses");
    let resolved = scenario.faults.resolve(&SeedTree::new(5));
    assert!(!resolved.swarm);
    assert_eq!(resolved, scenario.faults);
    assert_eq!(resolved.clock.clock_skew_s_max, 90);
    assert_eq!(resolved.network.partition_fraction, 0.01);
    assert!(!resolved.is_quiet());
    assert!(Faults::default().resolve(&SeedTree::new(5)).is_quiet());
}

#[test]
fn swarm_picks_rates_within_the_file_s_bounds() {
    let scenario = parse(FULL).expect("parses");
    let config = &scenario.faults;
    let mut some_off = false;
    let mut some_on = false;
    for seed in 0..40 {
        let resolved = config.resolve(&SeedTree::new(seed));
        assert!(resolved.swarm);
        assert!(resolved.clock.clock_drift_ppm_max <= 200);
        assert!((0.0..=0.1).contains(&resolved.clock.clock_step_fraction));
        assert_eq!(resolved.network.packet_loss, 0.0);
        assert!((2..=20).contains(&resolved.network.latency_ms_max));
        assert!((0.0..=0.5).contains(&resolved.crash.crash_rate_per_host_per_min));
        for rate in [
            resolved.adversary.replay_fraction,
            resolved.stripes.stripe_loss_fraction,
        ] {
            assert!(rate <= 0.1);
            some_off |= rate == 0.0;
            some_on |= rate > 0.0;
        }
    }
    assert!(some_off && some_on);
}

#[test]
fn resolved_faults_print_every_parameter_once() {
    let scenario = parse(FULL).expect("parses");
    let parameters = scenario.faults.resolve(&SeedTree::new(1)).parameters();
    let keys: Vec<&str> = parameters.iter().map(|(key, _)| key.as_str()).collect();
    assert_eq!(
        keys,
        [
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
            "replay_delay_s_max",
            "timestamp_split_fraction",
            "stripe_loss_fraction",
            "stripe_corrupt_fraction",
            "fs_latency_ms_max",
            "yield_step_fraction",
            "yield_ms_max",
            "writeback_s",
            "io_error_rate",
            "read_corruption_rate",
            "disk_capacity_bytes",
            "torn_write_block_bytes",
            "malformed_requests_per_min",
        ]
    );
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
        "caps",
        "stripes",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "scenarios/{expected}.toml missing"
        );
    }
}

const SHAPES: &str = r#"
[scenario]
name = "shapes"

[topology]
raidas = 20

[workload]
data_stripes = 4
data_stripes_max = 14
reed_solomon_fraction = 0.25
rs_parity_max = 6
revisions_max = 5
revision_burst_fraction = 0.5
hot_mailbox_fraction = 0.1
device_outage_fraction = 0.3
device_outage_s_min = 20
device_outage_s_max = 50
device_slow_fraction = 0.2
device_slow_factor = 6
tell_retries_max = 3
send_policy = "allow_one_missing_per_file"

[faults]
replay_delay_s_max = 200
timestamp_split_fraction = 0.05
"#;

#[test]
fn the_shape_keys_default_to_today_s_workload() {
    let scenario = parse("[scenario]\nname = \"mini\"\n").expect("parses");
    let workload = &scenario.workload;
    assert_eq!(workload.data_stripes_max, workload.data_stripes);
    assert_eq!(workload.reed_solomon_fraction, 0.0);
    assert_eq!(workload.rs_parity_max, 2);
    assert_eq!(workload.revisions_max, 2);
    assert_eq!(workload.revision_burst_fraction, 0.0);
    assert_eq!(workload.hot_mailbox_fraction, 0.0);
    assert_eq!(workload.device_outage_fraction, 0.0);
    assert_eq!(workload.device_slow_fraction, 0.0);
    assert_eq!(workload.tell_retries_max, 0);
    assert_eq!(workload.send_policy, SendPolicy::AllStripes);
    assert_eq!(scenario.faults.adversary.replay_delay_s_max, 45);
    assert_eq!(scenario.faults.adversary.timestamp_split_fraction, 0.0);
    // data_stripes_max follows data_stripes when unset.
    let wide = parse("[scenario]\nname = \"w\"\n[workload]\ndata_stripes = 11\n").expect("parses");
    assert_eq!(wide.workload.data_stripes_max, 11);
    // An outage minimum above the default maximum raises it.
    let long =
        parse("[scenario]\nname = \"l\"\n[workload]\ndevice_outage_s_min = 90\n").expect("parses");
    assert_eq!(long.workload.device_outage_s_max, 90);
}

#[test]
fn every_shape_key_parses_and_prints() {
    let scenario = parse(SHAPES).expect("parses");
    let workload = &scenario.workload;
    assert_eq!(workload.data_stripes_max, 14);
    assert_eq!(workload.reed_solomon_fraction, 0.25);
    assert_eq!(workload.rs_parity_max, 6);
    assert_eq!(workload.revisions_max, 5);
    assert_eq!(workload.revision_burst_fraction, 0.5);
    assert_eq!(workload.hot_mailbox_fraction, 0.1);
    assert_eq!(workload.device_outage_fraction, 0.3);
    assert_eq!(
        (workload.device_outage_s_min, workload.device_outage_s_max),
        (20, 50)
    );
    assert_eq!(
        (workload.device_slow_fraction, workload.device_slow_factor),
        (0.2, 6)
    );
    assert_eq!(
        (workload.tell_retries_max, workload.send_policy),
        (3, SendPolicy::AllowOneMissingPerFile)
    );
    // The simulated clients run them.
    let settings = crate::world::server_settings(&scenario);
    let config = crate::world::workload::client_config(&scenario, &settings);
    assert_eq!(
        (config.tell_retries_max, config.send_policy),
        (3, SendPolicy::AllowOneMissingPerFile)
    );
    assert_eq!(scenario.faults.adversary.replay_delay_s_max, 200);
    assert_eq!(scenario.faults.adversary.timestamp_split_fraction, 0.05);
    let parameters = scenario.parameters();
    for (key, value) in [
        ("workload.data_stripes_max", "14"),
        ("workload.reed_solomon_fraction", "0.25"),
        ("workload.device_slow_factor", "6"),
        ("workload.tell_retries_max", "3"),
        ("workload.send_policy", "\"allow_one_missing_per_file\""),
    ] {
        assert!(
            parameters.contains(&(key.into(), value.into())),
            "{key} = {value}"
        );
    }
    let faults = scenario.faults.parameters();
    assert!(faults.contains(&("replay_delay_s_max".into(), "200".into())));
    assert!(faults.contains(&("timestamp_split_fraction".into(), "0.05".into())));
}

#[test]
fn shape_keys_out_of_range_name_their_key_and_line() {
    let cases = [
        (
            "[workload]\ndata_stripes_max = 25\n",
            4,
            "workload.data_stripes_max",
        ),
        (
            "[workload]\ndata_stripes = 5\ndata_stripes_max = 4\n",
            5,
            "workload.data_stripes_max",
        ),
        (
            "[workload]\nreed_solomon_fraction = 1.5\n",
            4,
            "workload.reed_solomon_fraction",
        ),
        (
            "[workload]\nrs_parity_max = 1\n",
            4,
            "workload.rs_parity_max",
        ),
        (
            "[workload]\nrs_parity_max = 9\n",
            4,
            "workload.rs_parity_max",
        ),
        (
            "[workload]\nrevisions_max = 1\n",
            4,
            "workload.revisions_max",
        ),
        (
            "[workload]\nrevisions_max = 17\n",
            4,
            "workload.revisions_max",
        ),
        (
            "[workload]\nrevision_burst_fraction = -0.5\n",
            4,
            "workload.revision_burst_fraction",
        ),
        (
            "[workload]\nhot_mailbox_fraction = 2\n",
            4,
            "workload.hot_mailbox_fraction",
        ),
        (
            "[workload]\ndevice_outage_s_min = 0\n",
            4,
            "workload.device_outage_s_min",
        ),
        (
            "[workload]\ndevice_outage_s_min = 30\ndevice_outage_s_max = 20\n",
            5,
            "workload.device_outage_s_max",
        ),
        (
            "[workload]\ndevice_slow_factor = 21\n",
            4,
            "workload.device_slow_factor",
        ),
        (
            "[workload]\ntell_retries_max = 17\n",
            4,
            "workload.tell_retries_max",
        ),
        (
            "[workload]\nsend_policy = \"some_stripes\"\n",
            4,
            "workload.send_policy",
        ),
        (
            "[faults]\nreplay_delay_s_max = 301\n",
            4,
            "faults.replay_delay_s_max",
        ),
        (
            "[faults]\nreplay_delay_s_max = 0\n",
            4,
            "faults.replay_delay_s_max",
        ),
        (
            "[faults]\ntimestamp_split_fraction = 1.01\n",
            4,
            "faults.timestamp_split_fraction",
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
fn the_widest_email_must_fit_the_raidas() {
    let (line, key, message) = located(
        "[scenario]\nname = \"x\"\n[topology]\nraidas = 9\n[workload]\ndata_stripes_max = 9\n",
    );
    assert_eq!((line, key.as_str()), (6, "workload.data_stripes_max"));
    assert!(message.contains("need 10 RAIDAs"), "{message}");
    let (line, key, message) = located(
        "[scenario]\nname = \"x\"\n[topology]\nraidas = 12\n[workload]\n\
         data_stripes_max = 9\nreed_solomon_fraction = 0.5\nrs_parity_max = 4\n",
    );
    assert_eq!((line, key.as_str()), (8, "workload.rs_parity_max"));
    assert!(message.contains("need 13 RAIDAs"), "{message}");
    // Without Reed–Solomon the parity maximum is not held against the RAIDAs.
    parse(
        "[scenario]\nname = \"x\"\n[topology]\nraidas = 12\n[workload]\n\
         data_stripes_max = 9\nrs_parity_max = 4\n",
    )
    .expect("XOR only");
}

#[test]
fn swarm_varies_the_workload_shapes_within_their_bounds() {
    let scenario =
        parse(&SHAPES.replace("[faults]\n", "[faults]\nswarm = true\n")).expect("parses");
    let tree = SeedTree::new(0);
    assert_eq!(scenario.workload.resolve(false, &tree), scenario.workload);
    let (mut some_off, mut some_on, mut narrower) = (false, false, false);
    for seed in 0..40 {
        let tree = SeedTree::new(seed);
        let resolved = scenario.workload.resolve(true, &tree);
        assert_eq!(
            resolved,
            scenario.workload.resolve(true, &tree),
            "deterministic"
        );
        assert!((4..=14).contains(&resolved.data_stripes_max));
        assert!((2..=6).contains(&resolved.rs_parity_max));
        assert!((2..=5).contains(&resolved.revisions_max));
        assert!(resolved.reed_solomon_fraction <= 0.25);
        assert!(resolved.device_outage_fraction <= 0.3);
        // Fixed knobs stay as configured.
        assert_eq!(resolved.emails, scenario.workload.emails);
        assert_eq!(resolved.device_outage_s_max, 50);
        some_off |= resolved.hot_mailbox_fraction == 0.0;
        some_on |= resolved.hot_mailbox_fraction > 0.0;
        narrower |= resolved.data_stripes_max < 14;
        let faults = scenario.faults.resolve(&tree);
        assert!((1..=200).contains(&faults.adversary.replay_delay_s_max));
        assert!(faults.adversary.timestamp_split_fraction <= 0.05);
    }
    assert!(some_off && some_on && narrower);
}

#[test]
fn must_hit_names_declared_probes_and_points_at_an_unknown_one() {
    let text = "[scenario]\nname = \"x\"\n[expect]\nmust_hit = [\n  \"server.ping.parked\",\n  \"server.ping.parkd\",\n]\n";
    let (line, key, message) = located(text);
    assert_eq!((line, key.as_str()), (6, "expect.must_hit"));
    assert!(message.contains("server.ping.parkd"), "{message}");
    let text = "[scenario]\nname = \"x\"\n[expect]\nmust_hit = [\"server.ping.parked\", \"client.ping.timed_out\", \"server.ping.parked\"]\n";
    let scenario = parse(text).expect("declared probes parse");
    assert_eq!(
        scenario.expect.must_hit,
        vec!["server.ping.parked", "client.ping.timed_out"]
    );
}
