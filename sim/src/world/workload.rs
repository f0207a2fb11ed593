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
//!   BCC by the scenario's fractions, and one or more revisions: the original (edit 0) and,
//!   with `revision_fraction`, one revision (edit 1) sent a few seconds later. Each revision
//!   has its own body and attachments, of seeded sizes, whose bytes come from a seeded
//!   ChaCha8 stream, and its own fault choices: tells before uploads
//!   (`tell_before_upload_fraction`), and per beacon a duplicate (`duplicate_tell_fraction`)
//!   and a replay after a seeded delay (`replay_fraction`).
//!
//! On a client host, each sender mailbox has one [`Client`] and each email one task that
//! sleeps until each revision's time and sends it with `send_email` (retried when uploads
//! fell short of the policy); a revision chosen for tell-before-upload instead sends its
//! tells first and uploads after. Each device runs a poll loop and a download task:
//! - ping devices long-poll their beacon again as soon as a reply (or a timeout status)
//!   comes; peek devices pause a seeded 0.5–3 s between peeks;
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
//! later. It stops when the world heals.
//!
//! Events recorded here: `EmailSent` (when a revision's uploads are done, just before its
//! first tell), `TellSent` (every tell attempt, with the exact record), `TellReceived`,
//! `PollDone`, `PollFailed`, `DownloadDone`, `DownloadFailed`, and the faults
//! `TellBeforeUpload`, `DuplicateTell` and `Replay`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use qmail_client::client::{Client, ClientParts};
use qmail_client::clock::wire_timestamp_s;
use qmail_client::config::Config;
use qmail_client::directory::Directory;
use qmail_client::error::{ClientError, RaidaRef};
use qmail_client::extension::ClientExtensions;
use qmail_client::identity::{Identity, LockerCode, MailboxId as ClientMailbox};
use qmail_client::observer::{ClientObserver, TellSent};
use qmail_client::receive::Poll;
use qmail_client::send::{manifest_entry, Email, Placement, Recipient, TellRouting, TellSpec};
use qmail_client::stripe::{self, DataStripeCount};
use qmail_wire::crypto::ResponseCounter;
use qmail_wire::header::Command;
use qmail_wire::tell::{AddressEntry, RecipientKind, TellRecord};
use qmail_wire::Codec;
use raida_server::coins::locker_code_from_ascii;
use raida_server::settings::{ResponseCounterSetting, Settings};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::hosts::SimClock;
use super::net::{SimConnector, RAIDA_PORT};
use super::recorder::{host_now_us, Recorder, Reservation};
use crate::clock::HostClock;
use crate::extensions::ExtensionsConfig;
use crate::faults::Faults;
use crate::history::{EmailId, EventKind, FaultKind, FileSent, Host, MailboxId, PollKind};
use crate::limits::{
    DOWNLOAD_ATTEMPTS_MAX, DOWNLOAD_RETRY_S, PEEK_INTERVAL_MS_MAX, PEEK_INTERVAL_MS_MIN,
    PING_READ_MARGIN_S, POLL_FAILURE_BACKOFF_MS, REPLAY_DELAY_S_MAX, REPLAY_DELAY_S_MIN,
    REVISION_DELAY_S_MAX, REVISION_DELAY_S_MIN, STATUS_SUCCESS, US_PER_S,
};
use crate::scenario::{PollMode, Scenario};
use crate::seed::{splitmix64, SeedTree};

/// RAIDA indexes every identity and directory covers (the client always speaks to 25).
const RAIDA_SLOTS: usize = qmail_client::limits::RAIDA_COUNT;
/// Attempts at sending one revision whose uploads fell short.
const SEND_ATTEMPTS_MAX: u32 = 3;
/// Pause between send attempts, seconds.
const SEND_RETRY_S: u64 = 5;
/// How often the adversary looks for captured tells, milliseconds.
const ADVERSARY_POLL_MS: u64 = 100;

/// One device of a mailbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DevicePlan {
    /// Index within the mailbox.
    pub device: u16,
    /// The client host it runs on.
    pub host: u16,
    /// Ping or peek.
    pub poll: PollKind,
    /// Seed of its client RNG and poll pauses.
    pub seed: u64,
}

/// One mailbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxPlan {
    /// Creation index.
    pub index: u32,
    /// The coin.
    pub id: MailboxId,
    /// Its beacon RAIDA.
    pub beacon: u8,
    /// Its AN on each RAIDA index (25, even when the topology has fewer).
    pub ans: Vec<[u8; 16]>,
    /// Pays uploads.
    pub upload_locker: LockerCode,
    /// Pays recipients' inbox fees.
    pub fee_locker: LockerCode,
    /// Its devices.
    pub devices: Vec<DevicePlan>,
    /// The client host that sends its emails (its first device's).
    pub home_host: u16,
    /// Seed of its sending client's RNG.
    pub sender_seed: u64,
}

/// One recipient of an email.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecipientPlan {
    /// Mailbox index.
    pub mailbox: u32,
    /// To, CC or BCC.
    pub kind: RecipientKind,
}

/// What the adversary does with one revision's tell to one beacon.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resend {
    /// Send it again at once.
    pub duplicate: bool,
    /// Send it again this long after it was sent.
    pub replay_after_us: Option<u64>,
}

impl Resend {
    fn is_some(&self) -> bool {
        self.duplicate || self.replay_after_us.is_some()
    }
}

