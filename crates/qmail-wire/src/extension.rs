//! The claim registry: which protocol extension owns which reserved bytes.
//!
//! The pages leave reserved bytes in several structures "for future use" (page 001's
//! catalogue, the tell page 002's "Multiple reserved regions"); [`crate::reserved`] lists them
//! as data. An extension (a protocol designer's experiment: a flag in the file header, a
//! per-recipient tag in the address entry, a Reed–Solomon parity count, …) puts its bytes
//! there. Two extensions that pick the same byte, or one that strays into a defined field, break
//! each other or the base protocol silently; this module turns both into start-up errors.
//!
//! # How an extension uses it
//!
//! 1. Declare what it needs as an [`ExtensionSpec`]: a name and a list of [`Claim`]s, each a
//!    byte range of one [`Structure`], offsets from the start of the structure exactly as
//!    [`crate::reserved::RESERVED_FIELDS`] gives them (e.g. file header 59–63).
//! 2. At start-up, build one [`ClaimRegistry`] from every active extension's spec with
//!    [`ClaimRegistry::new`]. It refuses a claim that is empty, that does not lie wholly inside
//!    one reserved field ([`ClaimError::NotReserved`] names the nearest field), or that shares a
//!    byte with an earlier claim ([`ClaimError::DoublyClaimed`]). A program with a registry in
//!    hand knows its extensions coexist. [`Claim::field`] tells the extension the claimed
//!    field's [`crate::reserved::Scope`], i.e. who will see its bytes (a pass-through field
//!    reaches the recipient; a beacon-local one stops at the beacon).
//! 3. Encode as usual (`to_bytes()`), then [`Claim::write`] the extension's value into the
//!    claimed range of those bytes. Decoders need no change: qmail-wire keeps every reserved
//!    byte of every structure and re-encodes it untouched, so the receiving side decodes the
//!    structure as usual and [`Claim::read`]s the range from its bytes (or from the struct's
//!    `to_bytes()`, which is the same).
//! 4. [`ClaimRegistry::owner_of`] answers "whose byte is this?" for logs and traces.
//!
//! The registry only checks placement; what the bytes mean, and what an old peer that writes
//! zeros there means, is the extension's business.

use std::fmt;
use std::ops::Range;

use crate::reserved::{field_containing, fields_of, ReservedField, Structure};

/// A byte range of one wire structure that an extension wants for itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Claim {
    /// The structure the bytes live in.
    pub structure: Structure,
    /// Offset of the first claimed byte from the start of the structure, as
    /// [`crate::reserved::RESERVED_FIELDS`] counts it.
    pub offset: usize,
    /// Number of claimed bytes; must be at least 1.
    pub size_bytes: usize,
}

impl Claim {
    /// A claim of `size_bytes` bytes of `structure` from `offset` (not checked until a
    /// [`ClaimRegistry`] is built).
    pub const fn new(structure: Structure, offset: usize, size_bytes: usize) -> Self {
        Self {
            structure,
            offset,
            size_bytes,
        }
    }

    /// The claimed byte range within the structure. Saturates rather than overflows, so an
    /// absurd claim yields a range that no reserved field contains.
    pub const fn range(&self) -> Range<usize> {
        self.offset..self.offset.saturating_add(self.size_bytes)
    }

