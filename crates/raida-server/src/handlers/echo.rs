//! Echo (group 0, code 0; DECISIONS.md "Echo"): the health check every RAIDA answers. The
//! body is only the challenge (checked like any other, 37 on a bad CRC); the reply is 250,
//! status only, signed, so a client learns "this RAIDA is up" and, with encryption type 1,
//! "it holds my key".
//!
//! Echo is the one command that may come with encryption type 0 (plaintext). Then, as on the
//! public server (DECISIONS.md "Interop with the public RAIDA server"), header bytes 17–21
//! are ignored, the reply is signed with the challenge as it is (no AN, even when 17–21 name a
//! held coin), and a payload, if echo ever had one, would go back in plaintext. All of that is
//! the request's `ReplyProtection`, applied by [`crate::handler`]; this handler only answers.

use qmail_wire::Status;

use super::CommandReply;

/// The echo reply.
pub(crate) fn echo() -> CommandReply {
    CommandReply::Status(Status::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_is_250_status_only() {
        assert!(matches!(echo(), CommandReply::Status(Status::Success)));
    }
}