/// One revision of an email.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevisionPlan {
    /// File-header byte 57.
    pub edit_sequence: u8,
    /// When it is sent, simulated microseconds.
    pub send_at_us: u64,
    /// Seeds the file bytes.
    pub content_key: u64,
    /// Body size.
    pub body_size: u32,
    /// Attachment sizes, in file-type order.
    pub attachment_sizes: Vec<u32>,
    /// Tells before uploads.
    pub tell_before_upload: bool,
    /// Adversary choices per beacon.
    pub resend: BTreeMap<u8, Resend>,
}

impl RevisionPlan {
    /// Every file: (file_type, bytes), body first.
    pub fn files(&self) -> Vec<(u8, Vec<u8>)> {
        let mut files = vec![(0x01u8, content(self.content_key, 0x01, self.body_size))];
        for (position, size) in self.attachment_sizes.iter().enumerate() {
            let file_type = qmail_client::limits::FILE_TYPE_ATTACHMENT_FIRST
                .saturating_add(u8::try_from(position).unwrap_or(u8::MAX));
            files.push((file_type, content(self.content_key, file_type, *size)));
        }
        files
    }
}

/// The bytes of one generated file.
pub fn content(key: u64, file_type: u8, size_bytes: u32) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(splitmix64(key ^ u64::from(file_type)));
    let mut bytes = vec![0u8; usize::try_from(size_bytes).unwrap_or(0)];
    rng.fill_bytes(&mut bytes);
    bytes
}

/// One email.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailPlan {
    /// Index in the plan.
    pub index: u32,
    /// Its GUID.
    pub email_id: EmailId,
    /// Sender mailbox index.
    pub sender: u32,
    /// Recipients.
    pub recipients: Vec<RecipientPlan>,
    /// Revisions in edit order.
    pub revisions: Vec<RevisionPlan>,
}

/// Everything the workload will do.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// RAIDAs in the topology.
    pub raidas: u8,
    /// Client hosts.
    pub client_hosts: u16,
    /// Data stripes per file.
    pub data_stripes: u8,
    /// Mailboxes, by index.
    pub mailboxes: Vec<MailboxPlan>,
    /// Emails, by index.
    pub emails: Vec<EmailPlan>,
}

fn kind_of(u: f64, cc_fraction: f64, bcc_fraction: f64) -> RecipientKind {
    if u < cc_fraction {
        RecipientKind::Cc
    } else if u < cc_fraction + bcc_fraction {
        RecipientKind::Bcc
    } else {
        RecipientKind::To
    }
}

fn locker(prefix: char, index: u32) -> LockerCode {
    locker_code_from_ascii(&format!("{prefix}{index}")).expect("short printable locker code")
}

impl Plan {
    /// Draws the plan of one seed from the workload subtree.
    pub fn generate(scenario: &Scenario, faults: &Faults, tree: &SeedTree) -> Plan {
        let topology = &scenario.topology;
        let mailboxes: Vec<MailboxPlan> = (0..topology.mailboxes)
            .map(|index| mailbox_plan(scenario, tree, index))
            .collect();
        let emails = (0..scenario.workload.emails)
            .map(|index| email_plan(scenario, faults, tree, &mailboxes, index))
            .collect();
        Plan {
            raidas: topology.raidas,
            client_hosts: topology.client_hosts,
            data_stripes: scenario.workload.data_stripes,
            mailboxes,
            emails,
        }
    }

    /// Whether any revision asks the adversary for anything.
    pub fn needs_adversary(&self) -> bool {
        self.emails.iter().any(|email| {
            email
                .revisions
                .iter()
                .any(|revision| revision.resend.values().any(Resend::is_some))
        })
    }

    /// Revisions to send.
    pub fn revision_count(&self) -> u64 {
        self.emails
            .iter()
            .map(|email| email.revisions.len() as u64)
            .sum()
    }

    fn mailbox(&self, index: u32) -> &MailboxPlan {
        self.mailboxes
            .get(usize::try_from(index).unwrap_or(usize::MAX))
            .expect("mailbox index within the plan")
    }
}

fn mailbox_plan(scenario: &Scenario, tree: &SeedTree, index: u32) -> MailboxPlan {
    let topology = &scenario.topology;
    let mut rng = tree.stream_for_host("mailbox", u64::from(index));
    let ans: Vec<[u8; 16]> = (0..RAIDA_SLOTS)
        .map(|_| {
            let mut an = [0u8; 16];
            rng.fill_bytes(&mut an);
            an
        })
        .collect();
    let id = MailboxId {
        denom: i8::try_from(index % 4).expect("small"),
        sn: 1_000 + index,
    };
    let devices = (0..topology.devices_per_mailbox)
        .map(|device| {
            let mixed_ping: bool = rng.random();
            let poll = match scenario.workload.poll {
                PollMode::Ping => PollKind::Ping,
                PollMode::Peek => PollKind::Peek,
                PollMode::Mixed if mixed_ping => PollKind::Ping,
                PollMode::Mixed => PollKind::Peek,
            };
            let host = u16::try_from(
                (u64::from(index) + u64::from(device)) % u64::from(topology.client_hosts),
            )
            .expect("client host index fits u16");
            DevicePlan {
                device,
                host,
                poll,
                seed: rng.next_u64(),
            }
        })
        .collect::<Vec<_>>();
    let home_host = devices.first().map_or(0, |device| device.host);
    MailboxPlan {
        index,
        id,
        beacon: topology.beacon.beacon_for(
            usize::try_from(index).unwrap_or(usize::MAX),
            id.denom,
            id.sn,
            topology.raidas,
        ),
        ans,
        upload_locker: locker('U', index),
        fee_locker: locker('F', index),
        devices,
        home_host,
        sender_seed: rng.next_u64(),
    }
}

