//! Client-side protocol extensions: a protocol designer's "what if the client did X".
//!
//! An extension is a [`ClientExtension`]: it names the reserved bytes it claims (an
//! [`ExtensionSpec`] checked against qmail-wire's catalogue) and hooks the client's work:
//!
//! - [`ClientExtension::encode_tell`]: writes its claimed bytes into a tell record as the
//!   client builds it;
//! - [`ClientExtension::poll_preamble`]: writes its claimed preamble bytes into each ping/peek
//!   request (once per attempt);
//! - [`ClientExtension::received`]: reads the records a poll returned and may drop some
//!   (before the observer sees them);
//! - [`ClientExtension::after_poll`]: acts once a poll's reply arrived (it sees the reply's
//!   records as they arrived).
//!
//! A [`ClientExtensions`] set is validated once, when it is built, by
//! [`qmail_wire::extension::ClaimRegistry`]: a claim of a byte that is not reserved, or of a
//! byte another active extension claims, is a [`ClaimError`]. The empty set (the default of
//! every [`crate::client::Client`]) is the protocol as the pages describe it. The worked
//! extensions are [`delivery_ack`] and [`attachment_count`], client halves of the beacon's.
//!
//! # By name
//!
//! Each extension's name is written once, as the `NAME` constant of its module (which its
//! [`ClientExtension::spec`] returns), and listed once, in this module's registry: [`names`]
//! gives every name, [`by_name`] a fresh instance. The `qmail` profile (`[config]
//! extensions = ["delivery_ack"]`) and the simulator's scenarios turn extensions on by these
//! names. Adding an extension: its module, one registry line, and the beacon half if it has
//! one.

pub mod attachment_count;
pub mod delivery_ack;

use std::fmt;
use std::sync::Arc;

use qmail_wire::extension::{ClaimError, ClaimRegistry, ExtensionSpec};
use qmail_wire::preamble::Preamble;
use qmail_wire::tell::TellRecord;

use crate::tell_list::{Poll, ReceivedTell};

/// Builds a fresh instance of one extension.
type Build = fn() -> Arc<dyn ClientExtension>;

/// Every client extension: its name and how to build one.
const REGISTRY: [(&str, Build); 2] = [
    (delivery_ack::NAME, || {
        Arc::new(delivery_ack::DeliveryAck::new())
    }),
    (attachment_count::NAME, || {
        Arc::new(attachment_count::AttachmentCount::new())
    }),
];

/// The registry's names, in its order.
const NAMES: [&str; REGISTRY.len()] = {
    let mut names = [""; REGISTRY.len()];
    let mut index = 0;
    while index < REGISTRY.len() {
        names[index] = REGISTRY[index].0;
        index += 1;
    }
    names
};

/// The name of every client extension, in registry order.
pub fn names() -> &'static [&'static str] {
    &NAMES
}

/// A fresh instance of the extension called `name` (its state starts empty), or `None` for a
/// name no extension has.
pub fn by_name(name: &str) -> Option<Arc<dyn ClientExtension>> {
    REGISTRY
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, build)| build())
}

/// A client-side protocol extension. Every hook has a default that leaves the base protocol
/// unchanged, so an extension implements only what it changes.
pub trait ClientExtension: Send + Sync + fmt::Debug {
    /// Its name and the reserved bytes it claims.
    fn spec(&self) -> ExtensionSpec;

    /// Writes the claimed bytes of a tell record being built.
    fn encode_tell(&self, _record: &mut TellRecord) {}

    /// Writes the claimed bytes of the preamble of one ping/peek attempt to `beacon`.
    fn poll_preamble(&self, _beacon: u8, _preamble: &mut Preamble) {}

    /// Reads the records a poll returned; returns those to hand on.
    fn received(&self, _beacon: u8, tells: Vec<ReceivedTell>) -> Vec<ReceivedTell> {
        tells
    }

