//! The workload: mailboxes, their devices, the emails they send, and the adversary.
//!
//! [`Plan::generate`] draws everything from the `"workload"` seed subtree before the run:
//! - mailbox `i` is the coin (denomination `i mod 4`, serial number `1000 + i`) with 25
//!   random ANs (stream `("ans", i)`), an upload locker and a fee locker; its beacon comes
//!   from the scenario's beacon policy. Its devices run on client hosts `(i + d) mod hosts`
//!   (so one mailbox's devices may sit on different hosts); each device pings or peeks
//!   (`workload.poll`; "mixed" draws per device);
//! - email `k` (stream `("email", k)`): a sender, a send time in `[0, send_window_s)`,
//!   recipients (distinct, never the sender unless it is the only mailbox) each To, CC or
//!   BCC by the scenario's fractions (plus mailbox 0 as To with `hot_mailbox_fraction`, so
//!   one inbox fills past the reply caps), its striping (N data stripes in
//!   `data_stripes..=data_stripes_max`; Reed–Solomon with 2..=`rs_parity_max` parity stripes
//!   by `reed_solomon_fraction`, else XOR), and one or more revisions: the original (edit 0)
//!   and, with `revision_fraction`, 1..`revisions_max` more, each sent a few seconds after
//!   the one before, or 0–1 s after it in a burst (`revision_burst_fraction`: older
//!   revisions still wait in the inbox when newer ones arrive). Each revision has its own
//!   body and attachments, of seeded sizes, whose bytes come from a seeded ChaCha8 stream,
//!   and its own fault choices: tells before uploads (`tell_before_upload_fraction`), and per
//!   beacon a duplicate (`duplicate_tell_fraction`), a replay after a seeded delay
//!   (`replay_fraction`, up to `replay_delay_s_max`) and a split-timestamp re-send
//!   (`timestamp_split_fraction`);
//! - each device may have one outage in the safety phase (`device_outage_fraction`, lasting
//!   `device_outage_s_min..=device_outage_s_max`, ending by the heal) and may be slow
//!   (`device_slow_fraction`: pauses × `device_slow_factor`).
//!
//! On a client host, each sender mailbox has one [`Client`] (an email whose striping differs
//! from the scenario's `data_stripes` and XOR gets a client of its own, sharing the mailbox's
//! observer) and each email one task that sleeps until each revision's time and sends it with
//! `send_email` (retried when uploads fell short of the policy); a revision chosen for
//! tell-before-upload instead sends its tells first and uploads after. Each device runs a
//! poll loop and a download task:
//! - ping devices long-poll their beacon again as soon as a reply (or a timeout status)
//!   comes; peek devices pause a seeded 0.5–3 s between peeks; a slow device pauses
//!   `device_slow_factor` times a seeded peek interval (ping devices too);
//! - during its outage a device starts no poll and no download (a poll already parked
//!   finishes: an offline device that dropped it could lose a tell the beacon deleted on
//!   read, which is not the fault being modelled); tells pile up in the inbox meanwhile;
//! - **peek `since` is always 0.** The brief allowed "the last seen mtime or 0"; a device
//!   never sees an mtime (tell records carry none, and the beacon stamps mtimes with its own
//!   clock), and a `since` taken from the device's own clock loses every tell whose mtime the
//!   beacon stamped behind it — under clock skew that is a client bug, which the checkers
//!   report as an unexplained `ack_durable`. Tells are deleted on read, so 0 returns exactly
//!   what is still waiting. The mtime filter is still exercised (every mtime must be read
//!   through the beacon's skewed clock and compare greater than 0);
//! - every received tell is downloaded (all its files); the files that failed are retried
//!   every [`DOWNLOAD_RETRY_S`] s, at most [`DOWNLOAD_ATTEMPTS_MAX`] times, unless the device
//!   has meanwhile downloaded that file of a newer revision (whose upload overwrote it).
//!
//! The adversary host `mallory` holds every sender's keys (an insider) and re-sends tells
//! captured from the senders, re-encrypted in fresh requests with a fresh routing timestamp
//! (the record, and so its file-header timestamp, unchanged): duplicates at once, replays
//! later (past `tell_skew_s` the stale header must be refused), split-timestamp re-sends at
//! once with the routing timestamp moved off the header's. It stops when the world heals.
//!
//! Events recorded here: `EmailSent` (when a revision's uploads are done, just before its
//! first tell), `TellSent` (every tell attempt, with the exact record), `TellReceived`,
//! `PollDone`, `PollFailed`, `DownloadDone`, `DownloadFailed`, and the faults
//! `TellBeforeUpload`, `DuplicateTell` and `Replay` (a split-timestamp re-send is a `Replay`
//! whose detail reads "timestamp split: routing = header ±N s").