fn email_plan(
    scenario: &Scenario,
    faults: &Faults,
    tree: &SeedTree,
    mailboxes: &[MailboxPlan],
    index: u32,
) -> EmailPlan {
    let workload = &scenario.workload;
    let mut rng = tree.stream_for_host("email", u64::from(index));
    let count = u32::try_from(mailboxes.len()).expect("mailboxes fit u32");
    let sender = rng.random_range(0..count);
    let mut email_id = [0u8; 16];
    rng.fill_bytes(&mut email_id);
    let wanted = rng.random_range(workload.recipients_min..=workload.recipients_max);
    let others = if count > 1 { count - 1 } else { 1 };
    let wanted = u32::from(wanted).min(others);
    let mut chosen: BTreeSet<u32> = BTreeSet::new();
    let mut recipients = Vec::new();
    while u32::try_from(recipients.len()).unwrap_or(u32::MAX) < wanted {
        let candidate = rng.random_range(0..count);
        if (candidate == sender && count > 1) || !chosen.insert(candidate) {
            continue;
        }
        let u: f64 = rng.random();
        recipients.push(RecipientPlan {
            mailbox: candidate,
            kind: kind_of(u, workload.cc_fraction, workload.bcc_fraction),
        });
    }
    let beacons: BTreeSet<u8> = recipients
        .iter()
        .filter_map(|r| mailboxes.get(usize::try_from(r.mailbox).ok()?))
        .map(|m| m.beacon)
        .collect();
    let window_us = u64::from(workload.send_window_s.max(1)) * US_PER_S;
    let mut send_at_us = rng.random_range(0..window_us);
    let revise = rng.random_bool(workload.revision_fraction);
    let edits: u8 = if revise { 2 } else { 1 };
    let mut revisions = Vec::new();
    for edit_sequence in 0..edits {
        if edit_sequence > 0 {
            send_at_us += rng.random_range(
                u64::from(REVISION_DELAY_S_MIN) * US_PER_S
                    ..=u64::from(REVISION_DELAY_S_MAX) * US_PER_S,
            );
        }
        revisions.push(revision_plan(
            workload,
            faults,
            &mut rng,
            &beacons,
            edit_sequence,
            send_at_us,
        ));
    }
    EmailPlan {
        index,
        email_id: EmailId(email_id),
        sender,
        recipients,
        revisions,
    }
}

fn revision_plan(
    workload: &crate::scenario::Workload,
    faults: &Faults,
    rng: &mut ChaCha8Rng,
    beacons: &BTreeSet<u8>,
    edit_sequence: u8,
    send_at_us: u64,
) -> RevisionPlan {
    let body_size = rng.random_range(1..=workload.body_size_bytes_max.max(1));
    let attachments = rng.random_range(0..=workload.attachments_max);
    let attachment_sizes = (0..attachments)
        .map(|_| rng.random_range(1..=workload.attachment_size_bytes_max.max(1)))
        .collect();
    let tell_before_upload = rng.random_bool(faults.adversary.tell_before_upload_fraction);
    let mut resend = BTreeMap::new();
    for beacon in beacons {
        let duplicate = rng.random_bool(faults.adversary.duplicate_tell_fraction);
        let replay = rng.random_bool(faults.adversary.replay_fraction);
        let delay_us = rng.random_range(
            u64::from(REPLAY_DELAY_S_MIN) * US_PER_S..=u64::from(REPLAY_DELAY_S_MAX) * US_PER_S,
        );
        resend.insert(
            *beacon,
            Resend {
                duplicate,
                replay_after_us: replay.then_some(delay_us),
            },
        );
    }
    RevisionPlan {
        edit_sequence,
        send_at_us,
        content_key: rng.next_u64(),
        body_size,
        attachment_sizes,
        tell_before_upload,
        resend,
    }
}

/// The client directory: RAIDA `i` at `raida_ips[i]`, port [`RAIDA_PORT`]; indexes past
/// the topology point at unassigned addresses (a connect there is refused), and every
/// mailbox's beacon is set explicitly.
pub fn directory(plan: &Plan, raida_ips: &[IpAddr]) -> Arc<Directory> {
    let addrs: Vec<SocketAddr> = (0..RAIDA_SLOTS)
        .map(|index| {
            let ip = raida_ips
                .get(index)
                .copied()
                .unwrap_or(IpAddr::V4(Ipv4Addr::new(
                    10,
                    255,
                    255,
                    u8::try_from(index).unwrap_or(u8::MAX),
                )));
            SocketAddr::new(ip, RAIDA_PORT)
        })
        .collect();
    let mut directory = Directory::new(addrs).expect("25 IPv4 addresses");
    for mailbox in &plan.mailboxes {
        directory
            .set_beacon(client_mailbox(mailbox.id), mailbox.beacon)
            .expect("beacons are RAIDA indexes");
    }
    Arc::new(directory)
}

/// The clients' settings: the servers' response counter, the scenario's stripe width, a
/// ping read timeout beyond the beacons' ping timeout.
pub fn client_config(scenario: &Scenario, settings: &Settings) -> Config {
    let data_stripe_count = DataStripeCount::new(usize::from(scenario.workload.data_stripes))
        .expect("scenario validation bounds data_stripes");
    Config {
        response_counter: match settings.response_counter {
            ResponseCounterSetting::Restart => ResponseCounter::Restart,
            ResponseCounterSetting::Continue => ResponseCounter::Continue,
        },
        data_stripe_count,
        ping_read_timeout: Duration::from_secs(
            settings.ping_timeout_s + u64::from(PING_READ_MARGIN_S),
        ),
        ..Config::default()
    }
}

