//! `qmail send`: compose the body (subject and attachment names, module `body`), read the
//! attachments, send, and report for every recipient whether its beacon accepted the tell.
//!
//! A beacon answers one status per tell, and one tell names every recipient that shares the
//! beacon: 250 when at least one of their inboxes took it, 18 (`ERROR_WRONG_RAIDA`) when none
//! did (each recipient refused: fee unpaid, bad denomination or coin id, empty locker key,
//! a failed write; tell page "Status codes"). So each recipient's line is its tell's answer;
//! a 250 for a tell shared by several recipients says so. Any recipient whose tell was not
//! accepted makes the command fail (exit status 1), after the report is printed.
//!
//! What a beacon accepts is its business. Today's `raida` refuses a recipient whose mailbox
//! coin it does not hold (nobody could ever poll that inbox), so a tell to a mailbox that is
//! not provisioned is answered 18 and its line says `NOT told` with the reason; the command
//! then exits 1.

use std::io::Write;
use std::sync::Arc;

use super::args::SendArgs;
use super::body::{attachment_name, email_body_with_names};
use super::files::read_bounded;
use super::limits::PROGRESS_SIZE_BYTES_MIN;
use super::output::{emit, hex};
use super::progress::{upload_size_bytes, Progress};
use super::{client, CliError, RunEnv};
use crate::identity::MailboxId;
use crate::limits::FILE_SIZE_BYTES_MAX;
use crate::profile::Profile;
use crate::send::{Email, Recipient, TellOutcome};

pub(super) async fn send<W: Write>(
    profile: Profile,
    env: RunEnv,
    args: &SendArgs,
    out: &mut W,
) -> Result<(), CliError> {
    let recipients: Vec<Recipient> = args
        .to
        .iter()
        .map(|m| Recipient::to(*m))
        .chain(args.cc.iter().map(|m| Recipient::cc(*m)))
        .chain(args.bcc.iter().map(|m| Recipient::bcc(*m)))
        .collect();
    if recipients.is_empty() {
        return Err(CliError::Usage(
            "name at least one recipient (--to, --cc or --bcc)".to_string(),
        ));
    }
    if args.edit_sequence > 0 && args.guid.is_none() {
        return Err(CliError::Usage(
            "a revision (--edit-sequence > 0) needs --guid of the original email".to_string(),
        ));
    }
    let text = match (&args.body, &args.body_file) {
        (Some(text), None) => text.clone().into_bytes(),
        (None, Some(path)) => read_bounded("read body file", path, FILE_SIZE_BYTES_MAX)?,
        _ => {
            return Err(CliError::Usage(
                "give exactly one of --body and --body-file".to_string(),
            ))
        }
    };
    let mut attachments = Vec::with_capacity(args.attachments.len());
    let mut attachment_names = Vec::with_capacity(args.attachments.len());
    for path in &args.attachments {
        attachment_names.push(attachment_name(path)?);
        attachments.push(read_bounded("read attachment", path, FILE_SIZE_BYTES_MAX)?);
    }
    let body = email_body_with_names(&args.subject, &attachment_names, &text)?;
    let file_sizes: Vec<u64> = std::iter::once(&body)
        .chain(&attachments)
        .map(|file| file.len() as u64)
        .collect();
    let total_bytes = upload_size_bytes(&file_sizes, profile.config.data_stripe_count);
    let progress = Progress::new(
        env.progress && total_bytes >= PROGRESS_SIZE_BYTES_MIN,
        total_bytes,
        "upload {bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec}",
    );
    let client = client(profile, env, Arc::new(progress.clone()))?;
    let mut email = Email::new(args.guid.unwrap_or_else(|| client.random_guid()), body);
    email.edit_sequence = args.edit_sequence;
    email.attachments = attachments;
    email.recipients = recipients;
    let sent = client.send_email(&email).await;
    progress.finish();
    let report = sent?;
    let placement: Vec<String> = report
        .placement
        .raidas()
        .iter()
        .map(u8::to_string)
        .collect();
    let mut text = format!(
        "sent {} edit {}: {} files, {} stripes stored on RAIDAs {}\n",
        hex(&report.guid),
        report.edit_sequence,
        file_sizes.len(),
        report.stripes_uploaded,
        placement.join(",")
    );
    for failure in &report.stripes_failed {
        text.push_str(&format!("warning: stripe not stored: {failure}\n"));
    }
    let mut failures = Vec::new();
    let recipient_count: usize = report.tells.iter().map(|tell| tell.recipients.len()).sum();
    for tell in &report.tells {
        for recipient in &tell.recipients {
            let line = recipient_line(tell, *recipient);
            text.push_str(&line);
            text.push('\n');
            if tell.result.is_err() {
                failures.push(line);
            }
        }
    }
    emit(out, &text)?;
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::Incomplete {
            what: format!(
                "email {} is stored, but {} of {recipient_count} recipients were not told",
                hex(&report.guid),
                failures.len()
            ),
            failures,
        })
    }
}

