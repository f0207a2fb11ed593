//! Senders: each email's task sends its revisions (uploads, then tells; or tells first when
//! the seed chose tell-before-upload), and the sending client's observer records `EmailSent`
//! and `TellSent` and captures tells for the adversary.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use qmail_client::client::Client;
use qmail_client::error::{ClientError, RaidaRef};
use qmail_client::identity::MailboxId as ClientMailbox;
use qmail_client::observer::{ClientObserver, TellSent};
use qmail_client::send::{Email, Recipient};
use qmail_client::stripe::{self};
use qmail_wire::header::Command;
use qmail_wire::tell::{AddressEntry, RecipientKind};

use crate::history::{EmailId, EventKind, FaultKind, FileSent, Host, MailboxId};
use crate::world::net::SimConnector;
use crate::world::recorder::{host_now_us, Reservation};

use super::{
    client_mailbox, history_mailbox, sleep_until_us, ClientHost, EmailPlan, MailboxPlan, Plan,
    Shared, SEND_ATTEMPTS_MAX, SEND_RETRY_S,
};
use crate::faults::adversary::Captured;

/// The EmailSent payload of one revision, announced before its first tell.
#[derive(Clone, Debug)]
pub(super) struct Announcement {
    pub(super) recipients: Vec<MailboxId>,
    pub(super) files: Vec<FileSent>,
    pub(super) announced: bool,
    pub(super) plan_index: u32,
}

/// The sending client's observer: records `EmailSent` and `TellSent`, captures tells for
/// the adversary.
///
/// A tell attempt is recorded when it finishes but placed at the instant its request went
/// out (a [`Reservation`] taken in `request_sent`), matched by (task, beacon): one email's
/// tells run concurrently inside its sending task, one per beacon.
pub(super) struct SenderObserver {
    pub(super) shared: Arc<Shared>,
    pub(super) host: Host,
    pub(super) sender: MailboxPlan,
    pub(super) announcements: Mutex<BTreeMap<(EmailId, u8), Announcement>>,
    /// The revision each sending task is sending now.
    pub(super) sending: Mutex<BTreeMap<tokio::task::Id, (EmailId, u8)>>,
    /// Open tell attempts by (task, beacon), oldest first.
    pub(super) in_flight: Mutex<BTreeMap<(tokio::task::Id, u8), VecDeque<Reservation>>>,
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
            captured.push((now_us, false, None));
        }
        if let Some(after_us) = resend.replay_after_us {
            captured.push((now_us + after_us, true, None));
        }
        if let Some(offset_s) = resend.split_offset_s {
            captured.push((now_us, false, Some(offset_s)));
        }
        let mut queue = self.shared.captures.lock();
        for (due_us, replay, routing_offset_s) in captured {
            self.shared.progress.resend_planned();
            queue.push(Captured {
                due_us,
                replay,
                routing_offset_s,
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
pub(super) async fn send_email_task(
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
            tell_before_upload(&host, &client, &observer, &message, sender.id).await;
        } else {
            upload_started(&host, &message, sender.id);
            send_with_retries(&client, &message).await;
        }
        host.shared.progress.send_done();
    }
}

/// Records `UploadStarted`: the revision's first upload goes out now.
fn upload_started(host: &ClientHost, email: &Email, sender: MailboxId) {
    host.shared.recorder.record(
        Host::Client(host.index),
        EventKind::UploadStarted {
            email_id: EmailId(email.guid),
            sender,
            edit_sequence: email.edit_sequence,
        },
    );
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
    sender: MailboxId,
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
    // The client's own send steps, run in the wrong order: the tells announce stripes
    // that are not stored yet.
    let Ok(prepared) = client.prepare(email) else {
        return;
    };
    client.tell_all(&prepared).await;
    upload_started(host, email, sender);
    let uploaded = client.upload_all(&prepared).await.all_stored();
    if uploaded {
        if let Some(announcement) = observer.lock().get_mut(&(email_id, email.edit_sequence)) {
            announcement.announced = false;
        }
        observer.announce(email_id, email.edit_sequence);
    }
}