    /// The reserved field that wholly contains this claim, if any.
    pub fn field(&self) -> Option<&'static ReservedField> {
        // `ReservedField::contains` adds offset and size unchecked; an end past usize::MAX is
        // in no field anyway.
        self.offset.checked_add(self.size_bytes)?;
        field_containing(self.structure, self.offset, self.size_bytes)
    }

    /// The claimed bytes of an encoded `structure` (its `to_bytes()`, or the same bytes as
    /// received).
    ///
    /// # Panics
    ///
    /// When `encoded` is not exactly `structure.size_bytes()` long, or the claim does not lie
    /// inside the structure: both are caller bugs (a checked claim applied to the wrong bytes).
    pub fn read<'a>(&self, encoded: &'a [u8]) -> &'a [u8] {
        self.assert_fits(encoded.len());
        let claimed = &encoded[self.range()];
        assert_eq!(claimed.len(), self.size_bytes);
        claimed
    }

    /// Writes `value` into the claimed bytes of an encoded `structure`, leaving every other
    /// byte as it was.
    ///
    /// # Panics
    ///
    /// As [`Claim::read`], and when `value` is not exactly `size_bytes` long.
    pub fn write(&self, encoded: &mut [u8], value: &[u8]) {
        self.assert_fits(encoded.len());
        assert_eq!(
            value.len(),
            self.size_bytes,
            "a claim of {} bytes written with {} bytes",
            self.size_bytes,
            value.len()
        );
        encoded[self.range()].copy_from_slice(value);
        assert_eq!(&encoded[self.range()], value);
    }

    fn assert_fits(&self, encoded_size_bytes: usize) {
        let structure_size_bytes = self.structure.size_bytes();
        assert_eq!(
            encoded_size_bytes, structure_size_bytes,
            "{:?} is {structure_size_bytes} bytes, given {encoded_size_bytes}",
            self.structure
        );
        assert!(
            self.size_bytes > 0 && self.range().end <= structure_size_bytes,
            "{self:?} does not lie inside {:?}",
            self.structure
        );
    }
}

/// Everything one extension claims, under a name that errors and logs use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtensionSpec {
    /// The extension's name; unique within a registry.
    pub name: &'static str,
    /// The byte ranges it writes and reads.
    pub claims: Vec<Claim>,
}

/// An extension in a [`ClaimRegistry`]: its index in the specs the registry was built from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExtensionId(usize);

impl ExtensionId {
    /// Index of the extension's spec in the slice given to [`ClaimRegistry::new`].
    pub const fn index(self) -> usize {
        self.0
    }
}

/// Why a set of extension specs cannot all be active at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimError {
    /// A claim of zero bytes: a spec bug that would otherwise pass every other check.
    Empty {
        extension: &'static str,
        structure: Structure,
        offset: usize,
    },
    /// The claimed range is not wholly inside one reserved field: it touches a defined field,
    /// straddles a reserved field's edge, or runs past the structure.
    NotReserved {
        extension: &'static str,
        structure: Structure,
        offset: usize,
        size_bytes: usize,
    },
    /// A byte claimed by two extensions (or twice by one). `first` is the earlier spec, `range`
    /// the bytes both claim.
    DoublyClaimed {
        first: &'static str,
        second: &'static str,
        structure: Structure,
        range: Range<usize>,
    },
    /// Two specs share a name, so errors and [`ClaimRegistry::id`] could not tell them apart.
    DuplicateName { name: &'static str },
}

impl ClaimError {
    /// For [`ClaimError::NotReserved`]: the reserved field of the same structure closest to
    /// the claimed range (the first of equally close ones), the one the extension most likely
    /// meant.
    pub fn nearest_field(&self) -> Option<&'static ReservedField> {
        match self {
            Self::NotReserved {
                structure,
                offset,
                size_bytes,
                ..
            } => nearest_field(*structure, *offset, *size_bytes),
            _ => None,
        }
    }
}

/// The reserved field of `structure` at the smallest distance from `offset..offset + size`
/// (0 when they overlap).
fn nearest_field(
    structure: Structure,
    offset: usize,
    size_bytes: usize,
) -> Option<&'static ReservedField> {
    let end = offset.saturating_add(size_bytes);
    fields_of(structure).min_by_key(|field| {
        let range = field.range();
        if end <= range.start {
            range.start - end
        } else {
            offset.saturating_sub(range.end)
        }
    })
}

/// Writes `start..end` as inclusive byte numbers, "59–63", or "59" for one byte.
fn write_bytes(f: &mut fmt::Formatter<'_>, range: &Range<usize>) -> fmt::Result {
    match range.end.checked_sub(1) {
        Some(last) if last > range.start => write!(f, "bytes {}–{last}", range.start),
        _ => write!(f, "byte {}", range.start),
    }
}

