//! The server's code probes (crate `probe`, FoundationDB's `CODE_PROBE`): named markers on
//! the rare paths of command handling and storage, counted per run so `raida-sim coverage`
//! can say which of them no scenario reaches.
//!
//! Three families:
//!
//! - `server.status.N`: a reply with status N was built (every status of
//!   [`qmail_wire::Status::ALL`]; [`status_sent`] picks the probe by code). Replies are built
//!   in one place (`handler::ReplyContext`), so every status the server sends is counted.
//! - the named paths below: the edit_sequence guard (skip, re-check skip, overwrite by a
//!   newer or an equal edit), the beacon's `total_file_size` overwrite, a reply cut at
//!   `max_tells_per_reply` or `max_reply_bytes`, parked pings woken, woken for nothing or
//!   timed out, deletions that found the tell gone or replaced, temp files seen by a scan,
//!   corrupt stripes, recipients refused, extensions answering.
//! - `server.crash_recovered.STEP`: a RAIDA that lost power right after fs step STEP (every
//!   [`Step`]; [`crash_recovered`] picks the probe) booted again on the disk the crash left.
//!   The server cannot know why it booted, so the simulator's fault driver, which crashed it
//!   at that step, hits the probe when it restarts the host.
//!
//! To add a probe: one line in the [`probe::registry!`] below, then `probe::hit(&X)` where
//! the code commits to the path; `raida-sim coverage` lists it from then on.

use qmail_wire::Status;

use crate::fs::Step;

