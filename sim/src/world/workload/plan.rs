//! The workload drawn before the run: mailboxes, devices, emails, revisions and their
//! per-revision fault choices, all from the `"workload"` seed subtree.
//!
//! The shapes of issue 10 (per-email striping, revision counts and bursts, the hot mailbox,
//! device outages and slowness, split timestamps) come from their own streams,
//! `("email.shape", k)` and `("device.shape", i)`, so a scenario that leaves them at their
//! defaults draws every other value exactly as before.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use qmail_client::config::{Config, Parity};
use qmail_client::directory::Directory;
use qmail_client::identity::{Identity, LockerCode, MailboxId as ClientMailbox};
use qmail_client::stripe::DataStripeCount;
use qmail_wire::crypto::ResponseCounter;
use qmail_wire::tell::RecipientKind;
use raida_server::coins::locker_code_from_ascii;
use raida_server::settings::{ResponseCounterSetting, Settings};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::faults::Faults;
use crate::history::{EmailId, MailboxId, PollKind};
use crate::limits::{
    PING_READ_MARGIN_S, RECIPIENTS_MAX, REPLAY_DELAY_S_MIN, REVISION_BURST_MS_MAX,
    REVISION_DELAY_S_MAX, REVISION_DELAY_S_MIN, RS_PARITY_STRIPES_MIN, SIM_STORAGE_DURATION,
    TIMESTAMP_SPLIT_WINDOWS_MAX, US_PER_MS, US_PER_S,
};
use crate::scenario::{PollMode, Scenario, Workload};
use crate::seed::{splitmix64, SeedTree};
use crate::world::net::RAIDA_PORT;

use super::RAIDA_SLOTS;

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
    /// When it is offline (no polls, no downloads), if ever.
    pub outage: Option<Outage>,
    /// Its pauses between polls are this many times the usual (1: not slow).
    pub slow_factor: u32,
}

/// A device's time offline, simulated microseconds: `[start_us, end_us)`, inside the safety
/// phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outage {
    /// It stops polling and downloading here.
    pub start_us: u64,
    /// It comes back here.
    pub end_us: u64,
}

impl Outage {
    /// Whether `now_us` falls in the outage.
    pub fn covers(&self, now_us: u64) -> bool {
        (self.start_us..self.end_us).contains(&now_us)
    }
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
    /// Send it again at once, the routing timestamp this far from the file-header one.
    pub split_offset_s: Option<i32>,
}

impl Resend {
    fn is_some(&self) -> bool {
        self.duplicate || self.replay_after_us.is_some() || self.split_offset_s.is_some()
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
    /// Its data stripes per file (every revision alike).
    pub data_stripes: u8,
    /// Its parity scheme (every revision alike).
    pub parity: Parity,
    /// Whether its revisions go out in a burst, 0–1 s apart.
    pub burst: bool,
}

/// Everything the workload will do.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// RAIDAs in the topology.
    pub raidas: u8,
    /// Client hosts.
    pub client_hosts: u16,
    /// Data stripes per file of an email that draws no other width.
    pub data_stripes: u8,
    /// The workload as this seed resolved it (swarm varies the shape knobs).
    pub workload: Workload,
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
        let workload = scenario.workload.resolve(faults.swarm, tree);
        let drawn = Drawn {
            scenario,
            workload: &workload,
            faults,
            tree,
        };
        let mailboxes: Vec<MailboxPlan> = (0..topology.mailboxes)
            .map(|index| mailbox_plan(&drawn, index))
            .collect();
        let emails = (0..workload.emails)
            .map(|index| email_plan(&drawn, &mailboxes, index))
            .collect();
        Plan {
            raidas: topology.raidas,
            client_hosts: topology.client_hosts,
            data_stripes: workload.data_stripes,
            workload,
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

    pub(crate) fn mailbox(&self, index: u32) -> &MailboxPlan {
        self.mailboxes
            .get(usize::try_from(index).unwrap_or(usize::MAX))
            .expect("mailbox index within the plan")
    }
}

/// What every draw of one plan reads: the scenario, its workload as resolved, the faults,
/// the workload seed subtree.
struct Drawn<'a> {
    scenario: &'a Scenario,
    workload: &'a Workload,
    faults: &'a Faults,
    tree: &'a SeedTree,
}

