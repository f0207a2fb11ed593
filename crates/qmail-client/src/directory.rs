//! Where the 25 RAIDAs are, and which RAIDA is each mailbox's beacon.
//!
//! A directory lists one TCP address per RAIDA index 0–24. Addresses must be IPv4: the tell's
//! server-location entries carry storage RAIDAs as IPv4-mapped addresses (tell page 002), so a
//! sender could not announce a stripe stored at an IPv6 address.
//!
//! The beacon of a mailbox is agreed in advance between the mailbox owner and its senders
//! (page 001). The directory keeps an explicit map (from the profile file, or set by the
//! simulator) and falls back to a default rule for mailboxes it does not list:
//! [`BeaconRule::SerialModulo`] (`serial_number mod 25`, the default) or
//! [`BeaconRule::Fixed`] (every unlisted mailbox on one RAIDA).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{SocketAddr, SocketAddrV4};

use crate::identity::MailboxId;
use crate::limits::RAIDA_COUNT;

/// How the beacon of a mailbox absent from the explicit map is chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum BeaconRule {
    /// `serial_number mod 25` (default).
    #[default]
    SerialModulo,
    /// Always this RAIDA index.
    Fixed(u8),
}

impl BeaconRule {
    /// The beacon this rule gives `mailbox`.
    pub fn beacon_of(self, mailbox: MailboxId) -> u8 {
        match self {
            // The remainder is < 25, so the cast is exact.
            BeaconRule::SerialModulo => (mailbox.serial_number % RAIDA_COUNT as u32) as u8,
            BeaconRule::Fixed(raida_index) => raida_index,
        }
    }
}

/// Why a directory was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirectoryError {
    /// Not exactly 25 addresses.
    RaidaCount { count: usize },
    /// An address is not IPv4.
    NotIpv4 {
        raida_index: usize,
        addr: SocketAddr,
    },
    /// A beacon index outside 0–24.
    BeaconOutOfRange { raida_index: u8 },
}

impl fmt::Display for DirectoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RaidaCount { count } => {
                write!(f, "expected {RAIDA_COUNT} RAIDA addresses, found {count}")
            }
            Self::NotIpv4 { raida_index, addr } => write!(
                f,
                "RAIDA {raida_index} address {addr} is not IPv4 (tell server entries carry \
                 IPv4-mapped addresses only)"
            ),
            Self::BeaconOutOfRange { raida_index } => {
                write!(f, "beacon RAIDA {raida_index} is outside 0..{RAIDA_COUNT}")
            }
        }
    }
}

impl std::error::Error for DirectoryError {}

/// The RAIDA directory. See the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directory {
    raidas: Vec<SocketAddrV4>,
    beacons: BTreeMap<MailboxId, u8>,
    default_rule: BeaconRule,
}

impl Directory {
    /// A directory of exactly 25 IPv4 addresses, index = RAIDA id, with no explicit beacons
    /// and the default rule.
    pub fn new(raidas: Vec<SocketAddr>) -> Result<Self, DirectoryError> {
        if raidas.len() != RAIDA_COUNT {
            return Err(DirectoryError::RaidaCount {
                count: raidas.len(),
            });
        }
        let mut v4 = Vec::with_capacity(RAIDA_COUNT);
        for (raida_index, addr) in raidas.into_iter().enumerate() {
            match addr {
                SocketAddr::V4(addr) => v4.push(addr),
                SocketAddr::V6(_) => return Err(DirectoryError::NotIpv4 { raida_index, addr }),
            }
        }
        assert_eq!(v4.len(), RAIDA_COUNT);
        Ok(Self {
            raidas: v4,
            beacons: BTreeMap::new(),
            default_rule: BeaconRule::default(),
        })
    }

    /// Sets the beacon of one mailbox.
    pub fn set_beacon(
        &mut self,
        mailbox: MailboxId,
        raida_index: u8,
    ) -> Result<(), DirectoryError> {
        check_raida_index(raida_index)?;
        self.beacons.insert(mailbox, raida_index);
        Ok(())
    }