    /// Called once a poll's reply arrived, with its records as they arrived (before any
    /// extension's [`ClientExtension::received`] dropped some).
    fn after_poll(&self, _beacon: u8, _poll: &Poll) {}
}

/// The active extensions of one client, in hook order, known to coexist.
#[derive(Clone, Default)]
pub struct ClientExtensions {
    list: Vec<Arc<dyn ClientExtension>>,
}

impl fmt::Debug for ClientExtensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl ClientExtensions {
    /// No extension: the unchanged protocol.
    pub fn none() -> ClientExtensions {
        ClientExtensions::default()
    }

    /// The set, after checking every claim against the reserved-byte catalogue and against
    /// each other.
    pub fn new(list: Vec<Arc<dyn ClientExtension>>) -> Result<ClientExtensions, ClaimError> {
        let specs: Vec<ExtensionSpec> = list.iter().map(|extension| extension.spec()).collect();
        ClaimRegistry::new(&specs)?;
        Ok(ClientExtensions { list })
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The names, in hook order.
    pub fn names(&self) -> Vec<&'static str> {
        self.list
            .iter()
            .map(|extension| extension.spec().name)
            .collect()
    }

    /// [`ClientExtension::encode_tell`] of every extension.
    pub fn encode_tell(&self, record: &mut TellRecord) {
        for extension in &self.list {
            extension.encode_tell(record);
        }
    }

    /// [`ClientExtension::poll_preamble`] of every extension.
    pub fn poll_preamble(&self, beacon: u8, preamble: &mut Preamble) {
        for extension in &self.list {
            extension.poll_preamble(beacon, preamble);
        }
    }

    /// [`ClientExtension::received`] of every extension, in order.
    pub fn received(&self, beacon: u8, tells: Vec<ReceivedTell>) -> Vec<ReceivedTell> {
        self.list
            .iter()
            .fold(tells, |tells, extension| extension.received(beacon, tells))
    }

    /// [`ClientExtension::after_poll`] of every extension.
    pub fn after_poll(&self, beacon: u8, poll: &Poll) {
        for extension in &self.list {
            extension.after_poll(beacon, poll);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qmail_wire::extension::Claim;
    use qmail_wire::reserved::Structure;

    #[derive(Debug)]
    struct Claims(&'static str, Claim);

    impl ClientExtension for Claims {
        fn spec(&self) -> ExtensionSpec {
            ExtensionSpec {
                name: self.0,
                claims: vec![self.1],
            }
        }
    }

    #[test]
    fn claims_are_checked_when_the_set_is_built() {
        let stray: Vec<Arc<dyn ClientExtension>> = vec![Arc::new(Claims(
            "stray",
            Claim::new(Structure::Preamble, 30, 1),
        ))];
        let error = ClientExtensions::new(stray).expect_err("30 is the serial number");
        assert!(matches!(error, ClaimError::NotReserved { .. }), "{error}");
        let twice: Vec<Arc<dyn ClientExtension>> = vec![
            Arc::new(delivery_ack::DeliveryAck::new()),
            Arc::new(Claims("other", delivery_ack::CLAIM)),
        ];
        let error = ClientExtensions::new(twice).expect_err("byte 31 twice");
        assert!(error.to_string().contains("delivery_ack"), "{error}");
        assert!(ClientExtensions::none().is_empty());
    }

    #[test]
    fn the_registry_names_each_extension_once_and_builds_it() {
        let names = names();
        assert_eq!(names, ["delivery_ack", "attachment_count"]);
        let mut all = Vec::new();
        for name in names {
            let extension = by_name(name).expect("registered");
            assert_eq!(extension.spec().name, *name, "NAME and spec agree");
            assert_eq!(names.iter().filter(|other| *other == name).count(), 1);
            all.push(extension);
        }
        assert!(by_name("nope").is_none());
        // Every registered extension coexists with every other.
        let set = ClientExtensions::new(all).expect("claims are disjoint");
        assert_eq!(set.names(), names);
    }
}
