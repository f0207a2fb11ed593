//! A short soak (`examples/soak.rs`) with this crate's real `raida` binary: 25 daemons, four
//! clients, one RAIDA killed with SIGKILL and restarted about every 0.7 s for five seconds,
//! then the check that nothing acknowledged was lost (about 10 s in all).

#[path = "../examples/soak/driver.rs"]
mod driver;

use std::path::Path;

use clap::Parser;

#[test]
fn a_short_soak_under_kill_9_loses_nothing_acknowledged() {
    let options = driver::Options::parse_from([
        "soak",
        "--raidas",
        "25",
        "--clients",
        "4",
        "--seconds",
        "5",
        "--seed",
        "3",
        "--kill-interval-ms",
        "700",
        "--down-ms-max",
        "500",
    ]);
    let launcher = driver::Launcher::raida_binary(Path::new(env!("CARGO_BIN_EXE_raida")));
    let report = driver::run(&options, &launcher).expect("the soak runs");
    println!("{report}");
    assert!(report.kills >= 3, "the schedule killed: {report}");
    assert_eq!(report.kills, report.restarts, "{report}");
    assert!(
        report.sends.0 > 0 && report.tells.0 > 0,
        "work was done: {report}"
    );
    assert!(report.emails_checked.0 > 0, "{report}");
    assert_eq!(report.losses(), 0, "{report}");
}
