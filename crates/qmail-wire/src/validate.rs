//! The server-side rules, as pure functions that return the exact [`Status`] to send.
//!
//! Nothing here touches state: coin lookups (8), AN comparison (200), locker balances (169),
//! fees and the filesystem are the server's. What is here is every rule the pages state about
//! the bytes themselves:
//!
//! | function | status | source |
//! |---|---|---|
//! | [`validate_request_header`] | 255, 2, 3, 4, 5, 6, 7, 34, 27 | DECISIONS.md "Interop with the public RAIDA server" (order as listed there) |
//! | [`validate_challenge`] | 37 | DECISIONS.md "AES-128-CTR"; peek/ping status tables |
//! | [`validate_denomination`] | 40 | page 001 status table; DECISIONS.md (checked before the coin lookup) |
//! | [`validate_tell_body_size`] | 16 | tell page "Server validates: body_size == …"; status 16 row |
//! | [`validate_tell`] / [`check_tell`] | 198 | tell page status 198 row and the file-header table |
//! | [`validate_recipient`] | skip recipient | tell page address entries; status 18 row |
//! | [`body_size_estimate`], [`overwrite_total_file_size`] | never rejects | tell page file header offset 46–49 |
//! | [`edit_sequence_allows`] | skip recipient | tell page "Server-side delivery" |
//!
//! Decoding problems (lengths, terminator, unknown storage duration) are answered through
//! [`crate::error::DecodeError::status`].

use crate::body::TellBody;
use crate::crypto::Challenge;
use crate::header::{
    Command, EncryptionType, RequestHeader, ROUTER_VERSION, SPLIT_ID_SINGLE_FRAME,
};
use crate::limits::{
    ADDRESS_ENTRY_SIZE_BYTES, COIN_ID_CLOUDCOIN, DENOMINATION_MAX, DENOMINATION_MIN,
    FILE_HEADER_SIZE_BYTES, MANIFEST_ENTRY_SIZE_BYTES, PREAMBLE_SIZE_BYTES,
    ROUTING_HEADER_SIZE_BYTES, SERVER_ENTRY_SIZE_BYTES, SHARD_ID_MAX, STRIPE_COUNT_MAX,
    STRIPE_COUNT_MIN, TERMINATOR_SIZE_BYTES,
};
use crate::status::Status;
use crate::tell::{
    locker_is_empty, AddressEntry, FileHeader, FILE_TYPE_BODY, MANIFEST_FLAGS_RESERVED_MASK,
    MANIFEST_VERSION_CURRENT, MANIFEST_VERSION_LEGACY, PARITY_ALGO_RAID5_XOR, TELL_TYPE_EMAIL,
};
use std::fmt;

/// What an accepted request header asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AcceptedHeader {
    /// The command of bytes 4–5.
    pub command: Command,
    /// The encryption type of byte 16.
    pub encryption: EncryptionType,
}

/// The header checks, in the order of DECISIONS.md "Interop with the public RAIDA server"
/// (the public server's order): version 1 (else 255), split 0 (else 2), RAIDA id =
/// `raida_id_self` (else 3), shard id 0–3 (else 4), a known command group (else 5) and code
/// (else 6), coin id `00 06` (else 7), then the encryption type: 1 for every command, 0 only
/// for echo (0 on another command: 34), anything else 27. 5 and 6 are the standard
/// `protocol.h` codes. The key coin lookup (unknown coin or key denomination outside −8…+6:
/// 34) is the server's; a type-0 echo has none.
pub fn validate_request_header(
    header: &RequestHeader,
    raida_id_self: u8,
) -> Result<AcceptedHeader, Status> {
    if header.version != ROUTER_VERSION {
        return Err(Status::InvalidRouting);
    }
    if header.split_id != SPLIT_ID_SINGLE_FRAME {
        return Err(Status::InvalidSplitId);
    }
    if header.raida_id != raida_id_self {
        return Err(Status::InvalidRaidaId);
    }
    if header.shard_id > SHARD_ID_MAX {
        return Err(Status::InvalidShardId);
    }
    let command = header.command().ok_or(
        if Command::ALL
            .iter()
            .any(|command| command.group() == header.command_group)
        {
            Status::InvalidCommand
        } else {
            Status::InvalidCommandGroup
        },
    )?;
    if header.coin_id != COIN_ID_CLOUDCOIN {
        return Err(Status::InvalidCoinId);
    }
    let encryption = match (command, EncryptionType::from_code(header.encryption_type)) {
        (_, Some(EncryptionType::Aes128Ctr)) => EncryptionType::Aes128Ctr,
        (Command::Echo, Some(EncryptionType::None)) => EncryptionType::None,
        (_, Some(EncryptionType::None)) => return Err(Status::InvalidEncryption),
        (_, None) => return Err(Status::InvalidEncryptionCode),
    };
    Ok(AcceptedHeader {
        command,
        encryption,
    })
}