fn mailbox_plan(drawn: &Drawn<'_>, index: u32) -> MailboxPlan {
    let (scenario, tree) = (drawn.scenario, drawn.tree);
    let topology = &scenario.topology;
    let mut rng = tree.stream_for_host("mailbox", u64::from(index));
    let mut shape = tree.stream_for_host("device.shape", u64::from(index));
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
            let (outage, slow_factor) = device_shape(drawn, &mut shape);
            DevicePlan {
                device,
                host,
                poll,
                seed: rng.next_u64(),
                outage,
                slow_factor,
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

/// One device's outage and slowness: the same four draws whatever the knobs.
fn device_shape(drawn: &Drawn<'_>, shape: &mut ChaCha8Rng) -> (Option<Outage>, u32) {
    let workload = drawn.workload;
    let safety_us = drawn.scenario.safety_phase_us().max(1);
    let outage_u: f64 = shape.random();
    let start_us = shape.random_range(0..safety_us);
    let length_us = shape.random_range(
        u64::from(workload.device_outage_s_min) * US_PER_S
            ..=u64::from(workload.device_outage_s_max) * US_PER_S,
    );
    let slow_u: f64 = shape.random();
    let outage = (outage_u < workload.device_outage_fraction).then(|| Outage {
        start_us,
        end_us: start_us.saturating_add(length_us).min(safety_us),
    });
    let slow_factor = if slow_u < workload.device_slow_fraction {
        workload.device_slow_factor
    } else {
        1
    };
    (outage, slow_factor)
}

/// One email's striping: N in `data_stripes..=data_stripes_max`, then Reed–Solomon with
/// 2..=`rs_parity_max` parity stripes by `reed_solomon_fraction`, else XOR.
fn striping(workload: &Workload, shape: &mut ChaCha8Rng) -> (u8, Parity) {
    let data_stripes = shape.random_range(workload.data_stripes..=workload.data_stripes_max);
    let rs_u: f64 = shape.random();
    let parity_count = shape.random_range(RS_PARITY_STRIPES_MIN..=workload.rs_parity_max);
    let parity = if rs_u < workload.reed_solomon_fraction {
        Parity::ReedSolomon { parity_count }
    } else {
        Parity::Xor
    };
    (data_stripes, parity)
}

fn email_plan(drawn: &Drawn<'_>, mailboxes: &[MailboxPlan], index: u32) -> EmailPlan {
    let (workload, tree) = (drawn.workload, drawn.tree);
    let mut rng = tree.stream_for_host("email", u64::from(index));
    let mut shape = tree.stream_for_host("email.shape", u64::from(index));
    let (data_stripes, parity) = striping(workload, &mut shape);
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
    let hot_u: f64 = shape.random();
    let room = recipients.len() < usize::from(RECIPIENTS_MAX);
    if hot_u < workload.hot_mailbox_fraction && sender != 0 && !chosen.contains(&0) && room {
        recipients.push(RecipientPlan {
            mailbox: 0,
            kind: RecipientKind::To,
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
    let revision_count = shape.random_range(2..=workload.revisions_max);
    let burst_u: f64 = shape.random();
    let burst = revise && burst_u < workload.revision_burst_fraction;
    let edits: u8 = if revise { revision_count } else { 1 };
    let mut revisions = Vec::new();
    for edit_sequence in 0..edits {
        if edit_sequence > 0 {
            let delay_us = rng.random_range(
                u64::from(REVISION_DELAY_S_MIN) * US_PER_S
                    ..=u64::from(REVISION_DELAY_S_MAX) * US_PER_S,
            );
            let burst_delay_us =
                shape.random_range(0..=u64::from(REVISION_BURST_MS_MAX) * US_PER_MS);
            send_at_us += if burst { burst_delay_us } else { delay_us };
        }
        revisions.push(revision_plan(
            drawn,
            &mut rng,
            &mut shape,
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
        data_stripes,
        parity,
        burst,
    }
}

/// A split-timestamp offset: nonzero, within ±`TIMESTAMP_SPLIT_WINDOWS_MAX` × `tell_skew_s`.
/// The same two draws whatever the chance.
fn split_offset_s(drawn: &Drawn<'_>, shape: &mut ChaCha8Rng) -> Option<i32> {
    let skew_s = u32::try_from(drawn.scenario.server.tell_skew_s).unwrap_or(u32::MAX);
    let reach_s = skew_s
        .saturating_mul(TIMESTAMP_SPLIT_WINDOWS_MAX)
        .clamp(1, i32::MAX.unsigned_abs());
    let split_u: f64 = shape.random();
    let magnitude_s = i32::try_from(shape.random_range(1..=reach_s)).unwrap_or(i32::MAX);
    let negative: bool = shape.random();
    let offset_s = if negative { -magnitude_s } else { magnitude_s };
    (split_u < drawn.faults.adversary.timestamp_split_fraction).then_some(offset_s)
}

fn revision_plan(
    drawn: &Drawn<'_>,
    rng: &mut ChaCha8Rng,
    shape: &mut ChaCha8Rng,
    beacons: &BTreeSet<u8>,
    edit_sequence: u8,
    send_at_us: u64,
) -> RevisionPlan {
    let (workload, faults) = (drawn.workload, drawn.faults);
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
            u64::from(REPLAY_DELAY_S_MIN) * US_PER_S
                ..=u64::from(faults.adversary.replay_delay_s_max) * US_PER_S,
        );
        resend.insert(
            *beacon,
            Resend {
                duplicate,
                replay_after_us: replay.then_some(delay_us),
                split_offset_s: split_offset_s(drawn, shape),
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
        tell_retries_max: scenario.workload.tell_retries_max,
        send_policy: scenario.workload.send_policy,
        storage_duration: SIM_STORAGE_DURATION,
        ..Config::default()
    }
}

/// The settings of the client that sends `email`, when its striping differs from `base`'s
/// (`None`: the mailbox's own client sends it).
pub fn email_config(base: &Config, email: &EmailPlan) -> Option<Config> {
    let data_stripe_count = DataStripeCount::new(usize::from(email.data_stripes))
        .expect("scenario validation bounds data_stripes_max");
    if data_stripe_count == base.data_stripe_count && email.parity == base.parity {
        return None;
    }
    let config = Config {
        data_stripe_count,
        parity: email.parity,
        ..base.clone()
    };
    config
        .validate()
        .expect("scenario validation fits every email's stripes on the RAIDAs");
    Some(config)
}

pub(crate) fn client_mailbox(id: MailboxId) -> ClientMailbox {
    ClientMailbox::new(id.denom, id.sn)
}

pub(crate) fn history_mailbox(id: ClientMailbox) -> MailboxId {
    MailboxId {
        denom: id.denomination,
        sn: id.serial_number,
    }
}

pub(crate) fn identity(mailbox: &MailboxPlan) -> Identity {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::US_PER_S;

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

    /// Every email of every seed in `seeds`.
    fn emails_of(scenario: &Scenario, seeds: std::ops::Range<u64>) -> Vec<EmailPlan> {
        seeds
            .flat_map(|seed| plan_of(scenario, seed).emails)
            .collect()
    }

    #[test]
    fn emails_draw_their_width_and_parity() {
        let base = scenario("[workload]\nemails = 60\n");
        let config = client_config(&base, &Settings::default());
        for email in emails_of(&base, 0..2) {
            assert_eq!((email.data_stripes, email.parity), (7, Parity::Xor));
            assert_eq!(
                email_config(&config, &email),
                None,
                "the mailbox client sends it"
            );
        }
        let wide = scenario(
            "[workload]\nemails = 60\ndata_stripes = 3\ndata_stripes_max = 12\n\
             reed_solomon_fraction = 0.5\nrs_parity_max = 4\n",
        );
        let emails = emails_of(&wide, 0..2);
        let widths: BTreeSet<u8> = emails.iter().map(|e| e.data_stripes).collect();
        assert!(widths.iter().all(|n| (3..=12).contains(n)), "{widths:?}");
        assert!(widths.len() >= 8, "widths spread: {widths:?}");
        let mut parities = BTreeSet::new();
        let mut rs = 0;
        for email in &emails {
            if let Parity::ReedSolomon { parity_count } = email.parity {
                assert!((2..=4).contains(&parity_count));
                parities.insert(parity_count);
                rs += 1;
            }
            let config = email_config(&config, email);
            let differs = (email.data_stripes, email.parity) != (7, Parity::Xor);
            assert_eq!(config.is_some(), differs);
            if let Some(config) = config {
                assert_eq!(
                    config.data_stripe_count.get(),
                    usize::from(email.data_stripes)
                );
                assert_eq!(config.parity, email.parity);
            }
        }
        assert!((30..=90).contains(&rs), "{rs} of 120 use Reed-Solomon");
        assert_eq!(parities.len(), 3, "{parities:?}");
    }

    #[test]
    fn new_shapes_leave_every_other_draw_alone() {
        let base = scenario(
            "[workload]\nemails = 30\nrevision_fraction = 0.5\n[faults]\nreplay_fraction = 0.5\n",
        );
        let shaped = scenario(
            "[workload]\nemails = 30\nrevision_fraction = 0.5\ndata_stripes_max = 12\n\
             reed_solomon_fraction = 0.5\ndevice_outage_fraction = 0.5\n\
             [faults]\nreplay_fraction = 0.5\ntimestamp_split_fraction = 0.5\n",
        );
        let (a, b) = (plan_of(&base, 4), plan_of(&shaped, 4));
        for (x, y) in a.emails.iter().zip(&b.emails) {
            assert_eq!((x.email_id, x.sender), (y.email_id, y.sender));
            assert_eq!(x.recipients, y.recipients);
            for (r, q) in x.revisions.iter().zip(&y.revisions) {
                assert_eq!((r.send_at_us, r.content_key), (q.send_at_us, q.content_key));
                for (beacon, resend) in &r.resend {
                    let other = q.resend.get(beacon).expect("same beacons");
                    assert_eq!(resend.replay_after_us, other.replay_after_us);
                    assert_eq!(resend.split_offset_s, None);
                }
            }
        }
        for (x, y) in a.mailboxes.iter().zip(&b.mailboxes) {
            assert_eq!(x.ans, y.ans);
            for (d, e) in x.devices.iter().zip(&y.devices) {
                assert_eq!((d.seed, d.host, d.poll), (e.seed, e.host, e.poll));
                assert_eq!((d.outage, d.slow_factor), (None, 1));
            }
        }
    }

    #[test]
    fn outages_fall_in_the_safety_phase_and_slow_devices_are_slower() {
        let scenario = scenario(
            "[sim]\nduration_s = 90\n[topology]\nmailboxes = 20\ndevices_per_mailbox = 2\n\
             [workload]\ndevice_outage_fraction = 0.5\ndevice_outage_s_min = 20\n\
             device_outage_s_max = 40\ndevice_slow_fraction = 0.25\ndevice_slow_factor = 5\n",
        );
        let plan = plan_of(&scenario, 3);
        let devices: Vec<&DevicePlan> = plan.mailboxes.iter().flat_map(|m| &m.devices).collect();
        let outages: Vec<Outage> = devices.iter().filter_map(|d| d.outage).collect();
        assert!((8..=32).contains(&outages.len()), "{} of 40", outages.len());
        let safety_us = 90 * US_PER_S;
        for outage in &outages {
            assert!(outage.start_us < outage.end_us && outage.end_us <= safety_us);
            let length_us = outage.end_us - outage.start_us;
            assert!(length_us <= 40 * US_PER_S);
            assert!(length_us >= 20 * US_PER_S || outage.end_us == safety_us);
            assert!(outage.covers(outage.start_us) && !outage.covers(outage.end_us));
        }
        let slow = devices.iter().filter(|d| d.slow_factor == 5).count();
        assert!((3..=20).contains(&slow), "{slow} of 40 slow");
        assert!(devices
            .iter()
            .all(|d| d.slow_factor == 1 || d.slow_factor == 5));
    }

    #[test]
    fn revised_emails_send_up_to_revisions_max_and_bursts_come_within_a_second() {
        let burst = scenario(
            "[workload]\nemails = 40\nrevision_fraction = 1.0\nrevisions_max = 5\n\
             revision_burst_fraction = 1.0\n",
        );
        let mut counts = BTreeSet::new();
        for email in emails_of(&burst, 0..2) {
            assert!(email.burst);
            assert!((2..=5).contains(&email.revisions.len()));
            counts.insert(email.revisions.len());
            for pair in email.revisions.windows(2) {
                let gap_us = pair[1].send_at_us - pair[0].send_at_us;
                assert!(gap_us <= u64::from(REVISION_BURST_MS_MAX) * US_PER_MS);
                assert_eq!(pair[1].edit_sequence, pair[0].edit_sequence + 1);
            }
        }
        assert_eq!(counts.len(), 4, "{counts:?}");
        let spaced =
            scenario("[workload]\nemails = 40\nrevision_fraction = 1.0\nrevisions_max = 3\n");
        for email in emails_of(&spaced, 0..2) {
            assert!(!email.burst);
            for pair in email.revisions.windows(2) {
                assert!(pair[1].send_at_us - pair[0].send_at_us >= US_PER_S);
            }
        }
    }

    #[test]
    fn the_hot_mailbox_joins_emails() {
        let hot = scenario(
            "[topology]\nmailboxes = 10\n[workload]\nemails = 50\nhot_mailbox_fraction = 1.0\n",
        );
        let emails = emails_of(&hot, 0..1);
        for email in &emails {
            let zeros = email.recipients.iter().filter(|r| r.mailbox == 0).count();
            assert_eq!(
                zeros,
                usize::from(email.sender != 0),
                "email {}",
                email.index
            );
        }
        let cold = scenario("[topology]\nmailboxes = 10\n[workload]\nemails = 50\n");
        let to_zero = |emails: &[EmailPlan]| {
            emails
                .iter()
                .filter(|e| e.recipients.iter().any(|r| r.mailbox == 0))
                .count()
        };
        assert!(to_zero(&emails) > 2 * to_zero(&emails_of(&cold, 0..1)));
    }

    fn resends(scenario: &Scenario) -> Vec<Resend> {
        emails_of(scenario, 0..2)
            .iter()
            .flat_map(|e| e.revisions.iter().flat_map(|r| r.resend.values().copied()))
            .collect()
    }

    #[test]
    fn replays_may_come_later_than_the_tell_window() {
        let late = scenario(
            "[workload]\nemails = 40\n[faults]\nreplay_fraction = 1.0\nreplay_delay_s_max = 300\n",
        );
        let delays: Vec<u64> = resends(&late)
            .iter()
            .filter_map(|r| r.replay_after_us)
            .collect();
        let skew_us = 60 * US_PER_S;
        assert!(delays.iter().all(|d| *d <= 300 * US_PER_S));
        assert!(delays.iter().filter(|d| **d > skew_us).count() > delays.len() / 2);
        let default = scenario("[workload]\nemails = 40\n[faults]\nreplay_fraction = 1.0\n");
        let delays: Vec<u64> = resends(&default)
            .iter()
            .filter_map(|r| r.replay_after_us)
            .collect();
        assert!(!delays.is_empty());
        assert!(delays.iter().all(|d| *d <= 45 * US_PER_S && *d >= US_PER_S));
    }

    #[test]
    fn split_timestamps_differ_by_up_to_two_windows() {
        let split = scenario(
            "[workload]\nemails = 40\n[faults]\ntimestamp_split_fraction = 0.5\n\
             [server]\ntell_skew_s = 30\n",
        );
        let all = resends(&split);
        let offsets: Vec<i32> = all.iter().filter_map(|r| r.split_offset_s).collect();
        let share = offsets.len() * 100 / all.len();
        assert!((30..=70).contains(&share), "{share}% split");
        assert!(
            offsets.iter().all(|o| *o != 0 && o.abs() <= 60),
            "{offsets:?}"
        );
        assert!(
            offsets.iter().any(|o| o.abs() > 30),
            "some outside the window"
        );
        assert!(
            offsets.iter().any(|o| o.abs() <= 30),
            "some inside the window"
        );
        assert!(offsets.iter().any(|o| *o < 0) && offsets.iter().any(|o| *o > 0));
        assert!(plan_of(&split, 0).needs_adversary());
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
