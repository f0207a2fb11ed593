//! Downloading an email from its tell record: fetch every stripe of every manifest file from
//! the storage RAIDAs, in parallel, page by page, and rebuild each file.
//!
//! # Which stripe is where
//!
//! The record's server entries map stripe index → RAIDA (`server_id`) and its address (bytes
//! 20–27, IPv4-mapped; the directory's address for that RAIDA when the marker is not
//! `FF FF`). Every manifest file is striped over the same entries (see [`crate::send`]):
//! stripe index `i < N` is data stripe `i` (`stripe_type` 0), the indexes from N on
//! (`stripe_type` 1) are parity stripes. The header's `parity_algo` says which code:
//!
//! - 0, RAID-5 XOR ([`crate::stripe`]): one parity stripe, N = `stripe_count − 1`.
//! - 1, Reed–Solomon ([`crate::rs`]): N = the entries of `stripe_type` 0, k = those of
//!   `stripe_type` 1; any k stripes may be lost.
//! - anything else: the record is refused ([`ClientError::RecordUnusable`]).
//!
//! # Pages
//!
//! A stripe is fetched with download (74) from page 0 upward; every page but the last holds
//! 256 KiB, a shorter page ends the stripe (DECISIONS.md, "Download"). Since a stripe is at
//! most 65,447 bytes, a well-behaved RAIDA answers with one short page; more pages than the
//! stripe's size allows, or a stripe that is not exactly `ceil(original_size / N)` bytes, is a
//! lying RAIDA and that stripe counts as missing.
//!
//! # Faults
//!
//! One stripe missing (RAIDA down, stripe expired, wrong length) is rebuilt from the others.
//! One stripe present but wrong is found when the manifest carries a CRC-32
//! (`crc32_present`): [`stripe::reassemble_verified`] tries each single-stripe rebuild and
//! keeps the one the CRC-32 accepts. Two bad stripes, or a parity mismatch with no CRC-32 to
//! say which stripe lies, end in [`ClientError::FileUnrecoverable`] naming the stripes and
//! their errors: never in wrong bytes. Without a CRC-32, though, a wrong stripe *plus* a
//! missing one cannot be told apart from good data; this client always sends CRC-32s.
//!
//! Under Reed–Solomon, up to k missing stripes are rebuilt; more than k missing end in
//! [`ClientError::FileUnrecoverable`] with cause `TooManyMissing` naming them. Every stripe
//! beyond the N needed is checked against the rebuilt data, and the file against its CRC-32:
//! a corrupt stripe that cannot be told apart is an error, never wrong bytes.
//!
//! Legacy (manifest v0) records are refused: they have no manifest, and their only size, the
//! header's total_file_size, may have been raised by the beacon's size estimate, so trimming
//! by it could return padding as data.

use std::net::SocketAddr;

use qmail_wire::body::DownloadBody;
use qmail_wire::header::Command;
use qmail_wire::limits::{PAGE_NUMBER_MAX, STRIPE_SIZE_BYTES_MAX};
use qmail_wire::response::DownloadPage;
use qmail_wire::tell::{
    TellRecord, FILE_TYPE_BODY, MANIFEST_VERSION_CURRENT, PARITY_ALGO_RAID5_XOR, STRIPE_TYPE_DATA,
    STRIPE_TYPE_PARITY,
};
use qmail_wire::{Codec, Status};

use crate::client::{expect_payload, Client};
use crate::config::Parity;
use crate::error::{ClientError, RaidaRef, ReplyFault, StripeFailure};
use crate::identity::{Guid, LockerCode};
use crate::join::join_bounded;
use crate::limits::{PAGE_SIZE_BYTES, RAIDA_COUNT};
use crate::observer::StripeRebuilt;
use crate::probes;
use crate::rs::{self, RsError, PARITY_ALGO_REED_SOLOMON};
use crate::stripe::{self, DataStripeCount, StripeError, StripeFault};
use crate::transport::Connector;