/// The decrypted challenge's CRC must match (else 37 `ERROR_INVALID_CRC`).
pub fn validate_challenge(challenge: &Challenge) -> Result<(), Status> {
    if challenge.is_valid() {
        Ok(())
    } else {
        Err(Status::InvalidCrc)
    }
}

/// A denomination must lie in −8…+6 (else 40 `ERROR_INVALID_SN_OR_DENOMINATION`).
pub fn validate_denomination(denomination: i8) -> Result<(), Status> {
    if (DENOMINATION_MIN..=DENOMINATION_MAX).contains(&denomination) {
        Ok(())
    } else {
        Err(Status::InvalidSnOrDenomination)
    }
}

/// The tell page's size formula: `48 + 48 + R×32 + 64 + M×32 + manifest_len + 2`, with R the
/// routing `address_count`, M the routing `server_count` and `manifest_len` the file header's.
pub const fn tell_body_size_bytes(address_count: u8, server_count: u8, manifest_len: u16) -> usize {
    PREAMBLE_SIZE_BYTES
        + ROUTING_HEADER_SIZE_BYTES
        + address_count as usize * ADDRESS_ENTRY_SIZE_BYTES
        + FILE_HEADER_SIZE_BYTES
        + server_count as usize * SERVER_ENTRY_SIZE_BYTES
        + manifest_len as usize
        + TERMINATOR_SIZE_BYTES
}

/// A tell body's `body_size` (terminator included) must equal [`tell_body_size_bytes`], and
/// `address_count` and `server_count` must be non-zero (else 16 `ERROR_INVALID_PACKET_LENGTH`).
/// Decoding a [`TellBody`] enforces the same rule; this form serves a server that checks the
/// raw fields before decoding. Takes `manifest_len` too: the formula needs it.
pub fn validate_tell_body_size(
    body_size_bytes: usize,
    address_count: u8,
    server_count: u8,
    manifest_len: u16,
) -> Result<(), Status> {
    if address_count == 0
        || server_count == 0
        || body_size_bytes != tell_body_size_bytes(address_count, server_count, manifest_len)
    {
        return Err(Status::InvalidPacketLength);
    }
    Ok(())
}

/// Whether `timestamp_s` lies within `skew_s` seconds of `server_now_s`, either side.
pub fn timestamp_within_skew(timestamp_s: u32, server_now_s: u64, skew_s: u64) -> bool {
    u64::from(timestamp_s).abs_diff(server_now_s) <= skew_s
}

