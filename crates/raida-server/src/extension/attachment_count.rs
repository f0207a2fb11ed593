//! `attachment_count`, beacon half: accepts file-header byte 59 (the reserved tail) so the
//! sender's attachment count passes through to the recipients verbatim.
//!
//! Hazard: the tell page makes bytes 59–63 "must be zero for manifest v1", so a beacon that
//! knows nothing of an extension refuses a tell using them with 198: a pass-through field is
//! only pass-through on upgraded beacons. This half claims byte 59; the tell handler then reads
//! it as zero for the field rules and stores the record untouched. The client half
//! (qmail-client `extension::attachment_count`) writes the count and checks it on receipt
//! against the manifest, catching a manifest that lost entries on the way.

use qmail_wire::extension::{Claim, ExtensionSpec};
use qmail_wire::reserved::Structure;

use super::ServerExtension;

/// The extension's name in specs, scenarios and the CLI.
pub const NAME: &str = "attachment_count";

/// The byte it claims: file header 59, the first byte of the reserved tail.
pub const CLAIM: Claim = Claim::new(Structure::FileHeader, 59, 1);

/// The beacon half; it has no state and changes nothing but acceptance.
#[derive(Debug, Default)]
pub struct AttachmentCount;

impl ServerExtension for AttachmentCount {
    fn spec(&self) -> ExtensionSpec {
        ExtensionSpec {
            name: NAME,
            claims: vec![CLAIM],
        }
    }
}
