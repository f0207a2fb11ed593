//! The client's code probes (crate `probe`, FoundationDB's `CODE_PROBE`): named markers on
//! the rare paths of sending, polling and downloading, counted per run so `raida-sim
//! coverage` can say which of them no scenario reaches.
//!
//! - `client.xor.*`, `client.rs.*`: a stripe rebuilt from XOR parity or Reed–Solomon,
//!   because it was missing or because the CRC-32 found it lying; two or more rebuilt under
//!   Reed–Solomon; a file that could not be rebuilt at all.
//! - `client.download.*`: a RAIDA answering 202 for a stripe (a tell that arrived before
//!   its uploads, an expired or lost stripe), a stripe of the wrong size.
//! - `client.retry.CMD`, `client.give_up.CMD`: an idempotent request (upload, download,
//!   peek, echo) retried on the same RAIDA after a transient failure, or out of attempts
//!   ([`retry`], [`give_up`] pick the probe). A stripe lives on one RAIDA, so a download is
//!   never retried on another one.
//! - `client.send.*`: a tell retried, given up or refused; uploads short of the send policy
//!   (no tell) or a tell sent with a stripe missing.
//! - `client.ping.*`: a long poll that expired (17 or 245) or got no reply.
//!
//! To add a probe: one line in the [`probe::registry!`] below, then `probe::hit(&X)` where
//! the code commits to the path; `raida-sim coverage` lists it from then on.

use qmail_wire::header::Command;

probe::registry! {
    prefix = "client";
    XOR_REBUILT_MISSING = "client.xor.rebuilt_missing", "XOR parity rebuilt a stripe that could not be fetched.";
    XOR_REBUILT_CORRUPT = "client.xor.rebuilt_corrupt", "The CRC-32 found a lying stripe under XOR parity; it was rebuilt from the others.";
    RS_REBUILT_MISSING = "client.rs.rebuilt_missing", "Reed-Solomon rebuilt a stripe that could not be fetched.";
    RS_REBUILT_CORRUPT = "client.rs.rebuilt_corrupt", "The CRC-32 found a lying stripe under Reed-Solomon; it was rebuilt from the others.";
    RS_MULTI_LOSS = "client.rs.multi_loss", "Reed-Solomon rebuilt two or more stripes of one file.";
    DOWNLOAD_UNRECOVERABLE = "client.download.unrecoverable", "A file could not be rebuilt from the stripes fetched.";
    DOWNLOAD_STRIPE_ABSENT = "client.download.stripe_absent", "A RAIDA answered 202 for a stripe: told before its upload, expired or lost.";
    DOWNLOAD_STRIPE_WRONG_SIZE = "client.download.stripe_wrong_size", "A fetched stripe had the wrong size or too many pages (a lying RAIDA).";
    RETRY_UPLOAD = "client.retry.upload", "An upload failed transiently and was sent again.";
    RETRY_DOWNLOAD = "client.retry.download", "A download page request failed transiently and was sent again.";
    RETRY_PEEK = "client.retry.peek", "A peek failed transiently and was sent again.";
    RETRY_ECHO = "client.retry.echo", "An echo failed transiently and was sent again.";
    GIVE_UP_UPLOAD = "client.give_up.upload", "An upload failed transiently on its last attempt.";
    GIVE_UP_DOWNLOAD = "client.give_up.download", "A download page request failed transiently on its last attempt.";
    GIVE_UP_PEEK = "client.give_up.peek", "A peek failed transiently on its last attempt.";
    GIVE_UP_ECHO = "client.give_up.echo", "An echo failed transiently on its last attempt.";
    SEND_TELL_RETRY = "client.send.tell_retry", "A tell failed transiently and was sent again with fresh timestamps.";
    SEND_TELL_GIVE_UP = "client.send.tell_give_up", "A tell failed transiently on its last attempt.";
    SEND_TELL_FAILED = "client.send.tell_failed", "A tell failed for good: a refusing status (18, 198, ...) or a bad reply.";
    SEND_UPLOAD_INCOMPLETE = "client.send.upload_incomplete", "A file lacked more stripes than the send policy allows, so no tell went out.";
    SEND_STRIPE_MISSING_ALLOWED = "client.send.stripe_missing_allowed", "The send policy let the tells go out with a stripe missing.";
    PING_TIMED_OUT = "client.ping.timed_out", "A ping came back 17 or 245: the long poll expired without tells.";
    PING_NO_REPLY = "client.ping.no_reply", "A ping got no reply: connection failed, reset or read timeout.";
}

/// The probe of a retry of `command` (`None` for ping and tell, never retried here).
pub fn retry(command: Command) -> Option<&'static probe::Probe> {
    match command {
        Command::Upload => Some(&RETRY_UPLOAD),
        Command::Download => Some(&RETRY_DOWNLOAD),
        Command::Peek => Some(&RETRY_PEEK),
        Command::Echo => Some(&RETRY_ECHO),
        Command::Tell | Command::Ping => None,
    }
}

/// The probe of `command` out of attempts on a transient failure (`None` for ping and tell).
pub fn give_up(command: Command) -> Option<&'static probe::Probe> {
    match command {
        Command::Upload => Some(&GIVE_UP_UPLOAD),
        Command::Download => Some(&GIVE_UP_DOWNLOAD),
        Command::Peek => Some(&GIVE_UP_PEEK),
        Command::Echo => Some(&GIVE_UP_ECHO),
        Command::Tell | Command::Ping => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retried_commands_have_both_probes_in_the_registry() {
        for command in [
            Command::Upload,
            Command::Download,
            Command::Peek,
            Command::Echo,
        ] {
            let (retry, give_up) = (retry(command), give_up(command));
            let (Some(retry), Some(give_up)) = (retry, give_up) else {
                panic!("{command:?} has no probes");
            };
            assert!(ALL.contains(&retry) && ALL.contains(&give_up));
            assert_eq!(
                retry.name().trim_start_matches("client.retry."),
                give_up.name().trim_start_matches("client.give_up.")
            );
        }
        assert!(retry(Command::Ping).is_none() && give_up(Command::Tell).is_none());
    }
}