/// One downloaded, checked file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownloadedFile {
    /// 0x01 body, 0x0A.. attachments.
    pub file_type: u8,
    /// The original bytes (CRC-32 checked when the record carries one).
    pub bytes: Vec<u8>,
    /// The stripe index rebuilt from the others, if one was (the first, under Reed–Solomon).
    pub rebuilt_stripe: Option<usize>,
    /// Why that stripe was rebuilt: missing, or present but corrupt.
    pub fault: Option<StripeFault>,
    /// Every stripe index rebuilt from the others, ascending: at most one under XOR parity,
    /// up to k missing ones under Reed–Solomon.
    pub rebuilt_stripes: Vec<usize>,
}

/// Which page of which stored stripe to fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// The email GUID.
    pub guid: Guid,
    /// The file.
    pub file_type: u8,
    /// Page number, 0..=16,777,215.
    pub page_number: u32,
    /// Locker code (the record's; read, not enforced by the server).
    pub locker_code: LockerCode,
}

/// One stripe slot of the record.
#[derive(Clone, Copy, Debug)]
struct StripeSource {
    /// The RAIDA index the entry names (may be out of range in a bad record).
    server_id: u8,
    /// Where to reach it, when it can be reached.
    addr: Option<SocketAddr>,
}

/// One manifest file to fetch.
#[derive(Clone, Copy, Debug)]
struct FilePlan {
    file_type: u8,
    original_size_bytes: u64,
    stripe_size_bytes: usize,
    crc32: Option<u32>,
}

/// A record checked for download.
#[derive(Clone, Debug)]
struct DownloadPlan {
    guid: Guid,
    locker_code: LockerCode,
    data_stripe_count: DataStripeCount,
    /// The code: XOR (N + 1 stripes) or Reed–Solomon (N + k).
    parity: Parity,
    /// By stripe index.
    sources: Vec<StripeSource>,
    files: Vec<FilePlan>,
}

impl<C: Connector> Client<C> {
    /// Download (74): one page of one stored stripe from `raida` (retried). The page must be
    /// the one asked for (file type, page number's low byte).
    pub async fn download_page(
        &self,
        raida: RaidaRef,
        request: &PageRequest,
    ) -> Result<DownloadPage, ClientError> {
        if usize::from(raida.index) >= RAIDA_COUNT {
            return Err(ClientError::InvalidInput {
                reason: format!("RAIDA index {} is outside 0..=24", raida.index),
            });
        }
        if request.page_number > PAGE_NUMBER_MAX {
            return Err(ClientError::InvalidInput {
                reason: format!("page number {} does not fit 24 bits", request.page_number),
            });
        }
        let plan = self.idempotent_plan(raida, Command::Download);
        let reply = self
            .request(plan, |challenge| {
                DownloadBody {
                    preamble: self.preamble(raida.index, challenge),
                    guid: request.guid,
                    locker_code: request.locker_code,
                    file_type: request.file_type,
                    bytes_per_page: 0,
                    page_number: request.page_number,
                }
                .to_bytes()
            })
            .await?;
        let payload = expect_payload(plan, reply)?;
        let bad = |fault| ClientError::BadReply {
            raida,
            command: Command::Download,
            fault,
        };
        let page = DownloadPage::from_bytes(&payload).map_err(|e| bad(ReplyFault::Decode(e)))?;
        let page_number_low = request.page_number.to_be_bytes()[3];
        if page.file_type != request.file_type || page.page_number_low != page_number_low {
            return Err(bad(ReplyFault::WrongPage {
                reason: format!(
                    "asked for file type {:#04x} page {}, got file type {:#04x} page {}",
                    request.file_type, request.page_number, page.file_type, page.page_number_low
                ),
            }));
        }
        Ok(page)
    }

    /// Every manifest file of `record`, downloaded and checked; fails on the first file that
    /// cannot be rebuilt (see [`Client::download_files`] for per-file results).
    pub async fn download_email(
        &self,
        record: &TellRecord,
    ) -> Result<Vec<DownloadedFile>, ClientError> {
        self.download_files(record).await?.into_iter().collect()
    }

