//! The workload drawn before the run: mailboxes, devices, emails, revisions and their
//! per-revision fault choices, all from the `"workload"` seed subtree.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use qmail_client::config::Config;
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
    PING_READ_MARGIN_S, REPLAY_DELAY_S_MAX, REPLAY_DELAY_S_MIN, REVISION_DELAY_S_MAX,
    REVISION_DELAY_S_MIN, US_PER_S,
};
use crate::scenario::{PollMode, Scenario};
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

    pub(crate) fn mailbox(&self, index: u32) -> &MailboxPlan {
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
