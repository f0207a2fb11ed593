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
//! This layer does not know the wire format: tell records and stripes are opaque bytes here
//! (except byte 57 of a tell, its edit_sequence).

pub mod clock;
pub mod coins;
pub mod env;
pub mod fs;
pub mod limits;
pub mod provision;
pub mod settings;
pub mod store;