/// One tell field rule; every one is answered with 198 `ERROR_INVALID_PARAMETER`. Variants are
/// in the order [`check_tell`] applies them, which is the order of the tell page's status-198
/// row ("bad sender_coin_id, denomination/SN mismatch with preamble, timestamp out of range,
/// tell_type != 0, stripe_count out of 1..32, stripe_count != server_count, unsupported manifest
/// version, invalid manifest length, nonzero manifest reserved bytes, or first manifest entry is
/// not the body"), with the email-id match (file-header table: "Server validates they match";
/// not in that row, placed here beside the other routing/file-header cross-check).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TellRule {
    /// File header 16–17 must be `00 06`.
    SenderCoinId,
    /// File header 18 and 19–22 must equal the preamble denomination and serial number.
    SenderIdentity,
    /// Routing client_timestamp must be within `tell_skew_s` of the server clock.
    RoutingTimestamp,
    /// File header client_timestamp must be within `tell_skew_s` of the server clock.
    FileHeaderTimestamp,
    /// Routing tell_type must be 0.
    RoutingTellType,
    /// File header tell_type must be 0.
    FileHeaderTellType,
    /// stripe_count must be 1…32.
    StripeCountRange,
    /// stripe_count must equal the routing server_count.
    StripeCountServerCount,
    /// Routing email_id must equal the file header's.
    EmailIdMismatch,
    /// manifest_version must be 0 (legacy) or 1.
    ManifestVersion,
    /// Manifest v0: manifest_len must be 0 (a legacy record has no manifest; this crate's
    /// decision, the pages only say legacy records write 0).
    LegacyManifestLength,
    /// Manifest v1: file_count must be ≥ 1.
    FileCountZero,
    /// Manifest v1: file_entry_size must be 16.
    FileEntrySize,
    /// Manifest v1: manifest_len must equal file_count × file_entry_size.
    ManifestLength,
    /// Manifest v1: manifest_flags bits 2–7 must be zero.
    ManifestFlagsReserved,
    /// Manifest v1: file header bytes 59–63 must be zero.
    FileHeaderReserved,
    /// Manifest v1: every entry's bytes 2–3 must be zero.
    ManifestEntryReserved,
    /// Manifest v1: the first entry must be the body (file_type 0x01).
    FirstEntryNotBody,
}

impl TellRule {
    /// The status the beacon sends: always 198.
    pub const fn status(self) -> Status {
        Status::InvalidParameter
    }
}

impl fmt::Display for TellRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tell rule {self:?} failed ({})", self.status())
    }
}

/// The first tell field rule `body` breaks, in [`TellRule`] order. Assumes the body decoded
/// (so its size rule, 16, already holds). `server_now_s` is the beacon's injected clock.
pub fn check_tell(body: &TellBody, server_now_s: u64, tell_skew_s: u64) -> Result<(), TellRule> {
    let file_header = &body.record.file_header;
    let routing = &body.routing;
    let rules = [
        (
            file_header.sender_coin_id == COIN_ID_CLOUDCOIN,
            TellRule::SenderCoinId,
        ),
        (
            file_header.sender_denomination == body.preamble.denomination
                && file_header.sender_serial_number == body.preamble.serial_number,
            TellRule::SenderIdentity,
        ),
        (
            timestamp_within_skew(routing.client_timestamp_s, server_now_s, tell_skew_s),
            TellRule::RoutingTimestamp,
        ),
        (
            timestamp_within_skew(file_header.client_timestamp_s, server_now_s, tell_skew_s),
            TellRule::FileHeaderTimestamp,
        ),
        (
            routing.tell_type == TELL_TYPE_EMAIL,
            TellRule::RoutingTellType,
        ),
        (
            file_header.tell_type == TELL_TYPE_EMAIL,
            TellRule::FileHeaderTellType,
        ),
        (
            (STRIPE_COUNT_MIN..=STRIPE_COUNT_MAX).contains(&usize::from(file_header.stripe_count)),
            TellRule::StripeCountRange,
        ),
        (
            file_header.stripe_count == routing.server_count,
            TellRule::StripeCountServerCount,
        ),
        (
            routing.email_id == file_header.email_id,
            TellRule::EmailIdMismatch,
        ),
        (
            matches!(
                file_header.manifest_version,
                MANIFEST_VERSION_LEGACY | MANIFEST_VERSION_CURRENT
            ),
            TellRule::ManifestVersion,
        ),
    ];
    for (holds, rule) in rules {
        if !holds {
            return Err(rule);
        }
    }
    if file_header.manifest_version == MANIFEST_VERSION_LEGACY {
        return check_legacy_manifest(file_header);
    }
    check_manifest_v1(body)
}

fn check_legacy_manifest(file_header: &FileHeader) -> Result<(), TellRule> {
    if file_header.manifest_len != 0 {
        return Err(TellRule::LegacyManifestLength);
    }
    Ok(())
}