probe::registry! {
    prefix = "server";
    STATUS_2 = "server.status.2", "A reply with status 2 was built to be sent.";
    STATUS_3 = "server.status.3", "A reply with status 3 was built to be sent.";
    STATUS_4 = "server.status.4", "A reply with status 4 was built to be sent.";
    STATUS_5 = "server.status.5", "A reply with status 5 was built to be sent.";
    STATUS_6 = "server.status.6", "A reply with status 6 was built to be sent.";
    STATUS_7 = "server.status.7", "A reply with status 7 was built to be sent.";
    STATUS_8 = "server.status.8", "A reply with status 8 was built to be sent.";
    STATUS_16 = "server.status.16", "A reply with status 16 was built to be sent.";
    STATUS_17 = "server.status.17", "A reply with status 17 was built to be sent.";
    STATUS_18 = "server.status.18", "A reply with status 18 was built to be sent.";
    STATUS_27 = "server.status.27", "A reply with status 27 was built to be sent.";
    STATUS_33 = "server.status.33", "A reply with status 33 was built to be sent.";
    STATUS_34 = "server.status.34", "A reply with status 34 was built to be sent.";
    STATUS_37 = "server.status.37", "A reply with status 37 was built to be sent.";
    STATUS_40 = "server.status.40", "A reply with status 40 was built to be sent.";
    STATUS_169 = "server.status.169", "A reply with status 169 was built to be sent.";
    STATUS_194 = "server.status.194", "A reply with status 194 was built to be sent.";
    STATUS_198 = "server.status.198", "A reply with status 198 was built to be sent.";
    STATUS_200 = "server.status.200", "A reply with status 200 was built to be sent.";
    STATUS_202 = "server.status.202", "A reply with status 202 was built to be sent.";
    STATUS_245 = "server.status.245", "A reply with status 245 was built to be sent.";
    STATUS_250 = "server.status.250", "A reply with status 250 was built to be sent.";
    STATUS_254 = "server.status.254", "A reply with status 254 was built to be sent.";
    STATUS_255 = "server.status.255", "A reply with status 255 was built to be sent.";
    TELL_GUARD_SKIP = "server.tell.guard_skip", "A recipient was skipped: its inbox holds a higher edit_sequence of the GUID.";
    TELL_GUARD_SKIP_RECHECKED = "server.tell.guard_skip_rechecked", "The guard's re-check under the publish lock found a higher edit_sequence published meanwhile.";
    TELL_GUARD_OVERWRITE_NEWER = "server.tell.guard_overwrite_newer", "A higher edit_sequence replaced an older .tell of the same GUID.";
    TELL_GUARD_OVERWRITE_EQUAL = "server.tell.guard_overwrite_equal", "An equal edit_sequence (a retry or a duplicate) replaced the .tell of the same GUID.";
    TELL_TOTAL_FILE_SIZE_OVERWRITTEN = "server.tell.total_file_size_overwritten", "The beacon's body-stripe estimate replaced a total_file_size more than 5% short.";
    TELL_RECIPIENT_FEE_UNPAID = "server.tell.recipient_fee_unpaid", "A recipient was skipped: the locker did not hold its inbox fee.";
    TELL_RECIPIENT_INVALID = "server.tell.recipient_invalid", "A recipient was skipped: bad denomination, coin id or empty locker key.";
    TELL_PUBLISH_FAILED = "server.tell.publish_failed", "Publishing a tell into an inbox failed on the file system.";
    TELL_EXTENSION_REFUSED = "server.tell.extension_refused", "An active extension refused to publish a tell (replay_guard).";
    REPLY_TELLS_CAPPED = "server.reply.tells_capped", "A tell list stopped at max_tells_per_reply with more tells waiting.";
    REPLY_BYTES_CAPPED = "server.reply.bytes_capped", "A tell list stopped at max_reply_bytes with more tells waiting.";
    POLL_EXTENSION_RESENT = "server.poll.extension_resent", "An active extension answered a poll with records it held (delivery_ack).";
    PING_PARKED = "server.ping.parked", "A ping found the inbox empty and was parked.";
    PING_WOKEN_BY_TELL = "server.ping.woken_by_tell", "A parked ping was woken and its rescan found tells.";
    PING_WOKEN_EMPTY = "server.ping.woken_empty", "A parked ping was woken but its rescan found nothing (another poll took the tells).";
    PING_TIMEOUT = "server.ping.timeout", "A parked ping reached its deadline without tells.";
    DELETE_ALREADY_GONE = "server.delete.already_gone", "A read tell was already gone when its poll deleted it (another poll took it).";
    DELETE_REPLACED_KEPT = "server.delete.replaced_kept", "A read tell had been replaced by a newer publish and was left for the next poll.";
    INBOX_TEMP_FILE_SEEN = "server.inbox.temp_file_seen", "An inbox scan passed over a .tmp.* file: a publish in flight or one a crash left.";
    STRIPE_CORRUPT_READ = "server.stripe.corrupt_read", "A download found its stripe file torn, foreign or failing its CRC-32 (never sent as good data).";
    STRIPE_REREAD_GOOD = "server.stripe.reread_good", "A stripe file failed its CRC-32 once and read back good the second time (a transient read error).";
    INBOX_CORRUPT_READ = "server.inbox.corrupt_read", "A .tell file failed its trailer check on a read (torn, foreign or flipped on the way from the disk).";
    INBOX_REREAD_GOOD = "server.inbox.reread_good", "A .tell file failed its trailer check once and read back good the second time (a transient read error).";
    DELETE_FAILED_KEPT = "server.delete.failed_kept", "The disk failed a delivered tell's re-read or removal; it stays for the next poll and the rest are still deleted.";
    DELETE_UNREADABLE_KEPT = "server.delete.unreadable_kept", "A delivered tell no longer read back as a good record at delete time and was left in place.";
    CRASH_RECOVERED_ROOT_STATTED = "server.crash_recovered.root_statted", "A RAIDA that lost power right after step RootStatted booted again on the disk the crash left.";
    CRASH_RECOVERED_ROOT_DIR_CREATED = "server.crash_recovered.root_dir_created", "A RAIDA that lost power right after step RootDirCreated booted again on the disk the crash left.";
    CRASH_RECOVERED_ROOT_DIR_SYNCED = "server.crash_recovered.root_dir_synced", "A RAIDA that lost power right after step RootDirSynced booted again on the disk the crash left.";
    CRASH_RECOVERED_INBOX_STATTED = "server.crash_recovered.inbox_statted", "A RAIDA that lost power right after step InboxStatted booted again on the disk the crash left.";
    CRASH_RECOVERED_INBOX_DIR_CREATED = "server.crash_recovered.inbox_dir_created", "A RAIDA that lost power right after step InboxDirCreated booted again on the disk the crash left.";
    CRASH_RECOVERED_INBOX_DIR_SYNCED = "server.crash_recovered.inbox_dir_synced", "A RAIDA that lost power right after step InboxDirSynced booted again on the disk the crash left.";
    CRASH_RECOVERED_TELL_GUARD_READ = "server.crash_recovered.tell_guard_read", "A RAIDA that lost power right after step TellGuardRead booted again on the disk the crash left.";
    CRASH_RECOVERED_TELL_TEMP_CREATED = "server.crash_recovered.tell_temp_created", "A RAIDA that lost power right after step TellTempCreated booted again on the disk the crash left.";
    CRASH_RECOVERED_TELL_TEMP_WRITTEN = "server.crash_recovered.tell_temp_written", "A RAIDA that lost power right after step TellTempWritten booted again on the disk the crash left.";
    CRASH_RECOVERED_TELL_TEMP_SYNCED = "server.crash_recovered.tell_temp_synced", "A RAIDA that lost power right after step TellTempSynced booted again on the disk the crash left.";
    CRASH_RECOVERED_TELL_TEMP_CLOSED = "server.crash_recovered.tell_temp_closed", "A RAIDA that lost power right after step TellTempClosed booted again on the disk the crash left.";
    CRASH_RECOVERED_TELL_GUARD_RECHECKED = "server.crash_recovered.tell_guard_rechecked", "A RAIDA that lost power right after step TellGuardRechecked booted again on the disk the crash left.";
    CRASH_RECOVERED_TELL_RENAMED = "server.crash_recovered.tell_renamed", "A RAIDA that lost power right after step TellRenamed booted again on the disk the crash left.";
    CRASH_RECOVERED_TELL_DIR_SYNCED = "server.crash_recovered.tell_dir_synced", "A RAIDA that lost power right after step TellDirSynced booted again on the disk the crash left.";
    CRASH_RECOVERED_TELL_TEMP_REMOVED = "server.crash_recovered.tell_temp_removed", "A RAIDA that lost power right after step TellTempRemoved booted again on the disk the crash left.";
    CRASH_RECOVERED_INBOX_LISTED = "server.crash_recovered.inbox_listed", "A RAIDA that lost power right after step InboxListed booted again on the disk the crash left.";
    CRASH_RECOVERED_TELL_STATTED = "server.crash_recovered.tell_statted", "A RAIDA that lost power right after step TellStatted booted again on the disk the crash left.";
    CRASH_RECOVERED_TELL_READ = "server.crash_recovered.tell_read", "A RAIDA that lost power right after step TellRead booted again on the disk the crash left.";
    CRASH_RECOVERED_TELL_DELETE_CHECKED = "server.crash_recovered.tell_delete_checked", "A RAIDA that lost power right after step TellDeleteChecked booted again on the disk the crash left.";
    CRASH_RECOVERED_TELL_DELETED = "server.crash_recovered.tell_deleted", "A RAIDA that lost power right after step TellDeleted booted again on the disk the crash left.";
    CRASH_RECOVERED_TELL_DELETE_DIR_SYNCED = "server.crash_recovered.tell_delete_dir_synced", "A RAIDA that lost power right after step TellDeleteDirSynced booted again on the disk the crash left.";
    CRASH_RECOVERED_STRIPE_TEMP_CREATED = "server.crash_recovered.stripe_temp_created", "A RAIDA that lost power right after step StripeTempCreated booted again on the disk the crash left.";
    CRASH_RECOVERED_STRIPE_TEMP_WRITTEN = "server.crash_recovered.stripe_temp_written", "A RAIDA that lost power right after step StripeTempWritten booted again on the disk the crash left.";
    CRASH_RECOVERED_STRIPE_TEMP_SYNCED = "server.crash_recovered.stripe_temp_synced", "A RAIDA that lost power right after step StripeTempSynced booted again on the disk the crash left.";
    CRASH_RECOVERED_STRIPE_TEMP_CLOSED = "server.crash_recovered.stripe_temp_closed", "A RAIDA that lost power right after step StripeTempClosed booted again on the disk the crash left.";
    CRASH_RECOVERED_STRIPE_RENAMED = "server.crash_recovered.stripe_renamed", "A RAIDA that lost power right after step StripeRenamed booted again on the disk the crash left.";
    CRASH_RECOVERED_STRIPE_DIR_SYNCED = "server.crash_recovered.stripe_dir_synced", "A RAIDA that lost power right after step StripeDirSynced booted again on the disk the crash left.";
    CRASH_RECOVERED_STRIPE_TEMP_REMOVED = "server.crash_recovered.stripe_temp_removed", "A RAIDA that lost power right after step StripeTempRemoved booted again on the disk the crash left.";
    CRASH_RECOVERED_STRIPE_READ = "server.crash_recovered.stripe_read", "A RAIDA that lost power right after step StripeRead booted again on the disk the crash left.";
    CRASH_RECOVERED_STRIPE_DELETED = "server.crash_recovered.stripe_deleted", "A RAIDA that lost power right after step StripeDeleted booted again on the disk the crash left.";
    CRASH_RECOVERED_STRIPE_DELETE_DIR_SYNCED = "server.crash_recovered.stripe_delete_dir_synced", "A RAIDA that lost power right after step StripeDeleteDirSynced booted again on the disk the crash left.";
}