/// A byte count with its unit, singular or plural.
struct Bytes(usize);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            1 => write!(f, "1 byte"),
            count => write!(f, "{count} bytes"),
        }
    }
}

impl fmt::Display for ClaimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty {
                extension,
                structure,
                offset,
            } => write!(
                f,
                "extension `{extension}` claims zero bytes at {structure:?} offset {offset}"
            ),
            Self::NotReserved {
                extension,
                structure,
                offset,
                size_bytes,
            } => {
                write!(f, "extension `{extension}` claims {structure:?} ")?;
                write_bytes(f, &(*offset..offset.saturating_add(*size_bytes)))?;
                write!(
                    f,
                    " ({}), which is not wholly inside one reserved field",
                    Bytes(*size_bytes)
                )?;
                match self.nearest_field() {
                    Some(field) => {
                        write!(f, "; the nearest is {structure:?}.{} at ", field.name)?;
                        write_bytes(f, &field.range())?;
                        write!(f, " ({})", Bytes(field.size_bytes))
                    }
                    None => write!(f, "; {structure:?} has no reserved field"),
                }
            }
            Self::DoublyClaimed {
                first,
                second,
                structure,
                range,
            } => {
                write!(f, "{structure:?} ")?;
                write_bytes(f, range)?;
                if first == second {
                    write!(f, " claimed twice by extension `{first}`")
                } else {
                    write!(f, " claimed by both `{first}` and `{second}`")
                }
            }
            Self::DuplicateName { name } => {
                write!(f, "two extensions are named `{name}`")
            }
        }
    }
}

impl std::error::Error for ClaimError {}

/// The checked claims of every active extension: no claim is empty, each lies inside one
/// reserved field, and no byte has two owners.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClaimRegistry {
    specs: Vec<ExtensionSpec>,
    /// Every claim with its owner, in spec order then claim order.
    claims: Vec<(Claim, ExtensionId)>,
}

impl ClaimRegistry {
    /// Checks `specs` against the reserved-byte catalogue and against each other.
    ///
    /// Errors are reported for the first offending claim in spec order, then claim order; a
    /// doubly claimed byte names the earlier spec as `first`.
    pub fn new(specs: &[ExtensionSpec]) -> Result<Self, ClaimError> {
        for (index, spec) in specs.iter().enumerate() {
            if specs[..index].iter().any(|other| other.name == spec.name) {
                return Err(ClaimError::DuplicateName { name: spec.name });
            }
        }
        let mut claims: Vec<(Claim, ExtensionId)> = Vec::new();
        for (index, spec) in specs.iter().enumerate() {
            for claim in &spec.claims {
                check_placement(spec.name, claim)?;
                if let Some((earlier, owner)) = claims.iter().find(|(earlier, _)| {
                    earlier.structure == claim.structure && overlap(earlier, claim).is_some()
                }) {
                    return Err(ClaimError::DoublyClaimed {
                        first: specs[owner.index()].name,
                        second: spec.name,
                        structure: claim.structure,
                        range: overlap(earlier, claim).unwrap_or_default(),
                    });
                }
                claims.push((*claim, ExtensionId(index)));
            }
        }
        let registry = Self {
            specs: specs.to_vec(),
            claims,
        };
        registry.assert_invariants();
        Ok(registry)
    }

    /// The extension that claimed byte `offset` of `structure`, if any.
    pub fn owner_of(&self, structure: Structure, offset: usize) -> Option<ExtensionId> {
        self.claims
            .iter()
            .find(|(claim, _)| claim.structure == structure && claim.range().contains(&offset))
            .map(|(_, owner)| *owner)
    }

    /// The extension named `name`, if active.
    pub fn id(&self, name: &str) -> Option<ExtensionId> {
        self.specs
            .iter()
            .position(|spec| spec.name == name)
            .map(ExtensionId)
    }

