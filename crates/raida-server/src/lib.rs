//! raida-server: a faithful RAIDA QMail server (group 6: upload 70, tell 71, ping 72,
//! peek 73, download 74), written so one code base runs both as the real `raida` daemon and
//! inside the turmoil simulator.
//!
//! Command handling is plain async functions over an [`env::Env`]: the clock
//! ([`clock`]), the file system and its crash-point hooks ([`fs`]), a seeded RNG, this
//! RAIDA's coins, lockers and inbox fees ([`coins`], loaded by [`provision`]) and the durable
//! stores ([`store`]: inboxes of `.tell` files, uploaded stripes). The daemon fills the
//! environment with the machine clock and the real disk; the simulator with a skewed host
//! clock and turmoil's simulated disk. Behaviours the protocol pages leave open are named
//! [`settings`]; sizes and ranges live in [`limits`].
//!
//! The storage layer does not know the wire format: tell records and stripes are opaque bytes
//! there (except byte 57 of a tell, its edit_sequence). The command layer on top of it
//! ([`handler`]: decrypt, validate, dispatch; [`handlers`]: one module per command) speaks the
//! wire through `qmail-wire`, wakes parked pings through [`watch`], drops floods through
//! [`rate_limit`] and reports every decision to an [`observer`].
//!
//! # Cargo feature `sim`
//!
//! Off by default, so the `raida` binary neither compiles nor links turmoil. It gates the
//! simulator's half of the seams: turmoil's disk `fs::SimFs`, the crash hook `fs::CrashHook`
//! with its `fs::CrashPlan` / `fs::CrashPoint`, the `front::Listener` impl for
//! `turmoil::net::TcpListener`, and the constructor `env::Env::sim`. The simulator crate and
//! this crate's own tests (through a dev-dependency on itself) turn it on.

pub mod clock;
pub mod coins;
pub mod daemon;
pub mod env;
pub mod extension;
pub mod front;
pub mod fs;
pub mod handler;
pub mod handlers;
#[cfg(target_os = "linux")]
pub mod inotify;
pub mod limits;
pub mod observer;
pub mod probes;
pub mod provision;
pub mod rate_limit;
pub mod settings;
pub mod store;
pub mod watch;