fn client_mailbox(id: MailboxId) -> ClientMailbox {
    ClientMailbox::new(id.denom, id.sn)
}

fn history_mailbox(id: ClientMailbox) -> MailboxId {
    MailboxId {
        denom: id.denomination,
        sn: id.serial_number,
    }
}

fn identity(mailbox: &MailboxPlan) -> Identity {
    let mut ans = [[0u8; 16]; RAIDA_SLOTS];
    for (slot, an) in ans.iter_mut().zip(&mailbox.ans) {
        *slot = *an;
    }
    Identity::new(
        client_mailbox(mailbox.id),
        ans,
        mailbox.upload_locker,
        mailbox.fee_locker,
    )
    .expect("generated identities are valid")
}

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

    fn send_done(&self) {
        let before = self.sends_outstanding.fetch_sub(1, Ordering::SeqCst);
        assert!(before > 0, "more sends finished than planned");
    }

    fn resend_planned(&self) {
        self.resends_outstanding.fetch_add(1, Ordering::SeqCst);
    }

    fn resend_done(&self) {
        let before = self.resends_outstanding.fetch_sub(1, Ordering::SeqCst);
        assert!(before > 0, "more re-sends finished than captured");
    }
}

/// A tell the adversary will send again.
#[derive(Clone, Debug)]
struct Captured {
    due_us: u64,
    replay: bool,
    sender: u32,
    beacon: u8,
    entries: Vec<AddressEntry>,
    record: Vec<u8>,
    email_id: EmailId,
    edit_sequence: u8,
}

/// Tells captured from the senders, waiting for the adversary.
#[derive(Debug, Default)]
struct Captures {
    queue: Mutex<Vec<Captured>>,
}

impl Captures {
    fn lock(&self) -> MutexGuard<'_, Vec<Captured>> {
        self.queue.lock().expect("capture queue lock poisoned")
    }
}

/// The EmailSent payload of one revision, announced before its first tell.
#[derive(Clone, Debug)]
struct Announcement {
    recipients: Vec<MailboxId>,
    files: Vec<FileSent>,
    announced: bool,
    plan_index: u32,
}

/// The sending client's observer: records `EmailSent` and `TellSent`, captures tells for
/// the adversary.
///
/// A tell attempt is recorded when it finishes but placed at the instant its request went
/// out (a [`Reservation`] taken in `request_sent`), matched by (task, beacon): one email's
/// tells run concurrently inside its sending task, one per beacon.
struct SenderObserver {
    shared: Arc<Shared>,
    host: Host,
    sender: MailboxPlan,
    announcements: Mutex<BTreeMap<(EmailId, u8), Announcement>>,
    /// The revision each sending task is sending now.
    sending: Mutex<BTreeMap<tokio::task::Id, (EmailId, u8)>>,
    /// Open tell attempts by (task, beacon), oldest first.
    in_flight: Mutex<BTreeMap<(tokio::task::Id, u8), VecDeque<Reservation>>>,
}

impl SenderObserver {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<(EmailId, u8), Announcement>> {
        self.announcements
            .lock()
            .expect("announcements lock poisoned")
    }

    /// Records `EmailSent` for (email, edit) unless already done.
    fn announce(&self, email_id: EmailId, edit_sequence: u8) {
        let mut announcements = self.lock();
        let Some(announcement) = announcements.get_mut(&(email_id, edit_sequence)) else {
            return;
        };
        if announcement.announced {
            return;
        }
        announcement.announced = true;
        self.shared.recorder.record(
            self.host,
            EventKind::EmailSent {
                email_id,
                sender: self.sender.id,
                edit_sequence,
                recipients: announcement.recipients.clone(),
                files: announcement.files.clone(),
            },
        );
    }

    fn capture(&self, event: &TellSent, email_id: EmailId) {
        let plan_index = {
            let announcements = self.lock();
            let Some(announcement) = announcements.get(&(email_id, event.edit_sequence)) else {
                return;
            };
            announcement.plan_index
        };
        let Some(email) = self
            .shared
            .plan
            .emails
            .get(usize::try_from(plan_index).unwrap_or(usize::MAX))
        else {
            return;
        };
        let Some(revision) = email
            .revisions
            .iter()
            .find(|revision| revision.edit_sequence == event.edit_sequence)
        else {
            return;
        };
        let Some(resend) = revision.resend.get(&event.beacon) else {
            return;
        };
        if self.shared.progress.healed() {
            return;
        }
        let entries = address_entries(&self.shared.plan, email, &self.sender, &event.recipients);
        let now_us = host_now_us();
        let mut captured = Vec::new();
        if resend.duplicate {
            captured.push((now_us, false));
        }
        if let Some(after_us) = resend.replay_after_us {
            captured.push((now_us + after_us, true));
        }
        let mut queue = self.shared.captures.lock();
        for (due_us, replay) in captured {
            self.shared.progress.resend_planned();
            queue.push(Captured {
                due_us,
                replay,
                sender: self.sender.index,
                beacon: event.beacon,
                entries: entries.clone(),
                record: event.record.clone(),
                email_id,
                edit_sequence: event.edit_sequence,
            });
        }
    }
}

impl SenderObserver {
    /// Notes that the current task now sends (email, edit).
    fn sending(&self, email_id: EmailId, edit_sequence: u8) {
        if let Some(task) = tokio::task::try_id() {
            self.sending
                .lock()
                .expect("sending lock poisoned")
                .insert(task, (email_id, edit_sequence));
        }
    }

