//! The bounds a probe's name and description must keep, checked when a probe is declared
//! (in const evaluation, so a bad name is a compile error).

/// Longest probe name, bytes (`server.crash_recovered.stripe_delete_dir_synced` is 47).
pub const NAME_BYTES_MAX: usize = 64;

/// Fewest dot-separated segments in a name: a crate prefix and at least one more.
pub const NAME_SEGMENTS_MIN: usize = 2;

/// Longest one-line description, bytes.
pub const DESCRIPTION_BYTES_MAX: usize = 200;

/// Most probes one registry declares (the uniqueness check is quadratic in const evaluation).
pub const REGISTRY_PROBES_MAX: usize = 512;

const _: () = assert!(NAME_SEGMENTS_MIN >= 2);
// The shortest name with the minimum segments ("a.b") must fit.
const _: () = assert!(NAME_BYTES_MAX >= 2 * NAME_SEGMENTS_MIN - 1);
const _: () = assert!(DESCRIPTION_BYTES_MAX > NAME_BYTES_MAX);
const _: () = assert!(REGISTRY_PROBES_MAX >= 1);
