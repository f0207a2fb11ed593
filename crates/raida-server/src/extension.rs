//! Server-side protocol extensions: a protocol designer's "what if the beacon did X".
//!
//! An extension is a [`ServerExtension`]: it names the reserved bytes it claims (an
//! [`ExtensionSpec`] checked against qmail-wire's catalogue) and hooks three points of the
//! beacon's work:
//!
//! 1. [`ServerExtension::before_publish`]: a tell's record is about to be published into one
//!    recipient's inbox (after the field rules, before the atomic publish and its edit_sequence
//!    guard). The extension may refuse that recipient.
//! 2. [`ServerExtension::resend`] and [`ServerExtension::on_read`]: a ping/peek reply is being
//!    built. `resend` may answer the poll with records of its own instead of scanning the
//!    inbox (nothing is deleted then); `on_read` sees every record a reply carries.
//! 3. [`ServerExtension::after_reply_written`]: the reply of a poll was written
//!    (`delete_on_read = after_reply`, just before the deferred delete).
//!
//! An extension that remembers something across polls keeps it durable through three more
//! methods: [`ServerExtension::state_generation`] (bumped by every change),
//! [`ServerExtension::state`] (a snapshot) and [`ServerExtension::restore_state`]. The server
//! writes a changed snapshot atomically to `{data}/state/extensions/{name}.state` before the
//! reply of the poll that changed it goes out ([`Extensions::persist`]) and restores it at
//! start ([`Extensions::restore`]), so a restarted beacon remembers what it held.
//!
//! An [`Extensions`] set is validated once, at start-up, by
//! [`qmail_wire::extension::ClaimRegistry`]: a claim of a byte that is not reserved, or of a
//! byte another active extension claims, is a [`ClaimError`]. The empty set (the default of
//! every [`crate::env::Env`]) is the protocol as the pages describe it. Worked extensions live
//! in [`replay_guard`], [`delivery_ack`] and [`attachment_count`].
//!
//! Each worked extension's name is written once, as its module's `NAME` (the name its spec
//! gives). The registry here lists the modules: [`NAMES`] and [`by_name`] (a fresh instance,
//! as `raida serve --extension NAME` makes one per server) come from it. In this crate, adding
//! an extension is its module and its line in the registry.

pub mod attachment_count;
pub mod delivery_ack;
pub mod replay_guard;

use std::fmt;
use std::sync::Arc;

use qmail_wire::codec::Codec;
use qmail_wire::extension::{Claim, ClaimError, ClaimRegistry, ExtensionSpec};
use qmail_wire::reserved::Structure;
use qmail_wire::tell::FileHeader;

use crate::store::inbox::InboxItem;
use crate::store::state::{extension_name_is_valid, StateStore};
use crate::store::{Guid, StoreError};
use crate::watch::MailboxId;

/// A constructor of a fresh extension instance.
type Make = fn() -> Arc<dyn ServerExtension>;

/// Every worked extension: its name (the module's `NAME`) and its constructor.
const REGISTRY: [(&str, Make); 3] = [
    (replay_guard::NAME, || {
        Arc::new(replay_guard::ReplayGuard::new())
    }),
    (delivery_ack::NAME, || {
        Arc::new(delivery_ack::DeliveryAck::new())
    }),
    (attachment_count::NAME, || {
        Arc::new(attachment_count::AttachmentCount)
    }),
];

/// The names of the worked extensions, in registry order.
pub const NAMES: [&str; REGISTRY.len()] = {
    let mut names = [""; REGISTRY.len()];
    let mut index = 0;
    while index < REGISTRY.len() {
        names[index] = REGISTRY[index].0;
        index += 1;
    }
    names
};

/// The names of the worked extensions (as [`NAMES`]).
pub fn names() -> &'static [&'static str] {
    &NAMES
}

/// A fresh instance of the worked extension `name`; `None` for a name not in [`NAMES`].
pub fn by_name(name: &str) -> Option<Arc<dyn ServerExtension>> {
    REGISTRY
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, make)| make())
}

/// One tell record about to be published into one recipient's inbox.
#[derive(Clone, Copy, Debug)]
pub struct PublishContext<'a> {
    /// This RAIDA.
    pub raida_id: u8,
    /// The recipient's mailbox.
    pub mailbox: MailboxId,
    /// The email.
    pub guid: Guid,
    /// The record's edit_sequence (file header byte 57).
    pub edit_sequence: u8,
    /// The record as it will be stored.
    pub record: &'a [u8],
}

/// What an extension decides about one recipient of a tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublishVerdict {
    /// Go on (the next extension, then the publish).
    Publish,
    /// Skip this recipient; the tell counts no delivery for it.
    Refuse,
}