    fn take_reservation(&self, beacon: u8) -> Option<Reservation> {
        let task = tokio::task::try_id()?;
        let mut in_flight = self.in_flight.lock().expect("in-flight lock poisoned");
        let queue = in_flight.get_mut(&(task, beacon))?;
        let reservation = queue.pop_front();
        if queue.is_empty() {
            in_flight.remove(&(task, beacon));
        }
        reservation
    }
}

impl ClientObserver for SenderObserver {
    fn request_sent(&self, raida: RaidaRef, command: Command, _attempt: u32) {
        if command != Command::Tell {
            return;
        }
        let Some(task) = tokio::task::try_id() else {
            return;
        };
        let revision = self
            .sending
            .lock()
            .expect("sending lock poisoned")
            .get(&task)
            .copied();
        if let Some((email_id, edit_sequence)) = revision {
            // The uploads are done: the first tell request announces the revision.
            self.announce(email_id, edit_sequence);
        }
        let reservation = self.shared.recorder.reserve();
        self.in_flight
            .lock()
            .expect("in-flight lock poisoned")
            .entry((task, raida.index))
            .or_default()
            .push_back(reservation);
    }

    fn tell_sent(&self, event: &TellSent) {
        let email_id = EmailId(event.email_id);
        self.announce(email_id, event.edit_sequence);
        let kind = EventKind::TellSent {
            email_id,
            edit_sequence: event.edit_sequence,
            sender: self.sender.id,
            beacon: event.beacon,
            recipients: event
                .recipients
                .iter()
                .copied()
                .map(history_mailbox)
                .collect(),
            record: event.record.clone().into(),
            status: event.status,
            routing_timestamp_s: event.routing_timestamp_s,
            header_timestamp_s: event.header_timestamp_s,
            sender_clock_unix_s: i64::try_from(event.sender_clock_unix_s).unwrap_or(i64::MAX),
            beacon_clock_unix_s: None,
        };
        match self.take_reservation(event.beacon) {
            Some(reservation) => self.shared.recorder.complete(reservation, self.host, kind),
            None => self.shared.recorder.record(self.host, kind),
        }
        self.capture(event, email_id);
    }
}