    /// The spec of an extension of this registry.
    ///
    /// # Panics
    ///
    /// When `id` comes from another registry with more extensions (a caller bug).
    pub fn spec(&self, id: ExtensionId) -> &ExtensionSpec {
        &self.specs[id.index()]
    }

    /// The name of an extension of this registry (panics as [`ClaimRegistry::spec`]).
    pub fn name(&self, id: ExtensionId) -> &'static str {
        self.spec(id).name
    }

    /// Every active extension's spec, in the order given.
    pub fn specs(&self) -> &[ExtensionSpec] {
        &self.specs
    }

    /// Every claim with its owner, in spec order then claim order.
    pub fn claims(&self) -> impl Iterator<Item = (ExtensionId, &Claim)> + '_ {
        self.claims.iter().map(|(claim, owner)| (*owner, claim))
    }

    fn assert_invariants(&self) {
        for (index, (claim, owner)) in self.claims.iter().enumerate() {
            assert!(owner.index() < self.specs.len());
            assert!(claim.field().is_some(), "{claim:?}");
            for (other, _) in &self.claims[index + 1..] {
                assert!(overlap(claim, other).is_none(), "{claim:?} {other:?}");
            }
        }
    }
}

/// Refuses an empty claim and one not wholly inside a reserved field.
fn check_placement(extension: &'static str, claim: &Claim) -> Result<(), ClaimError> {
    if claim.size_bytes == 0 {
        return Err(ClaimError::Empty {
            extension,
            structure: claim.structure,
            offset: claim.offset,
        });
    }
    match claim.field() {
        Some(field) => {
            assert!(field.range().start <= claim.offset && claim.range().end <= field.range().end);
            Ok(())
        }
        None => Err(ClaimError::NotReserved {
            extension,
            structure: claim.structure,
            offset: claim.offset,
            size_bytes: claim.size_bytes,
        }),
    }
}

