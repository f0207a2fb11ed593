//! Who the client is: its mailbox coin, that coin's AN on each of the 25 RAIDAs, and the
//! lockers it pays with.
//!
//! The mailbox coin (denomination, serial number) keys every request: the request header names
//! it (bytes 17–21), the body is AES-128-CTR encrypted under its AN on the target RAIDA, and
//! the preamble carries the same identity and AN (page 001). A RAIDA holds a different AN for
//! the same coin, so the identity keeps one AN per RAIDA index.
//!
//! Two lockers pay for the client's actions: the upload locker pays each RAIDA's upload fee
//! (DECISIONS.md, "Upload"), the inbox-fee locker goes into every recipient address entry of a
//! tell (tell page 002). They are the user's secrets, like the ANs, so they live here and not
//! in [`crate::config::Config`].

use std::fmt;

use qmail_wire::limits::{AN_SIZE_BYTES, DENOMINATION_MAX, DENOMINATION_MIN, GUID_SIZE_BYTES};
use qmail_wire::tell::locker_is_empty;

use crate::limits::RAIDA_COUNT;

/// A 16-byte locker code or key (ASCII, NUL padded, or any 16 bytes).
pub type LockerCode = [u8; qmail_wire::limits::LOCKER_CODE_SIZE_BYTES];

/// A 16-byte AN.
pub type An = [u8; AN_SIZE_BYTES];

/// A 16-byte email GUID.
pub type Guid = [u8; GUID_SIZE_BYTES];

/// A mailbox: the coin that owns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MailboxId {
    /// Signed denomination, −8…+6.
    pub denomination: i8,
    /// Serial number.
    pub serial_number: u32,
}

impl MailboxId {
    /// A mailbox id; the denomination is checked where it is used ([`MailboxId::is_valid`]).
    pub const fn new(denomination: i8, serial_number: u32) -> Self {
        Self {
            denomination,
            serial_number,
        }
    }

    /// Whether the denomination is in −8…+6 (beacons refuse others with 40, or skip such a
    /// recipient).
    pub const fn is_valid(&self) -> bool {
        self.denomination >= DENOMINATION_MIN && self.denomination <= DENOMINATION_MAX
    }
}

impl fmt::Display for MailboxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.denomination, self.serial_number)
    }
}

/// Why an identity was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdentityError {
    /// The mailbox denomination is outside −8…+6.
    DenominationOutOfRange { denomination: i8 },
    /// A locker code is all zero (servers refuse empty lockers).
    LockerEmpty { which: &'static str },
}

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DenominationOutOfRange { denomination } => write!(
                f,
                "mailbox denomination {denomination} is outside \
                 {DENOMINATION_MIN}..={DENOMINATION_MAX}"
            ),
            Self::LockerEmpty { which } => write!(f, "the {which} locker code is empty"),
        }
    }
}

impl std::error::Error for IdentityError {}

/// The client's identity. See the module docs.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    /// The mailbox coin.
    pub mailbox: MailboxId,
    /// `ans[i]`: the coin's AN on RAIDA `i`.
    pub ans: [An; RAIDA_COUNT],
    /// Locker paying upload fees (upload body bytes 64–79).
    pub upload_locker_code: LockerCode,
    /// Locker paying recipients' inbox fees (address entry bytes 8–23).
    pub fee_locker_code: LockerCode,
}

impl Identity {
    /// An identity, checked: valid denomination, non-empty lockers.
    pub fn new(
        mailbox: MailboxId,
        ans: [An; RAIDA_COUNT],
        upload_locker_code: LockerCode,
        fee_locker_code: LockerCode,
    ) -> Result<Self, IdentityError> {
        let identity = Self {
            mailbox,
            ans,
            upload_locker_code,
            fee_locker_code,
        };
        identity.validate()?;
        Ok(identity)
    }

    /// Checks the invariants [`Identity::new`] establishes (fields are public).
    pub fn validate(&self) -> Result<(), IdentityError> {
        if !self.mailbox.is_valid() {
            return Err(IdentityError::DenominationOutOfRange {
                denomination: self.mailbox.denomination,
            });
        }
        if locker_is_empty(&self.upload_locker_code) {
            return Err(IdentityError::LockerEmpty { which: "upload" });
        }
        if locker_is_empty(&self.fee_locker_code) {
            return Err(IdentityError::LockerEmpty { which: "inbox-fee" });
        }
        Ok(())
    }

    /// The AN on RAIDA `raida_index`, or `None` for an index outside 0–24.
    pub fn an(&self, raida_index: u8) -> Option<&An> {
        self.ans.get(usize::from(raida_index))
    }
}

impl fmt::Debug for Identity {
    /// ANs and lockers are secrets: never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("mailbox", &self.mailbox)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locker(text: &str) -> LockerCode {
        qmail_wire::tell::locker_from_ascii(text).expect("ascii")
    }

    #[test]
    fn identity_checks_denomination_and_lockers() {
        let ans = [[7u8; 16]; RAIDA_COUNT];
        let ok = Identity::new(MailboxId::new(1, 5), ans, locker("UP"), locker("FEE"));
        assert!(ok.is_ok());
        assert_eq!(
            Identity::new(MailboxId::new(7, 5), ans, locker("UP"), locker("FEE")),
            Err(IdentityError::DenominationOutOfRange { denomination: 7 })
        );
        assert_eq!(
            Identity::new(MailboxId::new(-8, 5), ans, [0; 16], locker("FEE")),
            Err(IdentityError::LockerEmpty { which: "upload" })
        );
        assert_eq!(
            Identity::new(MailboxId::new(6, 5), ans, locker("UP"), [0; 16]),
            Err(IdentityError::LockerEmpty { which: "inbox-fee" })
        );
    }

    #[test]
    fn debug_hides_secrets() {
        let identity = Identity::new(
            MailboxId::new(1, 5),
            [[0xAB; 16]; RAIDA_COUNT],
            locker("SECRETUP"),
            locker("SECRETFEE"),
        )
        .expect("valid");
        let text = format!("{identity:?}");
        assert!(!text.contains("171"), "{text}");
        assert!(!text.contains("SECRET"), "{text}");
        assert_eq!(identity.an(24), Some(&[0xAB; 16]));
        assert_eq!(identity.an(25), None);
        assert_eq!(MailboxId::new(-3, 9).to_string(), "-3.9");
    }
}
