//! Receiving: ping (72, long poll) and peek (73, immediate) on a mailbox's beacon.
//!
//! The values a poll returns and the tell-list parser live in [`crate::tell_list`] (below the
//! client, so the extension hooks and the observer can take them without a cycle); they are
//! re-exported here.
//!
//! Ping statuses (page 004, DECISIONS.md `ping_timeout_status`): 250 carries a tell list; 17
//! (`ERROR_UDP_FRAME_TIMEOUT`, today's server) and 245 (`RAIDA_STATUS_TIMEOUT`, what some
//! clients expect) both mean "the long poll expired, poll again" ([`Poll::TimedOut`]). Peek
//! answers 250 with a possibly empty list ([`Poll::Empty`]).

use qmail_wire::body::{PeekBody, PingBody};
use qmail_wire::header::Command;
use qmail_wire::{Codec, Status};

use crate::client::{expect_payload, Client, RequestPlan};
use crate::clock::wire_timestamp_s;
use crate::error::{ClientError, ReplyFault};
use crate::transport::Connector;

pub use crate::tell_list::{parse_tell_list, Poll, PollKind, ReceivedTell};

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
            .await
            .inspect_err(|error| {
                if error.is_transient() {
                    probe::hit(&crate::probes::PING_NO_REPLY);
                }
            })?;
        let timed_out = Status::from_code(reply.status_code).is_some_and(Status::is_ping_timeout);
        if timed_out {
            probe::hit(&crate::probes::PING_TIMED_OUT);
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