    /// Downloads every manifest file of `record`: the outer error says the record cannot be
    /// downloaded from at all; each file has its own result.
    pub async fn download_files(
        &self,
        record: &TellRecord,
    ) -> Result<Vec<Result<DownloadedFile, ClientError>>, ClientError> {
        let plan = plan_download(record)?;
        let mut jobs = Vec::new();
        for (file_position, file) in plan.files.iter().enumerate() {
            for (stripe_index, source) in plan.sources.iter().enumerate() {
                jobs.push((file_position, stripe_index, *file, *source));
            }
        }
        let futures: Vec<_> = jobs
            .iter()
            .map(|(_, _, file, source)| Box::pin(self.fetch_stripe(&plan, file, source)))
            .collect();
        let mut fetched = join_bounded(futures, self.config().concurrency_max)
            .await
            .into_iter();
        let mut results = Vec::with_capacity(plan.files.len());
        for file in &plan.files {
            let stripes: Vec<Result<Vec<u8>, ClientError>> =
                fetched.by_ref().take(plan.sources.len()).collect();
            assert_eq!(stripes.len(), plan.sources.len());
            results.push(self.rebuild_file(&plan, file, stripes));
        }
        assert!(fetched.next().is_none());
        Ok(results)
    }

    /// Fetches one whole stripe, page by page; it must be exactly the planned size.
    async fn fetch_stripe(
        &self,
        plan: &DownloadPlan,
        file: &FilePlan,
        source: &StripeSource,
    ) -> Result<Vec<u8>, ClientError> {
        if file.stripe_size_bytes == 0 {
            // An empty file has empty stripes: nothing to fetch.
            return Ok(Vec::new());
        }
        let addr = source
            .addr
            .or_else(|| self.directory().addr(source.server_id));
        let raida = match addr {
            Some(addr) if usize::from(source.server_id) < RAIDA_COUNT => RaidaRef {
                index: source.server_id,
                addr,
            },
            _ => {
                return Err(ClientError::InvalidInput {
                    reason: format!(
                        "server entry names RAIDA {} with no usable address",
                        source.server_id
                    ),
                })
            }
        };
        let pages_max = file.stripe_size_bytes / PAGE_SIZE_BYTES + 1;
        let mut stripe = Vec::with_capacity(file.stripe_size_bytes);
        for page_number in 0..pages_max {
            let request = PageRequest {
                guid: plan.guid,
                file_type: file.file_type,
                page_number: u32::try_from(page_number).expect("a stripe has few pages"),
                locker_code: plan.locker_code,
            };
            let page = self
                .download_page(raida, &request)
                .await
                .inspect_err(|error| {
                    let absent = Status::FileNotExist.code();
                    if matches!(error, ClientError::Status { status_code, .. } if *status_code == absent)
                    {
                        probe::hit(&probes::DOWNLOAD_STRIPE_ABSENT);
                    }
                })?;
            stripe.extend_from_slice(&page.data);
            if stripe.len() > file.stripe_size_bytes {
                break;
            }
            if page.is_last() {
                break;
            }
        }
        if stripe.len() != file.stripe_size_bytes {
            probe::hit(&probes::DOWNLOAD_STRIPE_WRONG_SIZE);
            return Err(ClientError::BadReply {
                raida,
                command: Command::Download,
                fault: ReplyFault::WrongPage {
                    reason: format!(
                        "stripe of file {:#04x} is {} bytes (or more pages than fit), \
                         expected {}",
                        file.file_type,
                        stripe.len(),
                        file.stripe_size_bytes
                    ),
                },
            });
        }
        Ok(stripe)
    }

    /// Rebuilds one file from its fetched stripes with the record's code; see the module docs.
    fn rebuild_file(
        &self,
        plan: &DownloadPlan,
        file: &FilePlan,
        fetched: Vec<Result<Vec<u8>, ClientError>>,
    ) -> Result<DownloadedFile, ClientError> {
        match plan.parity {
            Parity::Xor => self.rebuild_file_xor(plan, file, fetched),
            Parity::ReedSolomon { parity_count } => {
                self.rebuild_file_rs(plan, file, fetched, usize::from(parity_count))
            }
        }
    }