/// The probe of a reply with status byte `code`; `None` for a code no [`Status`] has.
pub fn status_probe(code: u8) -> Option<&'static probe::Probe> {
    let probe = match code {
        2 => &STATUS_2,
        3 => &STATUS_3,
        4 => &STATUS_4,
        5 => &STATUS_5,
        6 => &STATUS_6,
        7 => &STATUS_7,
        8 => &STATUS_8,
        16 => &STATUS_16,
        17 => &STATUS_17,
        18 => &STATUS_18,
        27 => &STATUS_27,
        33 => &STATUS_33,
        34 => &STATUS_34,
        37 => &STATUS_37,
        40 => &STATUS_40,
        169 => &STATUS_169,
        194 => &STATUS_194,
        198 => &STATUS_198,
        200 => &STATUS_200,
        202 => &STATUS_202,
        245 => &STATUS_245,
        250 => &STATUS_250,
        254 => &STATUS_254,
        255 => &STATUS_255,
        _ => return None,
    };
    Some(probe)
}

/// Counts a reply with status byte `code` (built to be sent).
pub fn status_sent(code: u8) {
    match status_probe(code) {
        Some(probe) => probe::hit(probe),
        // Every reply the server builds carries a known status.
        None => debug_assert!(Status::from_code(code).is_none()),
    }
}

