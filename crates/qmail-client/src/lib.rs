//! qmail-client: the QMail client.
//!
//! Everything a QMail user's machine does lives here: striping a file into data and parity
//! stripes, sending an email (upload the stripes, then tell the recipient's beacon), receiving
//! (ping and peek the beacon), downloading the stripes, reassembling and checking each file,
//! and the `qmail` command that drives all of it.
//!
//! # Layers
//!
//! ```text
//!  send      send_email = prepare (stripe, place, tell spec) → upload_all (70) →
//!            send policy → tell_all (71), each step public for adversaries;
//!            send::placement (the placement rule), send::tell (build_tell,
//!            send_tell_record for replays)
//!  receive   ping (72) / peek (73) → Poll
//!  download  download_email: download (74) every stripe, rebuild, CRC-check
//!    |
//!  client    Client: identity, directory, config, clock, RNG, connector, observer;
//!            one request = fresh challenge + nonce, encrypt, round trip, judge (status
//!            first; echo bytes and signature only on 250), retry; echo (type 1 or 0)
//!  transport Connector (TokioConnector), one bounded round trip per connection
//!  join      bounded, ordered concurrency inside one task
//!    |
//!  stripe    bit-interleaved striping + XOR parity, reassembly, CRC-32 repair
//!  rs        the same data stripes + k Reed–Solomon parity stripes (parity_algo 1)
//!  extension client-side protocol extensions: hooks, claims, the registry by name
//!  observer  hooks the simulator watches the client through
//!  tell_list Poll, PollKind, ReceivedTell and the tell-list parser keeping raw record
//!            bytes: plain values under client, extension and observer
//!  identity, directory, config, profile (the TOML file), clock, error, limits
//!
//!  cli       the `qmail` command (bin/qmail.rs is its thin `main`): init, send, ping,
//!            peek, list, fetch, echo; received tells kept in a state directory
//! ```
//!
//! # Determinism
//!
//! The library reads no OS clock, draws no OS randomness and starts no thread: the caller
//! injects a [`clock::Clock`], a seeded `rand_chacha::ChaCha8Rng` and a
//! [`transport::Connector`], so the simulator can run it on turmoil's network and clock.
//! Concurrency is the `join` module's index-ordered polling inside the calling task.

pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod directory;
pub mod download;
pub mod error;
pub mod extension;
pub mod identity;
mod join;
pub mod limits;
pub mod observer;
pub mod probes;
pub mod profile;
pub mod receive;
pub mod rs;
pub mod send;
pub mod stripe;
pub mod tell_list;
pub mod transport;

pub use client::{judge_reply, judge_reply_bytes, Answer, Client, ClientParts, SentRequest};
pub use clock::{Clock, ManualClock};
pub use config::{Config, SendPolicy};
pub use directory::{BeaconRule, Directory};
pub use download::{DownloadedFile, PageRequest};
pub use error::{ClientError, RaidaRef};
pub use identity::{Guid, Identity, LockerCode, MailboxId};
pub use observer::{ClientObserver, NoopObserver};
pub use receive::{Poll, PollKind, ReceivedTell};
pub use send::{
    Email, Placement, PreparedEmail, PreparedFile, Recipient, SendReport, StripeUpload, TellGroup,
    TellOutcome, TellRouting, TellSpec, Uploads,
};
pub use stripe::DataStripeCount;
pub use transport::{Connector, TokioConnector};