    /// Reed–Solomon reassembly: up to k missing stripes rebuilt, the surplus and the CRC-32
    /// checked.
    fn rebuild_file_rs(
        &self,
        plan: &DownloadPlan,
        file: &FilePlan,
        fetched: Vec<Result<Vec<u8>, ClientError>>,
        parity_stripe_count: usize,
    ) -> Result<DownloadedFile, ClientError> {
        let (stripes, failures) = split_fetched(plan, file, fetched);
        let (bytes, faults) =
            reassemble_rs_searching(&stripes, plan.data_stripe_count, parity_stripe_count, file)
                .map_err(|error| {
                    probe::hit(&probes::DOWNLOAD_UNRECOVERABLE);
                    ClientError::FileUnrecoverable {
                        email_id: plan.guid,
                        file_type: file.file_type,
                        failures,
                        cause: stripe_error_of(error),
                    }
                })?;
        assert_eq!(bytes.len() as u64, file.original_size_bytes);
        assert!(faults.len() <= parity_stripe_count);
        for fault in &faults {
            probe::hit(match fault {
                StripeFault::Missing { .. } => &probes::RS_REBUILT_MISSING,
                StripeFault::Corrupt { .. } => &probes::RS_REBUILT_CORRUPT,
            });
        }
        if faults.len() >= 2 {
            probe::hit(&probes::RS_MULTI_LOSS);
        }
        for &fault in &faults {
            self.observer().stripe_rebuilt(&StripeRebuilt {
                email_id: plan.guid,
                file_type: file.file_type,
                fault,
                raida_index: plan.sources[fault.stripe_index()].server_id,
            });
        }
        let mut rebuilt_stripes: Vec<usize> =
            faults.iter().map(|fault| fault.stripe_index()).collect();
        rebuilt_stripes.sort_unstable();
        Ok(DownloadedFile {
            file_type: file.file_type,
            bytes,
            rebuilt_stripe: faults.first().map(|fault| fault.stripe_index()),
            fault: faults.first().copied(),
            rebuilt_stripes,
        })
    }

    /// XOR (`parity_algo` 0) reassembly; see the module docs.
    fn rebuild_file_xor(
        &self,
        plan: &DownloadPlan,
        file: &FilePlan,
        fetched: Vec<Result<Vec<u8>, ClientError>>,
    ) -> Result<DownloadedFile, ClientError> {
        let (stripes, failures) = split_fetched(plan, file, fetched);
        let reassembled = stripe::reassemble_verified(
            &stripes,
            plan.data_stripe_count,
            file.original_size_bytes,
            file.crc32,
        )
        .map_err(|cause| {
            probe::hit(&probes::DOWNLOAD_UNRECOVERABLE);
            ClientError::FileUnrecoverable {
                email_id: plan.guid,
                file_type: file.file_type,
                failures,
                cause,
            }
        })?;
        assert_eq!(reassembled.file.len() as u64, file.original_size_bytes);
        if let Some(crc32) = file.crc32 {
            assert_eq!(stripe::file_crc32(&reassembled.file), crc32);
        }
        if let Some(fault) = reassembled.fault {
            probe::hit(match fault {
                StripeFault::Missing { .. } => &probes::XOR_REBUILT_MISSING,
                StripeFault::Corrupt { .. } => &probes::XOR_REBUILT_CORRUPT,
            });
            self.observer().stripe_rebuilt(&StripeRebuilt {
                email_id: plan.guid,
                file_type: file.file_type,
                fault,
                raida_index: plan.sources[fault.stripe_index()].server_id,
            });
        }
        Ok(DownloadedFile {
            file_type: file.file_type,
            bytes: reassembled.file,
            rebuilt_stripe: reassembled.fault.map(StripeFault::stripe_index),
            fault: reassembled.fault,
            rebuilt_stripes: reassembled
                .fault
                .map(StripeFault::stripe_index)
                .into_iter()
                .collect(),
        })
    }
}

/// Most reassemblies [`reassemble_rs_searching`] tries while looking for corrupt stripes: all
/// pairs of 25 stripes (300) fit, all triples (2,300) do not.
const RS_ERASURE_TRIALS_MAX: usize = 1_024;

