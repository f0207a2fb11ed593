//! Receiving: ping (72, long poll) and peek (73, immediate) on a mailbox's beacon, and the
//! tell-list parser.
//!
//! A tell list is an 8-byte array header and `tell_count` records with no length prefix;
//! each record's size comes from its own file header (`64 + 32 × stripe_count +
//! manifest_len`, peek page 003), and a legacy v0 record may be followed by the 18-byte
//! recipient footer, which belongs to that record. [`parse_tell_list`] keeps, beside every
//! parsed record, the exact bytes it was parsed from (footer included), because the simulator
//! compares what a beacon stored with what a device received byte for byte.
//!
//! Ping statuses (page 004, DECISIONS.md `ping_timeout_status`): 250 carries a tell list; 17
//! (`ERROR_UDP_FRAME_TIMEOUT`, today's server) and 245 (`RAIDA_STATUS_TIMEOUT`, what some
//! clients expect) both mean "the long poll expired, poll again" ([`Poll::TimedOut`]). Peek
//! answers 250 with a possibly empty list ([`Poll::Empty`]).

use qmail_wire::body::{PeekBody, PingBody};
use qmail_wire::header::Command;
use qmail_wire::response::TellList;
use qmail_wire::tell::TellRecord;
use qmail_wire::{Codec, DecodeError, Reader, Status};

use crate::client::{expect_payload, Client, RequestPlan};
use crate::clock::wire_timestamp_s;
use crate::error::{ClientError, ReplyFault};
use crate::transport::Connector;

/// Which poll a reply answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PollKind {
    /// Long poll (72).
    Ping,
    /// Immediate check (73).
    Peek,
}

impl PollKind {
    /// The command.
    pub const fn command(self) -> Command {
        match self {
            PollKind::Ping => Command::Ping,
            PollKind::Peek => Command::Peek,
        }
    }
}

/// One tell record out of a reply: parsed, and the exact bytes it was parsed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedTell {
    /// The parsed record.
    pub record: TellRecord,
    /// Its bytes in the reply (legacy footer included when present).
    pub raw: Vec<u8>,
}

/// What a poll found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Poll {
    /// One or more tells (each deleted from the inbox by the beacon).
    Tells(Vec<ReceivedTell>),
    /// A ping's long poll expired without mail (status 17 or 245): poll again.
    TimedOut,
    /// A successful reply with no tells (a peek of an empty inbox; a ping normally parks
    /// instead).
    Empty,
}

impl Poll {
    /// The tells, if any.
    pub fn tells(&self) -> &[ReceivedTell] {
        match self {
            Poll::Tells(tells) => tells,
            Poll::TimedOut | Poll::Empty => &[],
        }
    }
}

/// Parses a decrypted ping/peek payload into its records, each with its raw bytes. Fails on
/// the first record that does not decode, or on bytes after the last record.
pub fn parse_tell_list(payload: &[u8]) -> Result<Vec<ReceivedTell>, DecodeError> {
    let mut reader = Reader::new(payload);
    let tell_count = reader.read_u8("tell_count")?;
    reader.read_u16("total_tells")?;
    reader.read_array::<5>("tell_list.reserved")?;
    let mut tells = Vec::with_capacity(usize::from(tell_count));
    for _ in 0..tell_count {
        let start = reader.offset();
        let record = TellRecord::read(&mut reader)?;
        let raw = payload
            .get(start..reader.offset())
            .expect("the reader only moves forward within the payload")
            .to_vec();
        assert_eq!(raw.len(), record.size_bytes());
        tells.push(ReceivedTell { record, raw });
    }
    reader.expect_empty("TellList")?;
    debug_assert!(TellList::from_bytes(payload).is_ok());
    Ok(tells)
}

impl<C: Connector> Client<C> {
    /// Long-polls this mailbox's beacon.
    pub async fn ping(&self) -> Result<Poll, ClientError> {
        self.ping_at(self.own_beacon()).await
    }

    /// Long-polls RAIDA `beacon` for this mailbox. The reply header may take up to
    /// `ping_read_timeout`; the ping is not retried (a caller polls in a loop, and a retry
    /// cannot bring back tells a lost reply took with it).
    pub async fn ping_at(&self, beacon: u8) -> Result<Poll, ClientError> {
        let raida = self.raida(beacon)?;
        let plan = RequestPlan {
            raida,
            command: Command::Ping,
            retries_max: 0,
            read_header_timeout: self.config().ping_read_timeout,
        };
        let timestamp_s = wire_timestamp_s(self.clock());
        let reply = self
            .request(plan, |challenge| {
                PingBody::with_timestamp(self.poll_preamble(beacon, challenge), timestamp_s)
                    .to_bytes()
            })
            .await?;
        let timed_out = Status::from_code(reply.status_code).is_some_and(Status::is_ping_timeout);
        if timed_out {
            self.extensions().after_poll(beacon, &Poll::TimedOut);
            return Ok(Poll::TimedOut);
        }
        self.poll_result(plan, PollKind::Ping, expect_payload(plan, reply)?)
    }

    /// Checks this mailbox's beacon for tells whose inbox file is newer than `since_unix_s`
    /// (0 for all).
    pub async fn peek(&self, since_unix_s: u32) -> Result<Poll, ClientError> {
        self.peek_at(self.own_beacon(), since_unix_s).await
    }