/// One ping or peek of one mailbox.
#[derive(Clone, Copy, Debug)]
pub struct PollContext {
    /// This RAIDA.
    pub raida_id: u8,
    /// The polled mailbox.
    pub mailbox: MailboxId,
    /// Preamble byte 31 of the poll; `None` for the rescan of a parked ping (the poll's
    /// preamble was already seen by [`ServerExtension::resend`]).
    pub preamble_byte_31: Option<u8>,
}

/// A beacon-side protocol extension. Every hook has a default that leaves the base protocol
/// unchanged, so an extension implements only what it changes.
pub trait ServerExtension: Send + Sync + fmt::Debug {
    /// Its name and the reserved bytes it claims.
    fn spec(&self) -> ExtensionSpec;

    /// Called before each recipient's publish.
    fn before_publish(&self, _publish: &PublishContext<'_>) -> PublishVerdict {
        PublishVerdict::Publish
    }

    /// Called when a poll arrives, before the inbox is scanned: `Some(records)` answers the
    /// poll with these records (they must fit one reply) and leaves the inbox untouched.
    fn resend(&self, _poll: &PollContext) -> Option<Vec<InboxItem>> {
        None
    }

    /// Called with every record a ping/peek reply carries, once the reply is built.
    fn on_read(&self, _poll: &PollContext, _items: &[InboxItem]) {}

    /// Called once a reply with records was written (`delete_on_read = after_reply`).
    fn after_reply_written(&self, _raida_id: u8, _mailbox: MailboxId, _items: &[InboxItem]) {}

    /// A number that rises with every change of the state worth keeping across restarts
    /// (0, the default: nothing to keep). Read before [`ServerExtension::state`].
    fn state_generation(&self) -> u64 {
        0
    }

    /// A snapshot of the state worth keeping (called only when the generation rose).
    fn state(&self) -> Vec<u8> {
        Vec::new()
    }

    /// Restores a snapshot [`ServerExtension::state`] wrote, at start before any request;
    /// an error (bytes it cannot read) stops the server, naming the file.
    fn restore_state(&self, _bytes: &[u8]) -> Result<(), String> {
        Ok(())
    }
}

/// The active extensions of one server, in hook order, known to coexist.
#[derive(Clone, Default)]
pub struct Extensions {
    list: Vec<Arc<dyn ServerExtension>>,
}

impl fmt::Debug for Extensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Extensions {
    /// No extension: the unchanged protocol.
    pub fn none() -> Extensions {
        Extensions::default()
    }