const _: () = assert!(RS_ERASURE_TRIALS_MAX >= RAIDA_COUNT * (RAIDA_COUNT - 1) / 2);

/// Reed–Solomon reassembly of one file, and the stripes rebuilt (missing, then corrupt).
///
/// Missing stripes (up to k) are plain erasures. When the stripes given disagree (the surplus
/// parity or the CRC-32 fails) and the manifest carries a CRC-32, the present stripes are
/// treated as erased one set at a time, smallest sets first, within the k − missing budget and
/// [`RS_ERASURE_TRIALS_MAX`] reassemblies; a set is accepted only when what is left agrees
/// (surplus parity) and the file matches the CRC-32. Nothing accepted: the first error.
fn reassemble_rs_searching(
    stripes: &[Option<Vec<u8>>],
    data_stripe_count: DataStripeCount,
    parity_stripe_count: usize,
    file: &FilePlan,
) -> Result<(Vec<u8>, Vec<StripeFault>), RsError> {
    let mut trial: Vec<Option<&[u8]>> = stripes.iter().map(|s| s.as_deref()).collect();
    let reassemble = |trial: &[Option<&[u8]>]| {
        rs::reassemble_rs_verified(
            trial,
            data_stripe_count,
            parity_stripe_count,
            file.original_size_bytes,
            file.crc32,
        )
    };
    let missing: Vec<StripeFault> = (0..stripes.len())
        .filter(|&index| trial.get(index).is_some_and(Option::is_none))
        .map(|stripe_index| StripeFault::Missing { stripe_index })
        .collect();
    let first_error = match reassemble(&trial) {
        Ok(bytes) => return Ok((bytes, missing)),
        Err(error) => error,
    };
    let disagreeing = matches!(
        first_error,
        RsError::ParityMismatch { .. } | RsError::Crc32Mismatch { .. }
    );
    if !disagreeing || file.crc32.is_none() {
        return Err(first_error);
    }
    let present: Vec<usize> = (0..stripes.len())
        .filter(|&index| trial.get(index).is_some_and(Option::is_some))
        .collect();
    let budget = parity_stripe_count.saturating_sub(missing.len());
    let mut trials = 0usize;
    for erased_count in 1..=budget.min(present.len()) {
        let mut chosen: Vec<usize> = (0..erased_count).collect();
        loop {
            trials += 1;
            if trials > RS_ERASURE_TRIALS_MAX {
                return Err(first_error);
            }
            for &position in &chosen {
                trial[present[position]] = None;
            }
            let result = reassemble(&trial);
            for &position in &chosen {
                trial[present[position]] = stripes[present[position]].as_deref();
            }
            if let Ok(bytes) = result {
                let mut faults = missing;
                faults.extend(chosen.iter().map(|&position| StripeFault::Corrupt {
                    stripe_index: present[position],
                }));
                return Ok((bytes, faults));
            }
            if !next_combination(&mut chosen, present.len()) {
                break;
            }
        }
    }
    Err(first_error)
}

/// Steps `chosen` (ascending positions below `count`) to the next combination in
/// lexicographic order; false after the last.
fn next_combination(chosen: &mut [usize], count: usize) -> bool {
    let size = chosen.len();
    for slot in (0..size).rev() {
        let slot_max = count - size + slot;
        if chosen[slot] < slot_max {
            chosen[slot] += 1;
            for later in slot + 1..size {
                chosen[later] = chosen[later - 1] + 1;
            }
            return true;
        }
    }
    false
}

/// The fetched stripes by index (`None` for one that failed) and the failures, each naming
/// its stripe index and RAIDA.
fn split_fetched(
    plan: &DownloadPlan,
    file: &FilePlan,
    fetched: Vec<Result<Vec<u8>, ClientError>>,
) -> (Vec<Option<Vec<u8>>>, Vec<StripeFailure>) {
    assert_eq!(fetched.len(), plan.sources.len());
    let mut failures = Vec::new();
    let mut stripes: Vec<Option<Vec<u8>>> = Vec::with_capacity(fetched.len());
    for (stripe_index, result) in fetched.into_iter().enumerate() {
        match result {
            Ok(stripe) => stripes.push(Some(stripe)),
            Err(error) => {
                failures.push(StripeFailure {
                    file_type: file.file_type,
                    stripe_index,
                    raida_index: plan.sources[stripe_index].server_id,
                    error,
                });
                stripes.push(None);
            }
        }
    }
    (stripes, failures)
}