    /// Checks RAIDA `beacon` for this mailbox's tells newer than `since_unix_s`. Retried like
    /// the other idempotent commands.
    pub async fn peek_at(&self, beacon: u8, since_unix_s: u32) -> Result<Poll, ClientError> {
        let raida = self.raida(beacon)?;
        let plan = self.idempotent_plan(raida, Command::Peek);
        let reply = self
            .request(plan, |challenge| {
                PeekBody {
                    preamble: self.poll_preamble(beacon, challenge),
                    since_timestamp_s: since_unix_s,
                }
                .to_bytes()
            })
            .await?;
        self.poll_result(plan, PollKind::Peek, expect_payload(plan, reply)?)
    }

    fn poll_result(
        &self,
        plan: RequestPlan,
        via: PollKind,
        payload: Vec<u8>,
    ) -> Result<Poll, ClientError> {
        let tells = parse_tell_list(&payload).map_err(|error| ClientError::BadReply {
            raida: plan.raida,
            command: plan.command,
            fault: ReplyFault::Decode(error),
        })?;
        let arrived = if tells.is_empty() {
            Poll::Empty
        } else {
            Poll::Tells(tells)
        };
        self.extensions().after_poll(plan.raida.index, &arrived);
        let tells = match arrived {
            Poll::Tells(tells) => self.extensions().received(plan.raida.index, tells),
            Poll::TimedOut | Poll::Empty => Vec::new(),
        };
        if tells.is_empty() {
            return Ok(Poll::Empty);
        }
        self.observer()
            .tells_received(plan.raida.index, via, &tells);
        Ok(Poll::Tells(tells))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qmail_wire::tell::{
        FileHeader, LegacyFooter, ManifestEntry, ServerEntry, FILE_TYPE_BODY,
        MANIFEST_VERSION_LEGACY,
    };
    use std::net::SocketAddrV4;

    fn v1_record(seed: u8, servers: usize, files: usize) -> TellRecord {
        let header = FileHeader {
            email_id: [seed; 16],
            sender_coin_id: 6,
            stripe_count: servers as u8,
            ..FileHeader::default()
        };
        let servers = (0..servers)
            .map(|i| {
                ServerEntry::new(
                    i as u8,
                    0,
                    i as u8,
                    SocketAddrV4::new([10, 0, 0, i as u8].into(), 9000),
                )
            })
            .collect();
        let manifest = (0..files)
            .map(|i| ManifestEntry {
                file_type: if i == 0 {
                    FILE_TYPE_BODY
                } else {
                    0x09u8.wrapping_add(i as u8)
                },
                original_size: 100 + i as u64,
                ..ManifestEntry::default()
            })
            .collect();
        TellRecord::new_v1(header, servers, manifest)
    }

    fn legacy_record(seed: u8, servers: usize, footer: bool) -> TellRecord {
        let header = FileHeader {
            email_id: [seed; 16],
            stripe_count: servers as u8,
            manifest_version: MANIFEST_VERSION_LEGACY,
            version: 2,
            edit_sequence: 9,
            ..FileHeader::default()
        };
        TellRecord {
            file_header: header,
            servers: (0..servers).map(|_| ServerEntry::default()).collect(),
            manifest: Vec::new(),
            manifest_excess: Vec::new(),
            legacy_footer: footer.then_some(LegacyFooter {
                recipient_locker: [0x41; 16],
            }),
        }
    }

    fn payload(records: &[TellRecord]) -> Vec<u8> {
        TellList::new(records.to_vec()).to_bytes()
    }

    #[test]
    fn empty_list() {
        assert_eq!(parse_tell_list(&[0; 8]), Ok(Vec::new()));
    }

    #[test]
    fn mixed_v1_and_legacy_records_keep_their_bytes() {
        let records = vec![
            v1_record(1, 8, 3),
            legacy_record(2, 4, true),
            v1_record(3, 2, 1),
            legacy_record(4, 3, false),
            v1_record(5, 32, 255),
        ];
        let bytes = payload(&records);
        let tells = parse_tell_list(&bytes).expect("valid list");
        assert_eq!(tells.len(), records.len());
        let mut offset = 8;
        for (tell, record) in tells.iter().zip(&records) {
            assert_eq!(&tell.record, record);
            assert_eq!(tell.raw, record.to_bytes());
            assert_eq!(&bytes[offset..offset + tell.raw.len()], tell.raw.as_slice());
            offset += tell.raw.len();
        }
        assert_eq!(offset, bytes.len());
        // The legacy record with a footer is 64 + 4×32 + 18 bytes.
        assert_eq!(tells[1].raw.len(), 64 + 4 * 32 + 18);
        assert_eq!(tells[1].record.edit_sequence(), 0);
    }

    #[test]
    fn record_size_uses_manifest_len() {
        // A reader that advanced by 64 + 32·M alone would land inside the first manifest.
        let records = vec![v1_record(1, 3, 4), v1_record(2, 3, 4)];
        let tells = parse_tell_list(&payload(&records)).expect("valid");
        assert_eq!(tells[1].record.file_header.email_id, [2; 16]);
    }

    #[test]
    fn truncated_and_trailing_bytes_fail() {
        let bytes = payload(&[v1_record(1, 8, 2)]);
        assert!(parse_tell_list(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(parse_tell_list(&longer).is_err());
        let mut more_declared = bytes;
        more_declared[0] = 2;
        assert!(parse_tell_list(&more_declared).is_err());
        assert!(parse_tell_list(&[]).is_err());
    }
}
