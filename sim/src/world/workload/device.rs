//! Devices: each polls its mailbox's beacon (ping or peek) and downloads every file of every
//! tell it receives, retrying failed files. A device planned with an outage starts no poll
//! and no download while it lasts; a slow device pauses longer between polls.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use qmail_client::client::Client;
use qmail_client::error::ClientError;
use qmail_client::receive::Poll;
use qmail_client::stripe::{self};
use qmail_wire::tell::TellRecord;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::history::{EmailId, EventKind, Host, PollKind};
use crate::limits::{
    DOWNLOAD_ATTEMPTS_MAX, DOWNLOAD_RETRY_S, PEEK_INTERVAL_MS_MAX, PEEK_INTERVAL_MS_MIN,
    POLL_FAILURE_BACKOFF_MS, STATUS_SUCCESS, US_PER_S,
};
use crate::seed::splitmix64;
use crate::world::net::SimConnector;
use crate::world::recorder::host_now_us;

use super::{sleep_until_us, DevicePlan, MailboxPlan, Shared};

/// What a device's poll and download tasks share.
pub(super) struct DeviceContext {
    pub(super) host: Host,
    pub(super) mailbox: MailboxPlan,
    pub(super) device: DevicePlan,
    pub(super) client: Arc<Client<SimConnector>>,
    pub(super) shared: Arc<Shared>,
}

impl DeviceContext {
    fn record(&self, kind: EventKind) {
        self.shared.recorder.record(self.host, kind);
    }

    /// Sleeps to the end of the device's outage when it is in one now.
    async fn wait_out_outage(&self) {
        if let Some(outage) = self.device.outage {
            if outage.covers(host_now_us()) {
                sleep_until_us(outage.end_us).await;
            }
        }
    }
}

/// Polls the beacon forever; hands every received tell to the download task.
pub(super) async fn poll_task(
    context: Arc<DeviceContext>,
    downloads: tokio::sync::mpsc::UnboundedSender<TellRecord>,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(splitmix64(context.device.seed));
    let since_unix_s: u32 = 0;
    let beacon = context.mailbox.beacon;
    let via = context.device.poll;
    loop {
        context.wait_out_outage().await;
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
                let slow_factor = context.device.slow_factor;
                match via {
                    PollKind::Ping if slow_factor <= 1 => 0,
                    PollKind::Ping | PollKind::Peek => rng
                        .random_range(PEEK_INTERVAL_MS_MIN..=PEEK_INTERVAL_MS_MAX)
                        .saturating_mul(slow_factor),
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
pub(super) async fn download_task(
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
        if !all_superseded {
            context.wait_out_outage().await;
        }
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