/// A Reed–Solomon reassembly failure as the client's stripe-level cause (the variants match
/// one to one, except that `ParityMismatch` does not carry the disagreeing indexes and a bad
/// shape, which [`plan_download`] already refused, reads as a stripe count out of range).
fn stripe_error_of(error: RsError) -> StripeError {
    match error {
        RsError::ShapeInvalid {
            data_stripe_count,
            parity_stripe_count,
        } => StripeError::StripeCountInvalid {
            stripe_count: data_stripe_count.saturating_add(parity_stripe_count),
        },
        RsError::StripeCountMismatch {
            stripe_count,
            stripe_count_expected,
        } => StripeError::StripeCountMismatch {
            stripe_count,
            stripe_count_expected,
        },
        RsError::StripeSizeMismatch {
            stripe_index,
            size_bytes,
            size_bytes_expected,
        } => StripeError::StripeSizeMismatch {
            stripe_index,
            size_bytes,
            size_bytes_expected,
        },
        RsError::TooManyMissing { missing_indexes } => {
            StripeError::TooManyMissing { missing_indexes }
        }
        RsError::ParityMismatch { .. } => StripeError::ParityMismatch,
        RsError::Crc32Mismatch {
            crc32_expected,
            crc32_found,
        } => StripeError::Crc32Mismatch {
            crc32_expected,
            crc32_found,
        },
        RsError::OriginalSizeInvalid {
            original_size_bytes,
        } => StripeError::OriginalSizeInvalid {
            original_size_bytes,
        },
        RsError::Stripe(error) => error,
    }
}

/// Checks a record for download and lays out what to fetch; see the module docs.
fn plan_download(record: &TellRecord) -> Result<DownloadPlan, ClientError> {
    let header = &record.file_header;
    let guid = header.email_id;
    let unusable = |reason: String| ClientError::RecordUnusable {
        email_id: guid,
        reason,
    };
    if header.manifest_version != MANIFEST_VERSION_CURRENT {
        return Err(unusable(format!(
            "manifest version {} (only v1 records list their files and sizes)",
            header.manifest_version
        )));
    }
    if usize::from(header.stripe_count) != record.servers.len() {
        return Err(unusable(format!(
            "stripe_count {} but {} server entries",
            header.stripe_count,
            record.servers.len()
        )));
    }
    let (data_stripe_count, parity) = plan_code(record).map_err(unusable)?;
    let sources = plan_sources(record, data_stripe_count).map_err(unusable)?;
    let files = plan_files(record, data_stripe_count).map_err(unusable)?;
    Ok(DownloadPlan {
        guid,
        locker_code: header.locker_code,
        data_stripe_count,
        parity,
        sources,
        files,
    })
}

/// N and the code from `parity_algo` and the server entries: XOR has N + 1 entries; under
/// Reed–Solomon N counts the `stripe_type` 0 entries and k the `stripe_type` 1 entries.
fn plan_code(record: &TellRecord) -> Result<(DataStripeCount, Parity), String> {
    let parity_algo = record.file_header.parity_algo;
    match parity_algo {
        PARITY_ALGO_RAID5_XOR => {
            let data_stripe_count = DataStripeCount::from_stripe_count(record.servers.len())
                .map_err(|error| error.to_string())?;
            Ok((data_stripe_count, Parity::Xor))
        }
        PARITY_ALGO_REED_SOLOMON => {
            let count_of = |stripe_type: u8| {
                record
                    .servers
                    .iter()
                    .filter(|entry| entry.stripe_type == stripe_type)
                    .count()
            };
            let data_count = count_of(STRIPE_TYPE_DATA);
            let parity_count = count_of(STRIPE_TYPE_PARITY);
            if data_count + parity_count != record.servers.len() {
                return Err(format!(
                    "{} server entries have a stripe_type other than 0 (data) or 1 (parity)",
                    record.servers.len() - data_count - parity_count
                ));
            }
            rs::check_shape(data_count, parity_count)
                .map_err(|shape| format!("Reed-Solomon stripes: {shape}"))?;
            let data_stripe_count =
                DataStripeCount::new(data_count).map_err(|error| error.to_string())?;
            let parity_count = u8::try_from(parity_count).expect("check_shape bounds k by 32");
            Ok((data_stripe_count, Parity::ReedSolomon { parity_count }))
        }
        other => Err(format!(
            "unknown parity_algo {other}: this client rebuilds {PARITY_ALGO_RAID5_XOR} (RAID-5 \
             XOR) and {PARITY_ALGO_REED_SOLOMON} (Reed-Solomon)"
        )),
    }
}