fn check_manifest_v1(body: &TellBody) -> Result<(), TellRule> {
    let file_header = &body.record.file_header;
    let manifest = &body.record.manifest;
    let expected_len =
        usize::from(file_header.file_count) * usize::from(file_header.file_entry_size);
    let rules = [
        (file_header.file_count >= 1, TellRule::FileCountZero),
        (
            usize::from(file_header.file_entry_size) == MANIFEST_ENTRY_SIZE_BYTES,
            TellRule::FileEntrySize,
        ),
        (
            usize::from(file_header.manifest_len) == expected_len,
            TellRule::ManifestLength,
        ),
        (
            file_header.manifest_flags & MANIFEST_FLAGS_RESERVED_MASK == 0,
            TellRule::ManifestFlagsReserved,
        ),
        (file_header.reserved == [0; 5], TellRule::FileHeaderReserved),
        (
            manifest.iter().all(|entry| entry.reserved == [0; 2]),
            TellRule::ManifestEntryReserved,
        ),
        (
            manifest.first().map(|entry| entry.file_type) == Some(FILE_TYPE_BODY),
            TellRule::FirstEntryNotBody,
        ),
    ];
    for (holds, rule) in rules {
        if !holds {
            return Err(rule);
        }
    }
    Ok(())
}

/// [`check_tell`] as the status the beacon sends (198 on any failure).
pub fn validate_tell(body: &TellBody, server_now_s: u64, tell_skew_s: u64) -> Result<(), Status> {
    check_tell(body, server_now_s, tell_skew_s).map_err(TellRule::status)
}

/// Why a beacon skips one recipient (the tell page's address-entry table and status 18 row).
/// A tell whose every recipient is skipped answers 18 `ERROR_WRONG_RAIDA`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecipientReject {
    /// Denomination outside −8…+6.
    BadDenomination,
    /// Coin id not `00 06`.
    BadCoinId,
    /// Locker payment key all zero.
    EmptyLockerKey,
}

impl fmt::Display for RecipientReject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecipientReject::BadDenomination => "recipient denomination outside -8..=6",
            RecipientReject::BadCoinId => "recipient coin id is not 00 06",
            RecipientReject::EmptyLockerKey => "recipient locker payment key is empty",
        })
    }
}

/// The static checks on one recipient, in field order. The kind byte is not checked: the pages
/// give no rule for it. Fee and locker balance checks need server state and are the server's.
pub fn validate_recipient(entry: &AddressEntry) -> Result<(), RecipientReject> {
    if validate_denomination(entry.denomination).is_err() {
        return Err(RecipientReject::BadDenomination);
    }
    if entry.coin_id != COIN_ID_CLOUDCOIN {
        return Err(RecipientReject::BadCoinId);
    }
    if locker_is_empty(&entry.locker_payment_key) {
        return Err(RecipientReject::EmptyLockerKey);
    }
    Ok(())
}

/// The beacon's estimate of the body size from the body stripe it stores:
/// `stripe_size_bytes × (stripe_count − 1)`. `None` (skip the check) when `parity_algo` is not
/// RAID-5 XOR (0) or `stripe_count` ≤ 1 (tell page, file header offset 46–49).
pub fn body_size_estimate(
    stripe_size_bytes: u64,
    stripe_count: u8,
    parity_algo: u8,
) -> Option<u64> {
    if parity_algo != PARITY_ALGO_RAID5_XOR || stripe_count <= 1 {
        return None;
    }
    Some(stripe_size_bytes.saturating_mul(u64::from(stripe_count - 1)))
}

/// The value to store in the `.tell` instead of the sender's `total_file_size`: the estimate
/// (saturated to u32) when the claim is more than 5% below it, else `None` (keep the claim).
/// The tell is never rejected on size.
pub fn overwrite_total_file_size(claimed: u32, estimate: u64) -> Option<u32> {
    // claimed < 0.95 × estimate, in integers.
    if u128::from(claimed) * 100 < u128::from(estimate) * 95 {
        Some(u32::try_from(estimate).unwrap_or(u32::MAX))
    } else {
        None
    }
}

