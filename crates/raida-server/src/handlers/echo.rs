//! Echo (group 0, code 0; DECISIONS.md "Echo"): the health check every RAIDA answers. The
//! body is only the challenge (checked like any other, 37 on a bad CRC); the reply is 250,
//! status only, signed, so a client learns both "this RAIDA is up" and "it holds my key".

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