/// The source of each stripe index: every index 0..M exactly once, data below N, parity from
/// N on.
fn plan_sources(
    record: &TellRecord,
    data_stripe_count: DataStripeCount,
) -> Result<Vec<StripeSource>, String> {
    let mut sources: Vec<Option<StripeSource>> = vec![None; record.servers.len()];
    for entry in &record.servers {
        let stripe_index = usize::from(entry.stripe_index);
        let Some(slot) = sources.get_mut(stripe_index) else {
            return Err(format!("stripe index {stripe_index} is out of range"));
        };
        if slot.is_some() {
            return Err(format!("stripe index {stripe_index} appears twice"));
        }
        let stripe_type_expected = if stripe_index >= data_stripe_count.get() {
            STRIPE_TYPE_PARITY
        } else {
            STRIPE_TYPE_DATA
        };
        if entry.stripe_type != stripe_type_expected {
            return Err(format!(
                "stripe index {stripe_index} has stripe_type {}, expected {stripe_type_expected}",
                entry.stripe_type
            ));
        }
        *slot = Some(StripeSource {
            server_id: entry.server_id,
            addr: entry.socket_addr().map(SocketAddr::V4),
        });
    }
    Ok(sources
        .into_iter()
        .map(|source| source.expect("M distinct indexes below M fill M slots"))
        .collect())
}