/// One recipient's line: `told beacon RAIDA 3 for 1.1003`, or why its beacon did not accept.
fn recipient_line(tell: &TellOutcome, recipient: MailboxId) -> String {
    match &tell.result {
        Ok(()) if tell.recipients.len() == 1 => {
            format!("told beacon RAIDA {} for {recipient}", tell.beacon)
        }
        Ok(()) => {
            let shared: Vec<String> = tell.recipients.iter().map(MailboxId::to_string).collect();
            format!(
                "told beacon RAIDA {} for {recipient} (one tell for {}: its 250 says at least \
                 one of their inboxes took it)",
                tell.beacon,
                shared.join(", ")
            )
        }
        Err(error) => {
            let mut line = format!(
                "NOT told: beacon RAIDA {} for {recipient}: {error}",
                tell.beacon
            );
            if let Some(hint) = tell.status().and_then(tell_status_hint) {
                line.push_str(&format!(" ({hint})"));
            }
            line
        }
    }
}

/// What a tell's error status means to the sender, for the statuses a person can act on.
fn tell_status_hint(status_code: u8) -> Option<&'static str> {
    match status_code {
        18 => Some(
            "the beacon took the tell into no recipient's inbox: each was refused (a mailbox \
             the beacon does not hold, inbox fee unpaid, or a failed write)",
        ),
        198 => Some(
            "the beacon refused the tell's fields; is this machine's clock within 60 s of \
             the beacon's?",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ClientError, RaidaRef};
    use qmail_wire::header::Command;

    fn outcome(recipients: &[MailboxId], result: Result<(), ClientError>) -> TellOutcome {
        TellOutcome {
            beacon: 5,
            recipients: recipients.to_vec(),
            record: Vec::new(),
            attempts: 1,
            result,
        }
    }

    #[test]
    fn each_recipient_gets_its_tells_answer() {
        let bob = MailboxId::new(1, 2001);
        let dave = MailboxId::new(1, 2026);
        let alone = outcome(&[bob], Ok(()));
        assert_eq!(
            recipient_line(&alone, bob),
            "told beacon RAIDA 5 for 1.2001"
        );
        let shared = outcome(&[bob, dave], Ok(()));
        assert!(recipient_line(&shared, dave)
            .starts_with("told beacon RAIDA 5 for 1.2026 (one tell for 1.2001, 1.2026"));
        let refused = outcome(
            &[bob],
            Err(ClientError::Status {
                raida: RaidaRef {
                    index: 5,
                    addr: "127.0.0.1:18005".parse().expect("addr"),
                },
                command: Command::Tell,
                status_code: 18,
            }),
        );
        let line = recipient_line(&refused, bob);
        assert!(
            line.starts_with(
                "NOT told: beacon RAIDA 5 for 1.2001: RAIDA 5 (127.0.0.1:18005) answered tell \
                 with ERROR_WRONG_RAIDA (18) (the beacon took the tell into no recipient's inbox"
            ),
            "{line}"
        );
    }
}