//!
//! Modules: [`plan`] (everything drawn before the run), [`sender`] (sending emails, and
//! recording and capturing their tells), [`device`] (polling and downloading); the adversary
//! host lives with its fault family in [`crate::faults::adversary`].

mod device;
pub mod plan;
mod sender;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use qmail_client::client::{Client, ClientParts};
use qmail_client::config::Config;
use qmail_client::directory::Directory;
use qmail_client::extension::ClientExtensions;
use qmail_client::observer::ClientObserver;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::hosts::SimClock;
use super::net::SimConnector;
use super::recorder::{host_now_us, Recorder};
use crate::clock::HostClock;
use crate::extensions::ExtensionsConfig;
use crate::history::{EmailId, Host, MailboxId};
use crate::seed::splitmix64;

use crate::faults::adversary::Captures;
use device::{download_task, poll_task, DeviceContext};
pub use plan::*;
use sender::{send_email_task, SenderObserver};

/// RAIDA indexes every identity and directory covers (the client always speaks to 25).
pub(crate) const RAIDA_SLOTS: usize = qmail_client::limits::RAIDA_COUNT;
/// Attempts at sending one revision whose uploads fell short.
pub(crate) const SEND_ATTEMPTS_MAX: u32 = 3;
/// Pause between send attempts, seconds.
pub(crate) const SEND_RETRY_S: u64 = 5;
/// How often the adversary looks for captured tells, milliseconds.
pub(crate) const ADVERSARY_POLL_MS: u64 = 100;

/// Shared counters the harness reads to know when the workload is done.
#[derive(Debug, Default)]
pub struct Progress {
    sends_outstanding: AtomicU64,
    resends_outstanding: AtomicU64,
    healed: AtomicBool,
    gave_up: Mutex<BTreeSet<(MailboxId, EmailId, u8)>>,
}

impl Progress {
    /// Progress of a plan nobody has started.
    pub fn new(plan: &Plan) -> Progress {
        Progress {
            sends_outstanding: AtomicU64::new(plan.revision_count()),
            ..Progress::default()
        }
    }

    /// No revision left to send and no captured tell left to re-send.
    pub fn idle(&self) -> bool {
        self.sends_outstanding.load(Ordering::SeqCst) == 0
            && self.resends_outstanding.load(Ordering::SeqCst) == 0
    }

    /// The world healed: the adversary and tell-before-upload stop.
    pub fn set_healed(&self) {
        self.healed.store(true, Ordering::SeqCst);
    }

    /// Whether the world healed.
    pub fn healed(&self) -> bool {
        self.healed.load(Ordering::SeqCst)
    }

    /// Whether a device gave up downloading this file for good.
    pub fn gave_up(&self, mailbox: MailboxId, email_id: EmailId, file_type: u8) -> bool {
        self.lock_gave_up()
            .contains(&(mailbox, email_id, file_type))
    }

    fn lock_gave_up(&self) -> MutexGuard<'_, BTreeSet<(MailboxId, EmailId, u8)>> {
        self.gave_up.lock().expect("progress lock poisoned")
    }

    pub(crate) fn send_done(&self) {
        let before = self.sends_outstanding.fetch_sub(1, Ordering::SeqCst);
        assert!(before > 0, "more sends finished than planned");
    }

    pub(crate) fn resend_planned(&self) {
        self.resends_outstanding.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn resend_done(&self) {
        let before = self.resends_outstanding.fetch_sub(1, Ordering::SeqCst);
        assert!(before > 0, "more re-sends finished than captured");
    }
}

/// What every workload host shares: the plan, the directory, the clients' settings, the
/// recorder and the progress counters.
#[derive(Debug)]
pub struct Shared {
    /// The plan.
    pub plan: Plan,
    /// Where the RAIDAs are; every mailbox's beacon.
    pub directory: Arc<Directory>,
    /// Client settings.
    pub config: Config,
    /// The status the beacons send when a ping times out.
    pub ping_timeout_status: u8,
    /// Where events go.
    pub recorder: Recorder,
    /// What is left to do.
    pub progress: Arc<Progress>,
    pub(crate) captures: Captures,
    extensions: ExtensionsConfig,
}

