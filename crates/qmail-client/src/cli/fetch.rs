//! `qmail fetch`: download an email whose tell is kept, rebuild and check every file, write
//! them to a directory: the body as `body.txt`, each attachment under the name the body's
//! header block carries (module `body`), or `attachment-TT.bin`.

use std::fs;
use std::io::Write;
use std::sync::Arc;

use qmail_wire::tell::FILE_TYPE_BODY;

use super::args::FetchArgs;
use super::body::{output_file_names, parse_body_headers, BodyHeaders};
use super::files::{file_error, write_atomically};
use super::limits::PROGRESS_SIZE_BYTES_MIN;
use super::output::{describe_record, emit, hex};
use super::progress::Progress;
use super::store::TellStore;
use super::{client, CliError, RunEnv};
use crate::profile::Profile;

pub(super) async fn fetch<W: Write>(
    profile: Profile,
    env: RunEnv,
    args: &FetchArgs,
    store: &TellStore,
    out: &mut W,
) -> Result<(), CliError> {
    let kept = store.find(&args.guid)?;
    let record = &kept.record;
    let stripe_count = usize::from(record.file_header.stripe_count);
    let fetched: Vec<u64> = record
        .manifest
        .iter()
        .map(|entry| entry.original_size)
        .filter(|size| *size > 0)
        .collect();
    let total_bytes = fetched
        .iter()
        .fold(0, |sum: u64, size| sum.saturating_add(*size));
    let progress = Progress::new(
        env.progress && total_bytes >= PROGRESS_SIZE_BYTES_MIN,
        (fetched.len() * stripe_count) as u64,
        "download {bar:40} {pos}/{len} stripes",
    );
    let client = client(profile, env, Arc::new(progress.clone()))?;
    let results = client.download_files(record).await;
    progress.finish();
    fs::create_dir_all(&args.out).map_err(file_error("create", &args.out))?;
    let results = results?;
    // The names come from the body's header block (the default ones when the body is lost).
    let headers = results
        .iter()
        .filter_map(|result| result.as_ref().ok())
        .find(|file| file.file_type == FILE_TYPE_BODY)
        .map_or_else(BodyHeaders::default, |body| parse_body_headers(&body.bytes));
    let file_types: Vec<u8> = record
        .manifest
        .iter()
        .map(|entry| entry.file_type)
        .collect();
    let names = output_file_names(&file_types, &headers);
    let mut text = format!("{}\n", describe_record(record));
    if let Some(subject) = &headers.subject {
        text.push_str(&format!("subject: {subject}\n"));
    }
    let mut failures = Vec::new();
    for result in results {
        let file = match result {
            Ok(file) => file,
            Err(error) => {
                failures.push(error.to_string());
                continue;
            }
        };
        let Some(name) = names.get(&file.file_type) else {
            failures.push(format!(
                "file {:#04x} is not in the tell's manifest",
                file.file_type
            ));
            continue;
        };
        let path = args.out.join(name);
        write_atomically(&path, &file.bytes)?;
        text.push_str(&format!(
            "wrote {} ({} bytes)",
            path.display(),
            file.bytes.len()
        ));
        if let Some(fault) = file.fault {
            text.push_str(&format!("; {fault}, rebuilt from parity"));
        }
        text.push('\n');
    }
    emit(out, &text)?;
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::Incomplete {
            what: format!("downloading email {}", hex(&record.file_header.email_id)),
            failures,
        })
    }
}