/// The files of the manifest: body first, distinct types, sizes a stripe set can carry.
fn plan_files(
    record: &TellRecord,
    data_stripe_count: DataStripeCount,
) -> Result<Vec<FilePlan>, String> {
    let header = &record.file_header;
    if !record.manifest_excess.is_empty() || record.manifest.is_empty() {
        return Err(format!(
            "manifest_len {} is not a whole, non-empty list of 16-byte entries",
            header.manifest_len
        ));
    }
    if record.manifest.first().map(|entry| entry.file_type) != Some(FILE_TYPE_BODY) {
        return Err("the first manifest entry is not the body".to_string());
    }
    let mut files: Vec<FilePlan> = Vec::with_capacity(record.manifest.len());
    for entry in &record.manifest {
        if files.iter().any(|file| file.file_type == entry.file_type) {
            return Err(format!(
                "file type {:#04x} is listed twice",
                entry.file_type
            ));
        }
        let stripe_size_bytes = stripe::stripe_size_bytes(entry.original_size, data_stripe_count);
        if stripe_size_bytes > STRIPE_SIZE_BYTES_MAX as u64 {
            return Err(format!(
                "file {:#04x} of {} bytes needs {stripe_size_bytes}-byte stripes, more than \
                 an upload carries",
                entry.file_type, entry.original_size
            ));
        }
        files.push(FilePlan {
            file_type: entry.file_type,
            original_size_bytes: entry.original_size,
            stripe_size_bytes: usize::try_from(stripe_size_bytes).expect("at most 65,447"),
            crc32: header.crc32_present().then_some(entry.crc32),
        });
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_for(original_size_bytes: u64, crc32: Option<u32>) -> FilePlan {
        FilePlan {
            file_type: FILE_TYPE_BODY,
            original_size_bytes,
            stripe_size_bytes: 0,
            crc32,
        }
    }

    fn record(parity_algo: u8, stripe_types: &[u8]) -> TellRecord {
        use qmail_wire::tell::{FileHeader, ManifestEntry, ServerEntry};
        let addr = std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 1);
        let servers = stripe_types
            .iter()
            .enumerate()
            .map(|(index, &stripe_type)| {
                ServerEntry::new(index as u8, stripe_type, index as u8, addr)
            })
            .collect();
        let body = ManifestEntry {
            file_type: FILE_TYPE_BODY,
            file_flags: 0,
            reserved: [0; 2],
            original_size: 10,
            crc32: 0,
        };
        let header = FileHeader {
            parity_algo,
            ..FileHeader::default()
        };
        TellRecord::new_v1(header, servers, vec![body])
    }

    #[test]
    fn plan_reads_the_code_from_parity_algo_and_stripe_types() {
        let plan = plan_download(&record(0, &[0, 0, 0, 1])).expect("xor");
        assert_eq!(plan.parity, Parity::Xor);
        assert_eq!(plan.data_stripe_count.get(), 3);
        let plan = plan_download(&record(1, &[0, 0, 0, 1, 1])).expect("rs");
        assert_eq!(plan.parity, Parity::ReedSolomon { parity_count: 2 });
        assert_eq!(plan.data_stripe_count.get(), 3);
        for (algo, types, needle) in [
            (7, &[0u8, 0, 1][..], "unknown parity_algo 7"),
            (1, &[0, 0, 2][..], "stripe_type other than"),
            (1, &[0, 1, 0][..], "stripe index 1 has stripe_type 1"),
            (1, &[0, 0, 0][..], "Reed-Solomon stripes"),
            (0, &[0, 1, 1][..], "stripe index 1 has stripe_type 1"),
        ] {
            let error = plan_download(&record(algo, types)).expect_err(needle);
            assert!(
                matches!(error, ClientError::RecordUnusable { .. }),
                "{error}"
            );
            assert!(error.to_string().contains(needle), "{error}");
        }
    }

    #[test]
    fn combinations_in_order() {
        let mut chosen = vec![0, 1];
        let mut all = vec![chosen.clone()];
        while next_combination(&mut chosen, 5) {
            all.push(chosen.clone());
        }
        assert_eq!(all.len(), 10);
        assert_eq!(all.last(), Some(&vec![3, 4]));
        let mut single = vec![0];
        assert!(next_combination(&mut single, 2));
        assert!(!next_combination(&mut single, 2));
    }

    #[test]
    fn searching_finds_corrupt_stripes_only_with_a_crc() {
        let n = DataStripeCount::new(4).expect("valid");
        let file: Vec<u8> = (0..1_000u32).map(|i| (i * 7 + 3) as u8).collect();
        let crc = stripe::file_crc32(&file);
        let good = rs::stripe_rs(&file, n, 2).expect("stripes").into_stripes();
        let mut stripes = good.clone();
        for index in [0, 4] {
            if let Some(Some(stripe)) = stripes.get_mut(index) {
                stripe[3] ^= 0x40;
            }
        }
        let (bytes, faults) =
            reassemble_rs_searching(&stripes, n, 2, &plan_for(1_000, Some(crc))).expect("found");
        assert_eq!(bytes, file);
        assert_eq!(
            faults,
            vec![
                StripeFault::Corrupt { stripe_index: 0 },
                StripeFault::Corrupt { stripe_index: 4 }
            ]
        );
        // Without a CRC-32 nothing says which stripes lie: an error, never a guess.
        let error =
            reassemble_rs_searching(&stripes, n, 2, &plan_for(1_000, None)).expect_err("no crc");
        assert!(matches!(error, RsError::ParityMismatch { .. }), "{error}");
        // Three missing of k = 2: named.
        let mut stripes = good;
        for index in [1, 2, 5] {
            stripes[index] = None;
        }
        let error = reassemble_rs_searching(&stripes, n, 2, &plan_for(1_000, Some(crc)))
            .expect_err("three missing");
        assert_eq!(
            stripe_error_of(error),
            StripeError::TooManyMissing {
                missing_indexes: vec![1, 2, 5]
            }
        );
    }
}