impl Shared {
    /// The shared state of one run.
    pub fn new(
        plan: Plan,
        directory: Arc<Directory>,
        config: Config,
        ping_timeout_status: u8,
        recorder: Recorder,
    ) -> Shared {
        let progress = Arc::new(Progress::new(&plan));
        Shared {
            plan,
            directory,
            config,
            ping_timeout_status,
            recorder,
            progress,
            captures: Captures::default(),
            extensions: ExtensionsConfig::default(),
        }
    }

    /// This state with the scenario's extension assignment (the clients of each mailbox run
    /// their own fresh set; the adversary runs none).
    pub fn with_extensions(mut self, extensions: ExtensionsConfig) -> Shared {
        self.extensions = extensions;
        self
    }
}

/// One client host: its index and clock.
#[derive(Debug)]
pub struct ClientHost {
    index: u16,
    clock: SimClock,
    shared: Arc<Shared>,
}

impl ClientHost {
    /// Client host `index` of a run.
    pub fn new(index: u16, clock: HostClock, shared: Arc<Shared>) -> ClientHost {
        ClientHost {
            index,
            clock: SimClock::new(clock),
            shared,
        }
    }
}

pub(crate) fn client_of(
    mailbox: &MailboxPlan,
    directory: &Arc<Directory>,
    config: Config,
    clock: &SimClock,
    seed: u64,
    observer: Arc<dyn ClientObserver>,
    extensions: ClientExtensions,
) -> Client<SimConnector> {
    let parts = ClientParts {
        identity: identity(mailbox),
        directory: directory.clone(),
        config,
        connector: SimConnector,
        clock: Arc::new(clock.clone()),
        rng: ChaCha8Rng::seed_from_u64(seed),
        observer,
    };
    Client::new(parts)
        .expect("generated clients are valid")
        .with_extensions(extensions)
}

/// The software of one client host: a sending task per email of its mailboxes, a poll loop
/// and a download task per device. Never returns (turmoil stops ticking finished hosts).
pub async fn run_client_host(host: Arc<ClientHost>) -> turmoil::Result {
    let host_id = Host::Client(host.index);
    for mailbox in host
        .shared
        .plan
        .mailboxes
        .iter()
        .filter(|m| m.home_host == host.index)
    {
        let observer = Arc::new(SenderObserver {
            shared: host.shared.clone(),
            host: host_id,
            sender: mailbox.clone(),
            announcements: Mutex::new(BTreeMap::new()),
            sending: Mutex::new(BTreeMap::new()),
            in_flight: Mutex::new(BTreeMap::new()),
        });
        let client = Arc::new(client_of(
            mailbox,
            &host.shared.directory,
            host.shared.config.clone(),
            &host.clock,
            mailbox.sender_seed,
            observer.clone(),
            host.shared.extensions.client_set(mailbox.index),
        ));
        for email in host
            .shared
            .plan
            .emails
            .iter()
            .filter(|e| e.sender == mailbox.index)
        {
            let client = match email_config(&host.shared.config, email) {
                None => client.clone(),
                Some(config) => Arc::new(client_of(
                    mailbox,
                    &host.shared.directory,
                    config,
                    &host.clock,
                    splitmix64(mailbox.sender_seed ^ splitmix64(u64::from(email.index))),
                    observer.clone(),
                    host.shared.extensions.client_set(mailbox.index),
                )),
            };
            tokio::spawn(send_email_task(
                host.clone(),
                client,
                observer.clone(),
                email.index,
            ));
        }
    }
    for mailbox in &host.shared.plan.mailboxes {
        for device in mailbox.devices.iter().filter(|d| d.host == host.index) {
            let mut config = host.shared.config.clone();
            config.device_id = u8::try_from(device.device).unwrap_or(u8::MAX);
            let client = Arc::new(client_of(
                mailbox,
                &host.shared.directory,
                config,
                &host.clock,
                device.seed,
                Arc::new(qmail_client::observer::NoopObserver),
                host.shared.extensions.client_set(mailbox.index),
            ));
            let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
            let context = Arc::new(DeviceContext {
                host: host_id,
                mailbox: mailbox.clone(),
                device: device.clone(),
                client,
                shared: host.shared.clone(),
            });
            tokio::spawn(download_task(context.clone(), receiver));
            tokio::spawn(poll_task(context, sender));
        }
    }
    std::future::pending::<()>().await;
    Ok(())
}

pub(crate) async fn sleep_until_us(at_us: u64) {
    let now_us = host_now_us();
    if at_us > now_us {
        tokio::time::sleep(Duration::from_micros(at_us - now_us)).await;
    }
}