/// The probe of a restart after a power loss right after `step`.
pub fn crash_recovered(step: Step) -> &'static probe::Probe {
    match step {
        Step::RootStatted => &CRASH_RECOVERED_ROOT_STATTED,
        Step::RootDirCreated => &CRASH_RECOVERED_ROOT_DIR_CREATED,
        Step::RootDirSynced => &CRASH_RECOVERED_ROOT_DIR_SYNCED,
        Step::InboxStatted => &CRASH_RECOVERED_INBOX_STATTED,
        Step::InboxDirCreated => &CRASH_RECOVERED_INBOX_DIR_CREATED,
        Step::InboxDirSynced => &CRASH_RECOVERED_INBOX_DIR_SYNCED,
        Step::TellGuardRead => &CRASH_RECOVERED_TELL_GUARD_READ,
        Step::TellTempCreated => &CRASH_RECOVERED_TELL_TEMP_CREATED,
        Step::TellTempWritten => &CRASH_RECOVERED_TELL_TEMP_WRITTEN,
        Step::TellTempSynced => &CRASH_RECOVERED_TELL_TEMP_SYNCED,
        Step::TellTempClosed => &CRASH_RECOVERED_TELL_TEMP_CLOSED,
        Step::TellGuardRechecked => &CRASH_RECOVERED_TELL_GUARD_RECHECKED,
        Step::TellRenamed => &CRASH_RECOVERED_TELL_RENAMED,
        Step::TellDirSynced => &CRASH_RECOVERED_TELL_DIR_SYNCED,
        Step::TellTempRemoved => &CRASH_RECOVERED_TELL_TEMP_REMOVED,
        Step::InboxListed => &CRASH_RECOVERED_INBOX_LISTED,
        Step::TellStatted => &CRASH_RECOVERED_TELL_STATTED,
        Step::TellRead => &CRASH_RECOVERED_TELL_READ,
        Step::TellDeleteChecked => &CRASH_RECOVERED_TELL_DELETE_CHECKED,
        Step::TellDeleted => &CRASH_RECOVERED_TELL_DELETED,
        Step::TellDeleteDirSynced => &CRASH_RECOVERED_TELL_DELETE_DIR_SYNCED,
        Step::StripeTempCreated => &CRASH_RECOVERED_STRIPE_TEMP_CREATED,
        Step::StripeTempWritten => &CRASH_RECOVERED_STRIPE_TEMP_WRITTEN,
        Step::StripeTempSynced => &CRASH_RECOVERED_STRIPE_TEMP_SYNCED,
        Step::StripeTempClosed => &CRASH_RECOVERED_STRIPE_TEMP_CLOSED,
        Step::StripeRenamed => &CRASH_RECOVERED_STRIPE_RENAMED,
        Step::StripeDirSynced => &CRASH_RECOVERED_STRIPE_DIR_SYNCED,
        Step::StripeTempRemoved => &CRASH_RECOVERED_STRIPE_TEMP_REMOVED,
        Step::StripeRead => &CRASH_RECOVERED_STRIPE_READ,
        Step::StripeDeleted => &CRASH_RECOVERED_STRIPE_DELETED,
        Step::StripeDeleteDirSynced => &CRASH_RECOVERED_STRIPE_DELETE_DIR_SYNCED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_its_probe() {
        for status in Status::ALL {
            let probe = status_probe(status.code()).expect("a probe per status");
            assert_eq!(probe.name(), format!("server.status.{}", status.code()));
            assert!(ALL.contains(&probe));
        }
        let status_probes = ALL
            .iter()
            .filter(|probe| probe.name().starts_with("server.status."))
            .count();
        assert_eq!(status_probes, Status::ALL.len());
        assert!(status_probe(1).is_none());
    }

    #[test]
    fn every_step_has_its_crash_probe() {
        for step in Step::ALL {
            let probe = crash_recovered(step);
            let snake: String = step
                .name()
                .chars()
                .enumerate()
                .flat_map(|(index, c)| {
                    let lower = c.to_ascii_lowercase();
                    if c.is_ascii_uppercase() && index > 0 {
                        vec!['_', lower]
                    } else {
                        vec![lower]
                    }
                })
                .collect();
            assert_eq!(probe.name(), format!("server.crash_recovered.{snake}"));
            assert!(probe.description().contains(step.name()));
            assert!(ALL.contains(&probe));
        }
    }

    #[test]
    fn hits_are_counted_by_name() {
        let _ = probe::take();
        status_sent(198);
        status_sent(198);
        status_sent(3);
        probe::hit(crash_recovered(Step::TellRenamed));
        let hits = probe::take();
        assert_eq!(hits.get("server.status.198"), Some(&2));
        assert_eq!(hits.get("server.status.3"), Some(&1));
        assert_eq!(hits.get("server.crash_recovered.tell_renamed"), Some(&1));
    }
}