    /// Sets the rule for mailboxes without an explicit beacon.
    pub fn set_default_rule(&mut self, rule: BeaconRule) -> Result<(), DirectoryError> {
        if let BeaconRule::Fixed(raida_index) = rule {
            check_raida_index(raida_index)?;
        }
        self.default_rule = rule;
        Ok(())
    }

    /// The rule for mailboxes without an explicit beacon.
    pub fn default_rule(&self) -> BeaconRule {
        self.default_rule
    }

    /// The explicit beacon map.
    pub fn beacons(&self) -> &BTreeMap<MailboxId, u8> {
        &self.beacons
    }

    /// The beacon RAIDA of `mailbox`: its explicit entry, else the default rule.
    pub fn beacon_of(&self, mailbox: MailboxId) -> u8 {
        let beacon = self
            .beacons
            .get(&mailbox)
            .copied()
            .unwrap_or_else(|| self.default_rule.beacon_of(mailbox));
        assert!(usize::from(beacon) < RAIDA_COUNT);
        beacon
    }

    /// The address of RAIDA `raida_index`, or `None` outside 0–24.
    pub fn addr(&self, raida_index: u8) -> Option<SocketAddr> {
        self.addr_v4(raida_index).map(SocketAddr::V4)
    }

    /// The IPv4 address of RAIDA `raida_index`, or `None` outside 0–24.
    pub fn addr_v4(&self, raida_index: u8) -> Option<SocketAddrV4> {
        self.raidas.get(usize::from(raida_index)).copied()
    }

    /// All 25 addresses, by RAIDA index.
    pub fn raidas(&self) -> &[SocketAddrV4] {
        &self.raidas
    }
}

fn check_raida_index(raida_index: u8) -> Result<(), DirectoryError> {
    if usize::from(raida_index) < RAIDA_COUNT {
        Ok(())
    } else {
        Err(DirectoryError::BeaconOutOfRange { raida_index })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> Vec<SocketAddr> {
        (0..RAIDA_COUNT as u16)
            .map(|i| SocketAddr::from(([127, 0, 0, 1], 20_000 + i)))
            .collect()
    }

    #[test]
    fn needs_25_ipv4_addresses() {
        assert!(Directory::new(addrs()).is_ok());
        assert_eq!(
            Directory::new(addrs()[..24].to_vec()),
            Err(DirectoryError::RaidaCount { count: 24 })
        );
        let mut with_v6 = addrs();
        with_v6[3] = "[::1]:80".parse().expect("addr");
        assert!(matches!(
            Directory::new(with_v6),
            Err(DirectoryError::NotIpv4 { raida_index: 3, .. })
        ));
    }

    #[test]
    fn beacon_map_then_default_rule() {
        let mut directory = Directory::new(addrs()).expect("valid");
        assert_eq!(directory.beacon_of(MailboxId::new(1, 53)), 3);
        directory
            .set_beacon(MailboxId::new(1, 53), 17)
            .expect("in range");
        assert_eq!(directory.beacon_of(MailboxId::new(1, 53)), 17);
        assert_eq!(directory.beacon_of(MailboxId::new(2, 53)), 3);
        directory
            .set_default_rule(BeaconRule::Fixed(9))
            .expect("in range");
        assert_eq!(directory.beacon_of(MailboxId::new(2, 53)), 9);
        assert_eq!(
            directory.set_beacon(MailboxId::new(1, 1), 25),
            Err(DirectoryError::BeaconOutOfRange { raida_index: 25 })
        );
        assert!(directory.set_default_rule(BeaconRule::Fixed(30)).is_err());
        assert_eq!(
            directory.addr(24),
            Some(SocketAddr::from(([127, 0, 0, 1], 20_024)))
        );
        assert_eq!(directory.addr(25), None);
    }
}
