//! The `qmail` command against the fake network of `common`, as `bin/qmail.rs` runs it:
//! attachment names survive send → fetch, every recipient's tell is reported (and a refused
//! one fails the command), the profile's `extensions` key turns extensions on, and errors
//! print as plain words.

mod common;

use std::path::Path;

use common::{an_of, bytes, qmail, write_profile_with, Mode, World};
use qmail_client::cli::CliError;
use qmail_client::extension::delivery_ack;
use qmail_client::MailboxId;

const ALICE: MailboxId = MailboxId::new(1, 1000);
const BOB: MailboxId = MailboxId::new(1, 2001);
/// Provisioned on no RAIDA; its beacon (24) is not BOB's (1).
const STRANGER: MailboxId = MailboxId::new(1, 9999);

/// The profiles of ALICE and BOB in `dir`, each with `extra_config` in `[config]`.
fn profiles(world: &World, dir: &Path, extra_config: &str) -> (String, String) {
    let write = |name: &str, mailbox: MailboxId| {
        write_profile_with(
            dir,
            name,
            mailbox,
            &world.directory,
            |raida| an_of(mailbox, raida),
            extra_config,
        )
    };
    (write("alice.toml", ALICE), write("bob.toml", BOB))
}

/// The GUID of the `sent GUID …` line.
fn sent_guid(out: &str) -> String {
    out.strip_prefix("sent ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no `sent` line in {out}"))
        .to_string()
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().expect("utf-8").to_string()
}