/// The bytes two claims of the same structure share, if any.
fn overlap(a: &Claim, b: &Claim) -> Option<Range<usize>> {
    if a.structure != b.structure {
        return None;
    }
    let start = a.range().start.max(b.range().start);
    let end = a.range().end.min(b.range().end);
    (start < end).then_some(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Codec;
    use crate::reserved::{field, RESERVED_FIELDS};
    use crate::tell::{AddressEntry, FileHeader};

    fn spec(name: &'static str, claims: &[Claim]) -> ExtensionSpec {
        ExtensionSpec {
            name,
            claims: claims.to_vec(),
        }
    }

    #[test]
    fn a_claim_outside_any_reserved_field_is_refused() {
        // File header 57 is edit_sequence, a defined field.
        let error =
            ClaimRegistry::new(&[spec("flags", &[Claim::new(Structure::FileHeader, 57, 1)])])
                .unwrap_err();
        assert_eq!(
            error,
            ClaimError::NotReserved {
                extension: "flags",
                structure: Structure::FileHeader,
                offset: 57,
                size_bytes: 1,
            }
        );
        assert_eq!(
            error.nearest_field(),
            field(Structure::FileHeader, "reserved")
        );
        let text = error.to_string();
        assert_eq!(
            text,
            "extension `flags` claims FileHeader byte 57 (1 byte), which is not wholly inside \
             one reserved field; the nearest is FileHeader.reserved at bytes 59–63 (5 bytes)"
        );
        // Past the end of the structure, and an offset so large the end would overflow.
        for claim in [
            Claim::new(Structure::FileHeader, 64, 1),
            Claim::new(Structure::ManifestEntry, usize::MAX, 2),
        ] {
            assert!(matches!(
                ClaimRegistry::new(&[spec("far", &[claim])]),
                Err(ClaimError::NotReserved { .. })
            ));
        }
    }

    #[test]
    fn a_claim_straddling_a_reserved_fields_edge_is_refused() {
        // 58 is parity_algo; 59..=63 reserved: 58..=59 straddles the start.
        let start = ClaimRegistry::new(&[spec("rs", &[Claim::new(Structure::FileHeader, 58, 2)])])
            .unwrap_err();
        assert!(matches!(start, ClaimError::NotReserved { offset: 58, .. }));
        assert!(
            start.to_string().contains("FileHeader bytes 58–59"),
            "{start}"
        );
        // Address entry reserved is 24..=31, the end of the structure: 30..=32 runs past it.
        let end = ClaimRegistry::new(&[spec("tag", &[Claim::new(Structure::AddressEntry, 30, 3)])])
            .unwrap_err();
        assert_eq!(
            end.nearest_field(),
            field(Structure::AddressEntry, "reserved")
        );
        // Routing header reserved_1 (20..=23) and client_timestamp (24..): 22..=25.
        let middle =
            ClaimRegistry::new(&[spec("wide", &[Claim::new(Structure::RoutingHeader, 22, 4)])])
                .unwrap_err();
        assert_eq!(
            middle.nearest_field().map(|field| field.name),
            Some("reserved_1")
        );
        assert!(
            middle
                .to_string()
                .contains("RoutingHeader.reserved_1 at bytes 20–23"),
            "{middle}"
        );
        // The same claim one byte shorter on each side is accepted.
        ClaimRegistry::new(&[spec(
            "rs",
            &[
                Claim::new(Structure::FileHeader, 59, 1),
                Claim::new(Structure::AddressEntry, 30, 2),
                Claim::new(Structure::RoutingHeader, 22, 2),
            ],
        )])
        .unwrap();
    }

    #[test]
    fn overlapping_claims_of_two_extensions_are_refused() {
        let error = ClaimRegistry::new(&[
            spec("alpha", &[Claim::new(Structure::FileHeader, 59, 3)]),
            spec(
                "beta",
                &[
                    Claim::new(Structure::ServerEntry, 3, 4),
                    Claim::new(Structure::FileHeader, 61, 2),
                ],
            ),
        ])
        .unwrap_err();
        assert_eq!(
            error,
            ClaimError::DoublyClaimed {
                first: "alpha",
                second: "beta",
                structure: Structure::FileHeader,
                range: 61..62,
            }
        );
        assert_eq!(
            error.to_string(),
            "FileHeader byte 61 claimed by both `alpha` and `beta`"
        );
        // One extension overlapping itself is refused too.
        let error = ClaimRegistry::new(&[spec(
            "gamma",
            &[
                Claim::new(Structure::ServerEntry, 3, 8),
                Claim::new(Structure::ServerEntry, 5, 2),
            ],
        )])
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "ServerEntry bytes 5–6 claimed twice by extension `gamma`"
        );
    }

    #[test]
    fn disjoint_claims_in_one_field_are_accepted() {
        let registry = ClaimRegistry::new(&[
            spec("alpha", &[Claim::new(Structure::FileHeader, 59, 2)]),
            spec(
                "beta",
                &[
                    Claim::new(Structure::FileHeader, 61, 1),
                    Claim::new(Structure::FileHeader, 63, 1),
                ],
            ),
            // The same offsets in another structure are other bytes.
            spec("gamma", &[Claim::new(Structure::ServerEntry, 3, 17)]),
        ])
        .unwrap();
        let alpha = registry.id("alpha").unwrap();
        let beta = registry.id("beta").unwrap();
        let owners: Vec<Option<ExtensionId>> = (57..64)
            .map(|offset| registry.owner_of(Structure::FileHeader, offset))
            .collect();
        assert_eq!(
            owners,
            [
                None,
                None,
                Some(alpha),
                Some(alpha),
                Some(beta),
                None,
                Some(beta)
            ]
        );
        assert_eq!(registry.name(beta), "beta");
        assert_eq!(registry.owner_of(Structure::FileHeader, 64), None);
        assert_eq!(
            registry
                .owner_of(Structure::ServerEntry, 19)
                .map(|id| registry.name(id)),
            Some("gamma")
        );
        assert_eq!(registry.claims().count(), 4);
        assert_eq!(registry.id("delta"), None);
    }

    #[test]
    fn every_catalogue_field_can_be_claimed_whole() {
        let specs: Vec<ExtensionSpec> = RESERVED_FIELDS
            .iter()
            .enumerate()
            .map(|(index, field)| ExtensionSpec {
                // Names must be 'static; leaking a few test strings is harmless.
                name: Box::leak(
                    format!("{:?}.{}#{index}", field.structure, field.name).into_boxed_str(),
                ),
                claims: vec![Claim::new(field.structure, field.offset, field.size_bytes)],
            })
            .collect();
        let registry = ClaimRegistry::new(&specs).unwrap();
        for (index, field) in RESERVED_FIELDS.iter().enumerate() {
            for offset in field.range() {
                assert_eq!(
                    registry
                        .owner_of(field.structure, offset)
                        .map(ExtensionId::index),
                    Some(index)
                );
            }
            // The byte after the field is unclaimed unless another field starts right there.
            let next_owner = registry.owner_of(field.structure, field.range().end);
            let next_field = RESERVED_FIELDS.iter().position(|other| {
                other.structure == field.structure && other.offset == field.range().end
            });
            assert_eq!(next_owner.map(ExtensionId::index), next_field, "{field:?}");
            // And one byte more is always refused.
            let claim = Claim::new(field.structure, field.offset, field.size_bytes + 1);
            assert_eq!(claim.field(), None, "{field:?}");
        }
    }

    #[test]
    fn empty_claims_and_duplicate_names_are_refused() {
        assert_eq!(
            ClaimRegistry::new(&[spec("nil", &[Claim::new(Structure::FileHeader, 60, 0)])]),
            Err(ClaimError::Empty {
                extension: "nil",
                structure: Structure::FileHeader,
                offset: 60
            })
        );
        assert_eq!(
            ClaimRegistry::new(&[spec("twin", &[]), spec("twin", &[])]),
            Err(ClaimError::DuplicateName { name: "twin" })
        );
        assert_eq!(ClaimRegistry::new(&[]), Ok(ClaimRegistry::default()));
    }

    #[test]
    fn claimed_bytes_round_trip_through_the_codec() {
        let rs_parity_count = Claim::new(Structure::FileHeader, 59, 1);
        let tag = Claim::new(Structure::AddressEntry, 24, 8);
        ClaimRegistry::new(&[spec("rs", &[rs_parity_count]), spec("tag", &[tag])]).unwrap();

        let mut header_bytes = FileHeader::default().to_bytes();
        rs_parity_count.write(&mut header_bytes, &[3]);
        let decoded = FileHeader::from_bytes(&header_bytes).unwrap();
        assert_eq!(rs_parity_count.read(&decoded.to_bytes()), [3]);
        assert_eq!(decoded.to_bytes(), header_bytes);
        // Nothing else moved.
        let mut cleared = header_bytes.clone();
        rs_parity_count.write(&mut cleared, &[0]);
        assert_eq!(cleared, FileHeader::default().to_bytes());

        let mut entry_bytes = AddressEntry::default().to_bytes();
        tag.write(&mut entry_bytes, b"8 bytes!");
        let decoded = AddressEntry::from_bytes(&entry_bytes).unwrap();
        assert_eq!(tag.read(&decoded.to_bytes()), b"8 bytes!");
    }

    #[test]
    #[should_panic(expected = "FileHeader is 64 bytes, given 32")]
    fn reading_the_wrong_structure_is_a_caller_bug() {
        let claim = Claim::new(Structure::FileHeader, 59, 1);
        claim.read(&AddressEntry::default().to_bytes());
    }

    #[test]
    #[should_panic(expected = "a claim of 2 bytes written with 1 bytes")]
    fn writing_the_wrong_size_is_a_caller_bug() {
        let claim = Claim::new(Structure::FileHeader, 59, 2);
        claim.write(&mut FileHeader::default().to_bytes(), &[1]);
    }
}