/// The address entries of the recipients a tell named, with their planned kinds.
fn address_entries(
    plan: &Plan,
    email: &EmailPlan,
    sender: &MailboxPlan,
    named: &[ClientMailbox],
) -> Vec<AddressEntry> {
    named
        .iter()
        .map(|mailbox| {
            let kind = email
                .recipients
                .iter()
                .find(|r| client_mailbox(plan.mailbox(r.mailbox).id) == *mailbox)
                .map_or(RecipientKind::To, |r| r.kind);
            Recipient {
                mailbox: *mailbox,
                kind,
                fee_locker_code: None,
            }
            .address_entry(sender.fee_locker)
        })
        .collect()
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
    captures: Captures,
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

fn client_of(
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
            tokio::spawn(send_email_task(
                host.clone(),
                client.clone(),
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

async fn sleep_until_us(at_us: u64) {
    let now_us = host_now_us();
    if at_us > now_us {
        tokio::time::sleep(Duration::from_micros(at_us - now_us)).await;
    }
}

fn files_sent(files: &[(u8, Vec<u8>)]) -> Vec<FileSent> {
    files
        .iter()
        .map(|(file_type, bytes)| FileSent {
            file_type: *file_type,
            size_bytes: bytes.len() as u64,
            crc32: stripe::file_crc32(bytes),
        })
        .collect()
}

/// Sends every revision of one email at its time.
async fn send_email_task(
    host: Arc<ClientHost>,
    client: Arc<Client<SimConnector>>,
    observer: Arc<SenderObserver>,
    email_index: u32,
) {
    let Some(email) = host
        .shared
        .plan
        .emails
        .get(usize::try_from(email_index).unwrap_or(usize::MAX))
    else {
        return;
    };
    let sender = host.shared.plan.mailbox(email.sender);
    for revision in &email.revisions {
        sleep_until_us(revision.send_at_us).await;
        let files = revision.files();
        let recipients: Vec<Recipient> = email
            .recipients
            .iter()
            .map(|r| Recipient {
                mailbox: client_mailbox(host.shared.plan.mailbox(r.mailbox).id),
                kind: r.kind,
                fee_locker_code: None,
            })
            .collect();
        observer.lock().insert(
            (email.email_id, revision.edit_sequence),
            Announcement {
                recipients: recipients
                    .iter()
                    .map(|r| history_mailbox(r.mailbox))
                    .collect(),
                files: files_sent(&files),
                announced: false,
                plan_index: email.index,
            },
        );
        let message = Email {
            guid: email.email_id.0,
            edit_sequence: revision.edit_sequence,
            body: files
                .first()
                .map(|(_, bytes)| bytes.clone())
                .unwrap_or_default(),
            attachments: files
                .iter()
                .skip(1)
                .map(|(_, bytes)| bytes.clone())
                .collect(),
            recipients,
            locker_code: sender.upload_locker,
        };
        observer.sending(email.email_id, revision.edit_sequence);
        if revision.tell_before_upload && !host.shared.progress.healed() {
            tell_before_upload(&host, &client, &observer, &message, &files).await;
        } else {
            send_with_retries(&client, &message).await;
        }
        host.shared.progress.send_done();
    }
}

async fn send_with_retries(client: &Client<SimConnector>, email: &Email) {
    for attempt in 1..=SEND_ATTEMPTS_MAX {
        match client.send_email(email).await {
            Ok(_) => return,
            Err(ClientError::UploadIncomplete { .. }) if attempt < SEND_ATTEMPTS_MAX => {
                tokio::time::sleep(Duration::from_secs(SEND_RETRY_S)).await;
            }
            Err(error) => {
                tracing::debug!(%error, "send gave up");
                return;
            }
        }
    }
}

/// The tell-before-upload fault: the tells go out first, then the stripes are uploaded.
async fn tell_before_upload(
    host: &ClientHost,
    client: &Client<SimConnector>,
    observer: &SenderObserver,
    email: &Email,
    files: &[(u8, Vec<u8>)],
) {
    let email_id = EmailId(email.guid);
    host.shared.recorder.record(
        Host::Client(host.index),
        EventKind::FaultFired {
            fault: FaultKind::TellBeforeUpload { email_id },
            hosts: vec![Host::Client(host.index)],
            detail: format!("edit {}", email.edit_sequence),
        },
    );
    if let Some(announcement) = observer.lock().get_mut(&(email_id, email.edit_sequence)) {
        // Announced by hand once the uploads are done.
        announcement.announced = true;
    }
    let data_stripe_count = client.config().data_stripe_count;
    let Ok(placement) = Placement::from_guid(&email.guid, data_stripe_count) else {
        return;
    };
    let spec = TellSpec {
        guid: email.guid,
        edit_sequence: email.edit_sequence,
        placement: placement.clone(),
        files: files
            .iter()
            .map(|(file_type, bytes)| manifest_entry(*file_type, bytes))
            .collect(),
        crc32_present: true,
        locker_code: email.locker_code,
    };
    let timestamp_s = wire_timestamp_s(client.clock());
    let Ok(record) = client.build_tell(&spec, timestamp_s) else {
        return;
    };
    let routing = TellRouting::for_record(&record, timestamp_s);
    let mut by_beacon: BTreeMap<u8, Vec<AddressEntry>> = BTreeMap::new();
    for recipient in &email.recipients {
        by_beacon
            .entry(client.directory().beacon_of(recipient.mailbox))
            .or_default()
            .push(recipient.address_entry(client.identity().fee_locker_code));
    }
    for (beacon, entries) in &by_beacon {
        client
            .send_tell_record(*beacon, entries, &record, &routing)
            .await;
    }
    let mut uploaded = true;
    for (file_type, bytes) in files {
        let Ok(set) = stripe::stripe(bytes, data_stripe_count) else {
            return;
        };
        for (stripe_index, raida) in placement.raidas().iter().enumerate() {
            let data = set.stripe(stripe_index).unwrap_or(&[]);
            uploaded &= client
                .upload_stripe(*raida, &email.guid, *file_type, data)
                .await
                .is_ok();
        }
    }
    if uploaded {
        if let Some(announcement) = observer.lock().get_mut(&(email_id, email.edit_sequence)) {
            announcement.announced = false;
        }
        observer.announce(email_id, email.edit_sequence);
    }
}

/// What a device's poll and download tasks share.
struct DeviceContext {
    host: Host,
    mailbox: MailboxPlan,
    device: DevicePlan,
    client: Arc<Client<SimConnector>>,
    shared: Arc<Shared>,
}

impl DeviceContext {
    fn record(&self, kind: EventKind) {
        self.shared.recorder.record(self.host, kind);
    }
}

/// Polls the beacon forever; hands every received tell to the download task.
async fn poll_task(
    context: Arc<DeviceContext>,
    downloads: tokio::sync::mpsc::UnboundedSender<TellRecord>,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(splitmix64(context.device.seed));
    let since_unix_s: u32 = 0;
    let beacon = context.mailbox.beacon;
    let via = context.device.poll;
    loop {
        let result = match via {
            PollKind::Ping => context.client.ping().await,
            PollKind::Peek => context.client.peek(since_unix_s).await,
        };
        let pause_ms = match &result {
            Ok(poll) => {
                let tells = poll.tells();
                let status = match poll {
                    // The client accepts 17 and 245 alike and does not say which it saw.
                    Poll::TimedOut => context.shared.ping_timeout_status,
                    Poll::Tells(_) | Poll::Empty => STATUS_SUCCESS,
                };
                context.record(EventKind::PollDone {
                    mailbox: context.mailbox.id,
                    device: context.device.device,
                    beacon,
                    via,
                    status,
                    tell_count: u16::try_from(tells.len()).unwrap_or(u16::MAX),
                });
                for tell in tells {
                    context.record(EventKind::TellReceived {
                        mailbox: context.mailbox.id,
                        device: context.device.device,
                        beacon,
                        record: tell.raw.clone().into(),
                        via,
                    });
                    let _ = downloads.send(tell.record.clone());
                }
                match via {
                    PollKind::Ping => 0,
                    PollKind::Peek => rng.random_range(PEEK_INTERVAL_MS_MIN..=PEEK_INTERVAL_MS_MAX),
                }
            }
            Err(error) => {
                context.record(EventKind::PollFailed {
                    mailbox: context.mailbox.id,
                    device: context.device.device,
                    beacon,
                    via,
                    status: error.status_code(),
                    reason: error.to_string(),
                });
                POLL_FAILURE_BACKOFF_MS
            }
        };
        if pause_ms > 0 {
            tokio::time::sleep(Duration::from_millis(u64::from(pause_ms))).await;
        }
    }
}

/// A tell being downloaded: its record, the files already accepted, the attempt number.
struct PendingDownload {
    record: TellRecord,
    done: BTreeSet<u8>,
    attempt: u32,
}

/// Downloads every received tell's files; retries the files that failed.
async fn download_task(
    context: Arc<DeviceContext>,
    mut received: tokio::sync::mpsc::UnboundedReceiver<TellRecord>,
) {
    let mut retries: BTreeMap<(u64, u64), PendingDownload> = BTreeMap::new();
    // The newest revision of each (email, file) this device has downloaded: an older
    // revision's copy of that file is not retried (the newer upload overwrote its stripes).
    let mut newest_done: BTreeMap<(EmailId, u8), u8> = BTreeMap::new();
    let mut sequence: u64 = 0;
    loop {
        let next_retry_us = retries.keys().next().map(|(at, _)| *at);
        let pending = tokio::select! {
            record = received.recv() => match record {
                Some(record) => Some(PendingDownload { record, done: BTreeSet::new(), attempt: 1 }),
                None => return,
            },
            () = sleep_until_us(next_retry_us.unwrap_or(u64::MAX)), if next_retry_us.is_some() => {
                retries.pop_first().map(|(_, entry)| entry)
            }
        };
        let Some(mut pending) = pending else {
            continue;
        };
        let email_id = EmailId(pending.record.file_header.email_id);
        let edit_sequence = pending.record.file_header.edit_sequence;
        for entry in &pending.record.manifest {
            if newest_done
                .get(&(email_id, entry.file_type))
                .is_some_and(|newest| *newest > edit_sequence)
            {
                pending.done.insert(entry.file_type);
            }
        }
        let all_superseded = pending
            .record
            .manifest
            .iter()
            .all(|entry| pending.done.contains(&entry.file_type));
        let finished = all_superseded || download_once(&context, &mut pending).await;
        for file_type in &pending.done {
            let newest = newest_done
                .entry((email_id, *file_type))
                .or_insert(edit_sequence);
            *newest = (*newest).max(edit_sequence);
        }
        if finished {
            continue;
        }
        if pending.attempt >= DOWNLOAD_ATTEMPTS_MAX {
            give_up(&context, &pending);
            continue;
        }
        pending.attempt += 1;
        sequence += 1;
        let at_us = host_now_us() + u64::from(DOWNLOAD_RETRY_S) * US_PER_S;
        retries.insert((at_us, sequence), pending);
    }
}

fn give_up(context: &DeviceContext, pending: &PendingDownload) {
    let email_id = EmailId(pending.record.file_header.email_id);
    let mut gave_up = context.shared.progress.lock_gave_up();
    for entry in &pending.record.manifest {
        if !pending.done.contains(&entry.file_type) {
            gave_up.insert((context.mailbox.id, email_id, entry.file_type));
        }
    }
}

/// One attempt at the files of one tell not yet accepted. True when every file is.
async fn download_once(context: &DeviceContext, pending: &mut PendingDownload) -> bool {
    let email_id = EmailId(pending.record.file_header.email_id);
    let attempt = pending.attempt;
    let failed = |file_type: u8, error: &ClientError| EventKind::DownloadFailed {
        mailbox: context.mailbox.id,
        device: context.device.device,
        email_id,
        edit_sequence: pending.record.file_header.edit_sequence,
        file_type,
        reason: format!("attempt {attempt}: {error}"),
    };
    let results = match context.client.download_files(&pending.record).await {
        Ok(results) => results,
        Err(error) => {
            for entry in &pending.record.manifest {
                if !pending.done.contains(&entry.file_type) {
                    context.record(failed(entry.file_type, &error));
                }
            }
            return false;
        }
    };
    for (entry, result) in pending.record.manifest.iter().zip(results) {
        if pending.done.contains(&entry.file_type) {
            continue;
        }
        match result {
            Ok(file) => {
                pending.done.insert(file.file_type);
                context.record(EventKind::DownloadDone {
                    mailbox: context.mailbox.id,
                    device: context.device.device,
                    email_id,
                    file_type: file.file_type,
                    size_bytes: file.bytes.len() as u64,
                    crc32: stripe::file_crc32(&file.bytes),
                    rebuilt_stripe: file
                        .rebuilt_stripe
                        .and_then(|index| u8::try_from(index).ok()),
                });
            }
            Err(error) => context.record(failed(entry.file_type, &error)),
        }
    }
    pending
        .record
        .manifest
        .iter()
        .all(|entry| pending.done.contains(&entry.file_type))
}

/// The adversary host.
#[derive(Debug)]
pub struct AdversaryHost {
    clock: SimClock,
    shared: Arc<Shared>,
    seed: u64,
}

impl AdversaryHost {
    /// The adversary of a run; `seed` seeds its clients.
    pub fn new(clock: HostClock, shared: Arc<Shared>, seed: u64) -> AdversaryHost {
        AdversaryHost {
            clock: SimClock::new(clock),
            shared,
            seed,
        }
    }
}

/// The adversary's software: re-sends captured tells when they are due.
pub async fn run_adversary(host: Arc<AdversaryHost>) -> turmoil::Result {
    let mut clients: BTreeMap<u32, Arc<Client<SimConnector>>> = BTreeMap::new();
    let mut due: BTreeMap<(u64, u64), Captured> = BTreeMap::new();
    let mut sequence: u64 = 0;
    loop {
        for captured in std::mem::take(&mut *host.shared.captures.lock()) {
            sequence += 1;
            due.insert((captured.due_us, sequence), captured);
        }
        if host.shared.progress.healed() {
            for _ in std::mem::take(&mut due) {
                host.shared.progress.resend_done();
            }
        }
        let now_us = host_now_us();
        while let Some(entry) = due.first_entry() {
            if entry.key().0 > now_us {
                break;
            }
            let captured = entry.remove();
            let client = clients
                .entry(captured.sender)
                .or_insert_with(|| {
                    let sender = host.shared.plan.mailbox(captured.sender);
                    Arc::new(client_of(
                        sender,
                        &host.shared.directory,
                        host.shared.config.clone(),
                        &host.clock,
                        splitmix64(host.seed ^ u64::from(captured.sender)),
                        Arc::new(qmail_client::observer::NoopObserver),
                        ClientExtensions::none(),
                    ))
                })
                .clone();
            tokio::spawn(resend(host.clone(), client, captured));
        }
        tokio::time::sleep(Duration::from_millis(ADVERSARY_POLL_MS)).await;
    }
}

async fn resend(host: Arc<AdversaryHost>, client: Arc<Client<SimConnector>>, captured: Captured) {
    let fault = if captured.replay {
        FaultKind::Replay {
            email_id: captured.email_id,
            edit_sequence: captured.edit_sequence,
        }
    } else {
        FaultKind::DuplicateTell {
            email_id: captured.email_id,
            edit_sequence: captured.edit_sequence,
        }
    };
    if let Ok(record) = TellRecord::from_bytes(&captured.record) {
        host.shared.recorder.record(
            Host::Adversary,
            EventKind::FaultFired {
                fault,
                hosts: vec![Host::Adversary],
                detail: format!("to beacon {}", captured.beacon),
            },
        );
        let routing = TellRouting::for_record(&record, wire_timestamp_s(client.clock()));
        let outcome = client
            .send_tell_record(captured.beacon, &captured.entries, &record, &routing)
            .await;
        tracing::debug!(status = ?outcome.status(), "adversary re-sent a tell");
    }
    host.shared.progress.resend_done();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(text: &str) -> Scenario {
        Scenario::from_toml_str(
            &format!("[scenario]\nname = \"w\"\n{text}"),
            "scenarios/w.toml",
        )
        .expect("parses")
    }

    fn plan_of(scenario: &Scenario, seed: u64) -> Plan {
        let tree = SeedTree::new(seed);
        let faults = scenario.faults.resolve(&tree);
        Plan::generate(scenario, &faults, &tree.subtree("workload"))
    }

    #[test]
    fn plans_are_deterministic_and_within_the_scenario() {
        let scenario = scenario(
            "[topology]\nmailboxes = 6\ndevices_per_mailbox = 2\nclient_hosts = 3\n\
             [workload]\nemails = 40\nrecipients_min = 2\nrecipients_max = 4\n\
             revision_fraction = 0.5\nattachments_max = 3\n\
             [faults]\nreplay_fraction = 0.5\n",
        );
        let plan = plan_of(&scenario, 7);
        assert_eq!(plan, plan_of(&scenario, 7));
        assert_ne!(plan, plan_of(&scenario, 8));
        assert_eq!(plan.mailboxes.len(), 6);
        assert_eq!(plan.emails.len(), 40);
        assert!(plan.needs_adversary());
        let mut revised = 0;
        for email in &plan.emails {
            assert!((2..=4).contains(&email.recipients.len()));
            assert!(email.recipients.iter().all(|r| r.mailbox != email.sender));
            let distinct: BTreeSet<u32> = email.recipients.iter().map(|r| r.mailbox).collect();
            assert_eq!(distinct.len(), email.recipients.len());
            for (edit, revision) in email.revisions.iter().enumerate() {
                assert_eq!(usize::from(revision.edit_sequence), edit);
                assert!(revision.attachment_sizes.len() <= 3);
                assert!(revision.body_size >= 1);
            }
            if let [first, second] = email.revisions.as_slice() {
                revised += 1;
                assert!(second.send_at_us > first.send_at_us);
                assert_ne!(
                    first.files(),
                    second.files(),
                    "a revision changes the content"
                );
            }
            assert!(email.revisions[0].send_at_us < 30 * US_PER_S);
        }
        assert!(revised > 5 && revised < 35, "{revised} of 40 revised");
        for mailbox in &plan.mailboxes {
            assert_eq!(mailbox.ans.len(), RAIDA_SLOTS);
            assert_eq!(mailbox.devices.len(), 2);
            assert!(mailbox.devices.iter().all(|d| d.host < 3));
            assert_eq!(mailbox.home_host, mailbox.devices[0].host);
        }
        assert_eq!(plan.revision_count(), 40 + revised);
    }

    #[test]
    fn file_contents_are_seeded() {
        assert_eq!(content(5, 1, 100), content(5, 1, 100));
        assert_ne!(content(5, 1, 100), content(5, 0x0A, 100));
        assert_eq!(content(5, 1, 0), Vec::<u8>::new());
        assert_eq!(content(9, 1, 33).len(), 33);
    }

    #[test]
    fn quiet_scenarios_need_no_adversary_and_lone_mailboxes_mail_themselves() {
        let scenario =
            scenario("[topology]\nmailboxes = 1\n[workload]\nemails = 3\nrecipients_max = 1\n");
        let plan = plan_of(&scenario, 1);
        assert!(!plan.needs_adversary());
        for email in &plan.emails {
            assert_eq!(email.recipients.len(), 1);
            assert_eq!(email.recipients[0].mailbox, 0);
        }
    }
}