#[tokio::test]
async fn attachment_names_survive_send_and_fetch() {
    let world = World::start(&[ALICE, BOB]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (alice, bob) = profiles(&world, dir.path(), "");
    let photo = bytes(5, 30_000);
    std::fs::write(dir.path().join("photo.jpg"), &photo).expect("write");
    std::fs::create_dir(dir.path().join("docs")).expect("mkdir");
    std::fs::write(dir.path().join("docs/notes.txt"), b"notes").expect("write");
    let (result, out) = qmail(&[
        "--profile",
        &alice,
        "send",
        "--to",
        "1.2001",
        "--subject",
        "Holiday",
        "--body",
        "See the photo.",
        "--attach",
        &path(dir.path(), "photo.jpg"),
        "--attach",
        &path(dir.path(), "docs/notes.txt"),
    ])
    .await;
    result.expect("sent");
    let guid = sent_guid(&out);
    assert!(out.contains("told beacon RAIDA 1 for 1.2001\n"), "{out}");

    let (result, _) = qmail(&["--profile", &bob, "ping"]).await;
    result.expect("ping");
    let mail = path(dir.path(), "mail");
    let (result, out) = qmail(&["--profile", &bob, "fetch", &guid, "--out", &mail]).await;
    result.expect("fetched");
    let mail = Path::new(&mail);
    assert_eq!(std::fs::read(mail.join("photo.jpg")).expect("photo"), photo);
    assert_eq!(
        std::fs::read(mail.join("notes.txt")).expect("notes"),
        b"notes"
    );
    assert_eq!(
        std::fs::read(mail.join("body.txt")).expect("body"),
        b"Subject: Holiday\nAttachment-0a: photo.jpg\nAttachment-0b: notes.txt\n\nSee the photo."
    );
    assert!(!mail.join("attachment-0a.bin").exists());
    assert!(out.contains("subject: Holiday\n"), "{out}");
    assert!(out.contains("photo.jpg (30000 bytes)"), "{out}");
}

#[tokio::test]
async fn every_recipient_is_reported_and_a_refused_tell_fails_the_send() {
    let world = World::start(&[ALICE, BOB]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (alice, _) = profiles(&world, dir.path(), "");
    let stranger = STRANGER.to_string();
    let (result, out) = qmail(&[
        "--profile",
        &alice,
        "send",
        "--to",
        "1.2001",
        "--cc",
        &stranger,
        "--subject",
        "S",
        "--body",
        "B",
    ])
    .await;
    assert!(out.contains("told beacon RAIDA 1 for 1.2001\n"), "{out}");
    assert!(
        out.contains("NOT told: beacon RAIDA 24 for 1.9999: RAIDA 24 (127.0.0.1:"),
        "{out}"
    );
    assert!(
        out.contains("answered tell with ERROR_WRONG_RAIDA (18) (the beacon took the tell into no recipient's inbox"),
        "{out}"
    );
    let error = result.expect_err("a recipient was not told");
    assert!(matches!(error, CliError::Incomplete { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("is stored, but 1 of 2 recipients were not told: 1 failed"),
        "{message}"
    );
    assert!(
        message.contains("NOT told: beacon RAIDA 24 for 1.9999"),
        "{message}"
    );
    // BOB got it; the stranger's beacon stored nothing.
    assert_eq!(world.raidas[1].state.lock().unwrap().inbox.len(), 1);
    assert!(world.raidas[24].state.lock().unwrap().inbox.is_empty());
}

#[tokio::test]
async fn the_profile_turns_extensions_on_by_name() {
    let world = World::start(&[ALICE, BOB]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, plain) = profiles(&world, dir.path(), "");
    let (result, _) = qmail(&["--profile", &plain, "peek"]).await;
    result.expect("peek");
    let extended = write_profile_with(
        dir.path(),
        "acked.toml",
        BOB,
        &world.directory,
        |raida| an_of(BOB, raida),
        "extensions = [\"delivery_ack\"]",
    );
    let (result, _) = qmail(&["--profile", &extended, "peek"]).await;
    result.expect("peek");
    // BOB's beacon is RAIDA 1: the plain peek leaves preamble byte 31 zero; delivery_ack says
    // it speaks the extension there.
    assert_eq!(
        world.raidas[1].state.lock().unwrap().poll_byte_31,
        [0, delivery_ack::SPEAKS]
    );

    let unknown = write_profile_with(
        dir.path(),
        "unknown.toml",
        BOB,
        &world.directory,
        |raida| an_of(BOB, raida),
        "extensions = [\"telepathy\"]",
    );
    let (result, _) = qmail(&["--profile", &unknown, "peek"]).await;
    let error = result.expect_err("unknown extension");
    assert!(matches!(error, CliError::Profile(_)), "{error}");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("profile {unknown}:")),
        "{message}"
    );
    assert!(
        message.contains(
            ": key `config.extensions`: unknown extension \"telepathy\"; known: delivery_ack, \
             attachment_count"
        ),
        "{message}"
    );
}

#[tokio::test]
async fn errors_and_reports_are_plain_words() {
    let world = World::start(&[ALICE, BOB]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (alice, bob) = profiles(&world, dir.path(), "");
    let (result, out) = qmail(&[
        "--profile",
        &alice,
        "send",
        "--to",
        "1.2001",
        "--subject",
        "S",
        "--body",
        "B",
    ])
    .await;
    result.expect("sent");
    let guid = sent_guid(&out);
    let placement: Vec<usize> = out
        .lines()
        .next()
        .and_then(|line| line.rsplit(' ').next())
        .expect("placement")
        .split(',')
        .map(|raida| raida.parse().expect("index"))
        .collect();
    let (result, _) = qmail(&["--profile", &bob, "ping"]).await;
    result.expect("ping");

    // One storage RAIDA down: rebuilt, and the report says which stripe in words.
    world.raidas[placement[2]].set_mode(Mode::Down);
    let mail = path(dir.path(), "mail");
    let (result, out) = qmail(&["--profile", &bob, "fetch", &guid, "--out", &mail]).await;
    result.expect("rebuilt");
    assert!(
        out.contains("; stripe 2 was missing, rebuilt from parity\n"),
        "{out}"
    );

    // Two down: the error names both stripes without Rust debug text.
    world.raidas[placement[5]].set_mode(Mode::Down);
    let (result, out) = qmail(&["--profile", &bob, "fetch", &guid, "--out", &mail]).await;
    let message = result.expect_err("two stripes missing").to_string();
    for debug_text in ["{", "}", "[", "stripe_index", "Missing", "Kind"] {
        assert!(!message.contains(debug_text), "{debug_text:?} in {message}");
        assert!(!out.contains(debug_text), "{debug_text:?} in {out}");
    }
    assert!(
        message.contains("cannot rebuild (stripes 2 and 5 are missing: one parity stripe rebuilds only one); stripes 2 and 5 failed"),
        "{message}"
    );
}
