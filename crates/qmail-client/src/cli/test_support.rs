//! Helpers shared by the command's unit tests: parse a command line, run it with a manual
//! clock and a seeded RNG, build tell records.

use std::net::SocketAddrV4;
use std::sync::Arc;

use clap::Parser;
use qmail_wire::tell::{TellRecord, FILE_TYPE_BODY};
use qmail_wire::Codec;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{run, Cli, CliError, RunEnv};
use crate::clock::ManualClock;
use crate::identity::Guid;
use crate::receive::ReceivedTell;

pub(crate) fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("qmail").chain(args.iter().copied()))
}

pub(crate) fn env() -> RunEnv {
    RunEnv {
        clock: Arc::new(ManualClock::new(1_700_000_000)),
        rng: ChaCha8Rng::seed_from_u64(1),
        progress: false,
    }
}

pub(crate) fn run_now(cli: Cli) -> (Result<(), CliError>, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut out = Vec::new();
    let result = runtime.block_on(run(cli, env(), &mut out));
    (result, String::from_utf8(out).expect("utf-8"))
}

pub(crate) fn record(guid: Guid, edit_sequence: u8) -> TellRecord {
    use qmail_wire::tell::{FileHeader, ManifestEntry, ServerEntry};
    let header = FileHeader {
        email_id: guid,
        sender_denomination: 1,
        sender_serial_number: 1000,
        edit_sequence,
        ..FileHeader::default()
    };
    let servers = (0..2)
        .map(|i| ServerEntry::new(i, i, i, SocketAddrV4::new([127, 0, 0, 1].into(), 9000)))
        .collect();
    let manifest = vec![ManifestEntry {
        file_type: FILE_TYPE_BODY,
        original_size: 12,
        ..ManifestEntry::default()
    }];
    TellRecord::new_v1(header, servers, manifest)
}

pub(crate) fn received(record: TellRecord) -> ReceivedTell {
    ReceivedTell {
        raw: record.to_bytes(),
        record,
    }
}
