//! `qmail ping`, `qmail peek` and `qmail list`: poll the beacon, keep every tell before
//! printing it, list what is kept.

use std::io::Write;
use std::sync::Arc;

use super::output::{describe_record, emit};
use super::store::TellStore;
use super::{client, CliError, RunEnv};
use crate::profile::Profile;
use crate::receive::Poll;

pub(super) async fn poll<W: Write>(
    profile: Profile,
    env: RunEnv,
    peek_since_unix_s: Option<u32>,
    store: &TellStore,
    out: &mut W,
) -> Result<(), CliError> {
    let client = client(profile, env, Arc::new(crate::observer::NoopObserver))?;
    let poll = match peek_since_unix_s {
        None => client.ping().await?,
        Some(since_unix_s) => client.peek(since_unix_s).await?,
    };
    let tells = match poll {
        Poll::Tells(tells) => tells,
        Poll::TimedOut => return emit(out, "no new mail (the long poll timed out)\n"),
        Poll::Empty => return emit(out, "no new mail\n"),
    };
    // Keep every tell before reporting any: the beacon has deleted them.
    let mut text = String::new();
    let mut failures = Vec::new();
    for tell in &tells {
        match store.save(tell) {
            Ok(_) => text.push_str(&format!("{}\n", describe_record(&tell.record))),
            Err(error) => failures.push(format!(
                "{} not kept: {error}",
                describe_record(&tell.record)
            )),
        }
    }
    emit(out, &text)?;
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::Incomplete {
            what: "keeping the received tells".to_string(),
            failures,
        })
    }
}

pub(super) fn list<W: Write>(store: &TellStore, out: &mut W) -> Result<(), CliError> {
    let kept = store.list()?;
    if kept.is_empty() {
        return emit(out, "no tells kept\n");
    }
    let text: String = kept
        .iter()
        .map(|kept| format!("{}\n", describe_record(&kept.record)))
        .collect();
    emit(out, &text)
}