    /// The set, after checking every claim against the reserved-byte catalogue and against
    /// each other.
    pub fn new(list: Vec<Arc<dyn ServerExtension>>) -> Result<Extensions, ClaimError> {
        let specs: Vec<ExtensionSpec> = list.iter().map(|extension| extension.spec()).collect();
        ClaimRegistry::new(&specs)?;
        Ok(Extensions { list })
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

    /// Every claim of `structure` by an active extension.
    pub fn claims_of(&self, structure: Structure) -> Vec<Claim> {
        self.list
            .iter()
            .flat_map(|extension| extension.spec().claims)
            .filter(|claim| claim.structure == structure)
            .collect()
    }

    /// The file header as the base protocol's field rules should judge it: every byte an
    /// active extension claims is read as zero (an upgraded beacon accepts its extensions'
    /// bytes; the page makes every other beacon refuse a nonzero tail with 198).
    pub fn unclaimed_file_header(&self, header: &FileHeader) -> FileHeader {
        let claims = self.claims_of(Structure::FileHeader);
        if claims.is_empty() {
            return *header;
        }
        let mut bytes = header.to_bytes();
        for claim in claims {
            claim.write(&mut bytes, &vec![0; claim.size_bytes]);
        }
        FileHeader::from_bytes(&bytes).expect("zeroing reserved bytes keeps a header decodable")
    }

    /// [`ServerExtension::before_publish`] of every extension; the first refusal wins.
    pub fn before_publish(&self, publish: &PublishContext<'_>) -> PublishVerdict {
        let refused = self
            .list
            .iter()
            .any(|extension| extension.before_publish(publish) == PublishVerdict::Refuse);
        if refused {
            PublishVerdict::Refuse
        } else {
            PublishVerdict::Publish
        }
    }

    /// [`ServerExtension::resend`] of every extension (each sees the poll); the first
    /// `Some` answers it.
    pub fn resend(&self, poll: &PollContext) -> Option<Vec<InboxItem>> {
        let mut answer = None;
        for extension in &self.list {
            let resent = extension.resend(poll);
            if answer.is_none() {
                answer = resent;
            }
        }
        answer
    }

    /// [`ServerExtension::on_read`] of every extension.
    pub fn on_read(&self, poll: &PollContext, items: &[InboxItem]) {
        for extension in &self.list {
            extension.on_read(poll, items);
        }
    }

    /// [`ServerExtension::after_reply_written`] of every extension.
    pub fn after_reply_written(&self, raida_id: u8, mailbox: MailboxId, items: &[InboxItem]) {
        for extension in &self.list {
            extension.after_reply_written(raida_id, mailbox, items);
        }
    }

    /// Writes each extension's state whose generation rose since it was last made durable.
    pub async fn persist(&self, state: &StateStore) -> Result<(), StoreError> {
        for extension in &self.list {
            let name = extension.spec().name;
            state
                .persist_extension(name, || extension.state_generation(), || extension.state())
                .await?;
        }
        Ok(())
    }

    /// Restores each extension's saved state, if it has a file; how many had one.
    pub async fn restore(&self, state: &StateStore) -> Result<usize, StoreError> {
        let mut restored_count = 0;
        for extension in &self.list {
            let name = extension.spec().name;
            // A name no state file can carry never had one written.
            if !extension_name_is_valid(name) {
                continue;
            }
            let Some(bytes) = state.load_extension(name).await? else {
                continue;
            };
            extension
                .restore_state(&bytes)
                .map_err(|reason| StoreError::CorruptState {
                    path: state.extension_path(name),
                    reason,
                })?;
            state
                .extension_loaded(name, extension.state_generation())
                .await;
            restored_count += 1;
        }
        Ok(restored_count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qmail_wire::extension::Claim;
    use qmail_wire::reserved::Structure;

    #[derive(Debug)]
    struct Claims(&'static str, Claim);

    #[test]
    fn claimed_file_header_bytes_read_as_zero_for_the_field_rules() {
        let header = FileHeader {
            reserved: [7, 0, 0, 0, 9],
            ..FileHeader::default()
        };
        assert_eq!(Extensions::none().unclaimed_file_header(&header), header);
        let extensions =
            Extensions::new(vec![Arc::new(attachment_count::AttachmentCount)]).expect("ok");
        let judged = extensions.unclaimed_file_header(&header);
        assert_eq!(judged.reserved, [0, 0, 0, 0, 9], "only byte 59 is claimed");
    }

    impl ServerExtension for Claims {
        fn spec(&self) -> ExtensionSpec {
            ExtensionSpec {
                name: self.0,
                claims: vec![self.1],
            }
        }
    }

    fn set(list: Vec<Claims>) -> Result<Extensions, ClaimError> {
        Extensions::new(
            list.into_iter()
                .map(|claims| Arc::new(claims) as Arc<dyn ServerExtension>)
                .collect(),
        )
    }

    #[test]
    fn a_claim_outside_the_reserved_bytes_is_refused_at_start_up() {
        // File header 57 is edit_sequence: defined, not reserved.
        let error = set(vec![Claims(
            "stray",
            Claim::new(Structure::FileHeader, 57, 1),
        )])
        .expect_err("57 is not reserved");
        assert!(matches!(error, ClaimError::NotReserved { .. }));
        let text = error.to_string();
        assert!(
            text.contains("stray") && text.contains("not wholly inside"),
            "{text}"
        );
    }

    #[test]
    fn a_byte_claimed_twice_is_refused_at_start_up() {
        let error = set(vec![
            Claims("first", Claim::new(Structure::Preamble, 31, 1)),
            Claims("second", Claim::new(Structure::Preamble, 31, 1)),
        ])
        .expect_err("byte 31 twice");
        assert!(matches!(error, ClaimError::DoublyClaimed { .. }));
        let text = error.to_string();
        assert!(text.contains("first") && text.contains("second"), "{text}");
    }

    #[test]
    fn the_registry_makes_each_extension_under_the_name_its_spec_gives() {
        assert_eq!(NAMES, ["replay_guard", "delivery_ack", "attachment_count"]);
        for name in names() {
            let extension = by_name(name).expect("registered");
            assert_eq!(extension.spec().name, *name);
        }
        assert!(by_name("teleport").is_none());
        let every: Vec<Arc<dyn ServerExtension>> =
            NAMES.iter().filter_map(|n| by_name(n)).collect();
        let extensions = Extensions::new(every).expect("the worked extensions coexist");
        assert_eq!(extensions.names(), NAMES.to_vec());
    }

    #[test]
    fn the_worked_extensions_coexist() {
        let extensions = Extensions::new(vec![
            Arc::new(replay_guard::ReplayGuard::new()),
            Arc::new(delivery_ack::DeliveryAck::new()),
        ])
        .expect("disjoint claims");
        assert_eq!(extensions.names(), vec!["replay_guard", "delivery_ack"]);
        assert!(Extensions::none().is_empty());
    }
}