/// The duplicate-GUID guard: a delivery may overwrite an existing `.tell` unless the incoming
/// edit_sequence is lower (legacy v0 records count as 0). Equal overwrites (idempotent re-send).
pub fn edit_sequence_allows(incoming: &FileHeader, existing: &FileHeader) -> bool {
    incoming.edit_sequence_effective() >= existing.edit_sequence_effective()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Codec;
    use crate::header::{EncryptionType, RequestHeader};
    use crate::packet::RequestMeta;
    use crate::preamble::Preamble;
    use crate::tell::{
        locker_from_ascii, ManifestEntry, RoutingHeader, ServerEntry, TellRecord, FILE_FLAG_BODY,
        MANIFEST_FLAG_CRC32_PRESENT,
    };

    const NOW_S: u64 = 1_750_000_000;
    const SKEW_S: u64 = 60;

    fn header() -> RequestHeader {
        RequestMeta {
            raida_id: 4,
            command: Command::Tell,
            encryption_type: EncryptionType::Aes128Ctr,
            key_denomination: 1,
            key_serial_number: 10,
            nonce: [0; 8],
        }
        .header(300)
    }

    #[test]
    fn header_rules_in_order() {
        let good = header();
        assert_eq!(
            validate_request_header(&good, 4),
            Ok(AcceptedHeader {
                command: Command::Tell,
                encryption: EncryptionType::Aes128Ctr
            })
        );
        type Mutation = fn(&mut RequestHeader);
        let cases: [(Mutation, Status); 11] = [
            (|h| h.version = 2, Status::InvalidRouting),
            (|h| h.split_id = 1, Status::InvalidSplitId),
            (|h| h.raida_id = 5, Status::InvalidRaidaId),
            (|h| h.shard_id = 4, Status::InvalidShardId),
            (|h| h.shard_id = 255, Status::InvalidShardId),
            (|h| h.coin_id = 7, Status::InvalidCoinId),
            (|h| h.command_group = 9, Status::InvalidCommandGroup),
            (|h| h.command_code = 60, Status::InvalidCommand),
            (|h| h.encryption_type = 0, Status::InvalidEncryption),
            (|h| h.encryption_type = 2, Status::InvalidEncryptionCode),
            (|h| h.encryption_type = 255, Status::InvalidEncryptionCode),
        ];
        for (mutate, status) in cases {
            let mut bad = good;
            mutate(&mut bad);
            assert_eq!(validate_request_header(&bad, 4), Err(status));
        }
        // Earlier rules win: a bad version and a bad split id is 255.
        let mut bad = good;
        bad.version = 0;
        bad.split_id = 3;
        assert_eq!(
            validate_request_header(&bad, 4),
            Err(Status::InvalidRouting)
        );
        // The public server's order: shard, then group and command, before the coin id; the
        // encryption type after it.
        let mut bad = good;
        bad.coin_id = 7;
        bad.encryption_type = 2;
        assert_eq!(validate_request_header(&bad, 4), Err(Status::InvalidCoinId));
        bad.command_code = 60;
        assert_eq!(
            validate_request_header(&bad, 4),
            Err(Status::InvalidCommand)
        );
        bad.command_group = 9;
        assert_eq!(
            validate_request_header(&bad, 4),
            Err(Status::InvalidCommandGroup)
        );
        bad.shard_id = 4;
        assert_eq!(
            validate_request_header(&bad, 4),
            Err(Status::InvalidShardId)
        );
        bad.raida_id = 3;
        assert_eq!(
            validate_request_header(&bad, 4),
            Err(Status::InvalidRaidaId)
        );
        // Shards 0–3 are accepted.
        for shard_id in 0..=3 {
            let mut shard = good;
            shard.shard_id = shard_id;
            assert!(validate_request_header(&shard, 4).is_ok(), "{shard_id}");
        }
        // Echo may be plaintext; type 2 is never allowed (27).
        let mut echo = good;
        echo.command_group = 0;
        echo.command_code = 0;
        echo.encryption_type = 0;
        assert_eq!(
            validate_request_header(&echo, 4).map(|a| a.encryption),
            Ok(EncryptionType::None)
        );
        echo.encryption_type = 2;
        assert_eq!(
            validate_request_header(&echo, 4),
            Err(Status::InvalidEncryptionCode)
        );
        echo.command_code = 1;
        assert_eq!(
            validate_request_header(&echo, 4),
            Err(Status::InvalidCommand)
        );
    }

    #[test]
    fn challenge_and_denomination() {
        assert_eq!(validate_challenge(&Challenge::from_random([1; 12])), Ok(()));
        let mut bad = Challenge::from_random([1; 12]);
        bad.0[15] ^= 0x80;
        assert_eq!(validate_challenge(&bad), Err(Status::InvalidCrc));
        for denomination in -8..=6 {
            assert_eq!(validate_denomination(denomination), Ok(()));
        }
        for denomination in [-128, -9, 7, 127] {
            assert_eq!(
                validate_denomination(denomination),
                Err(Status::InvalidSnOrDenomination)
            );
        }
    }

    #[test]
    fn tell_body_size_rule() {
        assert_eq!(
            tell_body_size_bytes(1, 8, 32),
            48 + 48 + 32 + 64 + 256 + 32 + 2
        );
        assert_eq!(validate_tell_body_size(482, 1, 8, 32), Ok(()));
        assert_eq!(
            validate_tell_body_size(483, 1, 8, 32),
            Err(Status::InvalidPacketLength)
        );
        assert_eq!(
            validate_tell_body_size(tell_body_size_bytes(0, 8, 32), 0, 8, 32),
            Err(Status::InvalidPacketLength)
        );
        assert_eq!(
            validate_tell_body_size(tell_body_size_bytes(1, 0, 32), 1, 0, 32),
            Err(Status::InvalidPacketLength)
        );
    }

    pub(crate) fn valid_tell() -> TellBody {
        let preamble = Preamble::new(Challenge::from_random([2; 12]), 3, 9001, [0x0A; 16]);
        let email_id = [0xE1; 16];
        let file_header = FileHeader {
            email_id,
            sender_coin_id: COIN_ID_CLOUDCOIN,
            sender_denomination: 3,
            sender_serial_number: 9001,
            client_timestamp_s: NOW_S as u32,
            manifest_flags: MANIFEST_FLAG_CRC32_PRESENT,
            ..FileHeader::default()
        };
        let servers = (0..8)
            .map(|i| ServerEntry {
                stripe_index: i,
                server_id: i,
                ..ServerEntry::default()
            })
            .collect();
        let manifest = vec![
            ManifestEntry {
                file_type: FILE_TYPE_BODY,
                file_flags: FILE_FLAG_BODY,
                original_size: 700,
                ..ManifestEntry::default()
            },
            ManifestEntry {
                file_type: 0x0A,
                original_size: 70,
                ..ManifestEntry::default()
            },
        ];
        let record = TellRecord::new_v1(file_header, servers, manifest);
        let routing = RoutingHeader {
            email_id,
            client_timestamp_s: NOW_S as u32,
            ..RoutingHeader::default()
        };
        let recipient = AddressEntry::new(
            crate::tell::RecipientKind::To,
            1,
            77,
            locker_from_ascii("PAID").unwrap(),
        );
        TellBody::new(preamble, routing, vec![recipient], record)
    }

    #[test]
    fn valid_tell_passes_and_round_trips() {
        let body = valid_tell();
        assert_eq!(check_tell(&body, NOW_S, SKEW_S), Ok(()));
        let bytes = body.to_bytes();
        assert_eq!(bytes.len() + 2, body.body_size_bytes());
        let decoded = TellBody::from_bytes(&bytes).unwrap();
        assert_eq!(decoded, body);
        assert_eq!(validate_tell(&decoded, NOW_S, SKEW_S), Ok(()));
        let manifest_len = body.record.file_header.manifest_len;
        assert_eq!(
            validate_tell_body_size(bytes.len() + 2, 1, 8, manifest_len),
            Ok(())
        );
    }

    /// Every tell rule, each broken alone, gives its own rule and status 198.
    #[test]
    fn each_tell_rule_rejects_with_198() {
        type Breaker = fn(&mut TellBody);
        let cases: Vec<(Breaker, TellRule)> = vec![
            (
                |b| b.record.file_header.sender_coin_id = 7,
                TellRule::SenderCoinId,
            ),
            (
                |b| b.record.file_header.sender_denomination = 2,
                TellRule::SenderIdentity,
            ),
            (
                |b| b.record.file_header.sender_serial_number = 1,
                TellRule::SenderIdentity,
            ),
            (
                |b| b.routing.client_timestamp_s -= 61,
                TellRule::RoutingTimestamp,
            ),
            (
                |b| b.routing.client_timestamp_s += 61,
                TellRule::RoutingTimestamp,
            ),
            (
                |b| b.record.file_header.client_timestamp_s += 61,
                TellRule::FileHeaderTimestamp,
            ),
            (|b| b.routing.tell_type = 1, TellRule::RoutingTellType),
            (
                |b| b.record.file_header.tell_type = 1,
                TellRule::FileHeaderTellType,
            ),
            (
                |b| b.record.file_header.stripe_count = 0,
                TellRule::StripeCountRange,
            ),
            (
                |b| b.record.file_header.stripe_count = 33,
                TellRule::StripeCountRange,
            ),
            (
                |b| b.record.file_header.stripe_count = 7,
                TellRule::StripeCountServerCount,
            ),
            (
                |b| b.record.file_header.email_id[0] ^= 1,
                TellRule::EmailIdMismatch,
            ),
            (
                |b| b.record.file_header.manifest_version = 2,
                TellRule::ManifestVersion,
            ),
            (
                |b| {
                    b.record.file_header.file_count = 0;
                },
                TellRule::FileCountZero,
            ),
            (
                |b| b.record.file_header.file_entry_size = 8,
                TellRule::FileEntrySize,
            ),
            (
                |b| b.record.file_header.file_count = 3,
                TellRule::ManifestLength,
            ),
            (
                |b| b.record.file_header.manifest_flags |= 0x04,
                TellRule::ManifestFlagsReserved,
            ),
            (
                |b| b.record.file_header.reserved[4] = 1,
                TellRule::FileHeaderReserved,
            ),
            (
                |b| b.record.manifest[1].reserved[0] = 1,
                TellRule::ManifestEntryReserved,
            ),
            (
                |b| b.record.manifest[0].file_type = 0x0A,
                TellRule::FirstEntryNotBody,
            ),
        ];
        for (index, (breaker, rule)) in cases.into_iter().enumerate() {
            let mut body = valid_tell();
            breaker(&mut body);
            assert_eq!(check_tell(&body, NOW_S, SKEW_S), Err(rule), "case {index}");
            assert_eq!(
                validate_tell(&body, NOW_S, SKEW_S),
                Err(Status::InvalidParameter),
                "case {index}"
            );
        }
    }

    #[test]
    fn skew_boundary_is_inclusive() {
        let mut body = valid_tell();
        body.routing.client_timestamp_s = (NOW_S - SKEW_S) as u32;
        body.record.file_header.client_timestamp_s = (NOW_S + SKEW_S) as u32;
        assert_eq!(check_tell(&body, NOW_S, SKEW_S), Ok(()));
        assert_eq!(
            check_tell(&body, NOW_S, SKEW_S - 1),
            Err(TellRule::RoutingTimestamp)
        );
    }

    /// A stripe_count that differs from server_count still decodes from the wire (the size rule
    /// uses server_count) and is then a 198, as DECISIONS.md requires.
    #[test]
    fn stripe_count_mismatch_decodes_then_198() {
        let mut body = valid_tell();
        body.record.file_header.stripe_count = 9;
        let decoded = TellBody::from_bytes(&body.to_bytes()).unwrap();
        assert_eq!(decoded.record.servers.len(), 8);
        assert_eq!(
            check_tell(&decoded, NOW_S, SKEW_S),
            Err(TellRule::StripeCountServerCount)
        );
    }

    #[test]
    fn manifest_length_not_a_multiple_of_16_decodes_then_198() {
        let mut body = valid_tell();
        body.record.file_header.manifest_len = 33;
        body.record.manifest_excess = vec![0];
        let decoded = TellBody::from_bytes(&body.to_bytes()).unwrap();
        assert_eq!(decoded.record.manifest_excess, vec![0]);
        assert_eq!(
            check_tell(&decoded, NOW_S, SKEW_S),
            Err(TellRule::ManifestLength)
        );
    }

    #[test]
    fn legacy_v0_tell_is_accepted_for_compatibility() {
        let mut body = valid_tell();
        let header = &mut body.record.file_header;
        header.manifest_version = MANIFEST_VERSION_LEGACY;
        header.file_count = 0;
        header.file_entry_size = 0;
        header.manifest_len = 0;
        header.manifest_flags = 0;
        header.reserved = [9; 5];
        body.record.manifest.clear();
        assert_eq!(check_tell(&body, NOW_S, SKEW_S), Ok(()));
        body.record.file_header.manifest_len = 16;
        body.record.manifest.push(ManifestEntry::default());
        assert_eq!(
            check_tell(&body, NOW_S, SKEW_S),
            Err(TellRule::LegacyManifestLength)
        );
    }

    #[test]
    fn tell_size_errors_are_16() {
        let body = valid_tell();
        let bytes = body.to_bytes();
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            TellBody::from_bytes(&long).unwrap_err().status(),
            Status::InvalidPacketLength
        );
        assert_eq!(
            TellBody::from_bytes(&bytes[..bytes.len() - 1])
                .unwrap_err()
                .status(),
            Status::InvalidPacketLength
        );
        for offset in [48 + 29, 48 + 30] {
            let mut zero = bytes.clone();
            zero[offset] = 0;
            let error = TellBody::from_bytes(&zero).unwrap_err();
            assert_eq!(error.offset, offset);
            assert_eq!(error.status(), Status::InvalidPacketLength);
        }
    }

    #[test]
    fn recipient_rules() {
        let good = AddressEntry::new(crate::tell::RecipientKind::Cc, 6, 5, [1; 16]);
        assert_eq!(validate_recipient(&good), Ok(()));
        let mut bad = good;
        bad.denomination = 7;
        assert_eq!(
            validate_recipient(&bad),
            Err(RecipientReject::BadDenomination)
        );
        let mut bad = good;
        bad.coin_id = 5;
        assert_eq!(validate_recipient(&bad), Err(RecipientReject::BadCoinId));
        let mut bad = good;
        bad.locker_payment_key = [0; 16];
        assert_eq!(
            validate_recipient(&bad),
            Err(RecipientReject::EmptyLockerKey)
        );
        let mut odd_kind = good;
        odd_kind.kind_code = 200;
        assert_eq!(validate_recipient(&odd_kind), Ok(()));
        assert!(!RecipientReject::EmptyLockerKey.to_string().is_empty());
    }

    #[test]
    fn total_file_size_estimate() {
        assert_eq!(body_size_estimate(1000, 8, 0), Some(7000));
        assert_eq!(body_size_estimate(1000, 1, 0), None);
        assert_eq!(body_size_estimate(1000, 0, 0), None);
        assert_eq!(body_size_estimate(1000, 8, 1), None);
        // 5% below 7000 is 6650: 6650 is kept, 6649 is overwritten.
        assert_eq!(overwrite_total_file_size(6650, 7000), None);
        assert_eq!(overwrite_total_file_size(6649, 7000), Some(7000));
        assert_eq!(overwrite_total_file_size(9000, 7000), None);
        assert_eq!(overwrite_total_file_size(0, u64::MAX), Some(u32::MAX));
    }

    #[test]
    fn edit_sequence_guard() {
        let mut existing = FileHeader {
            manifest_version: 1,
            edit_sequence: 3,
            ..FileHeader::default()
        };
        let mut incoming = existing;
        assert!(edit_sequence_allows(&incoming, &existing));
        incoming.edit_sequence = 2;
        assert!(!edit_sequence_allows(&incoming, &existing));
        incoming.edit_sequence = 4;
        assert!(edit_sequence_allows(&incoming, &existing));
        // A legacy incoming record counts as 0.
        incoming.manifest_version = 0;
        assert!(!edit_sequence_allows(&incoming, &existing));
        existing.edit_sequence = 0;
        assert!(edit_sequence_allows(&incoming, &existing));
    }
}
