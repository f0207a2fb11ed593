//! probe: named markers on rare code paths, counted per run — FoundationDB's `CODE_PROBE`.
//!
//! # Why
//!
//! A simulator that runs thousands of seeds proves something only about the paths those
//! seeds take. A tell whose edit_sequence guard skips an older revision, a parked ping woken
//! by a tell, a stripe rebuilt from parity, a RAIDA restarted after a power loss mid-publish:
//! if no seed reaches such a path, a bug there is invisible, and a change that quietly stops
//! a fault from firing still looks like a pass. FoundationDB marks such paths with
//! `CODE_PROBE(condition, "comment")` and reports, over a test run, which probes were never
//! hit. This crate is that marker here:
//!
//! - [`Probe`]: a static name (`server.tell.guard_skip`: dot-separated segments of
//!   `[a-z0-9_]`, the registry's prefix first) and a one-line description.
//! - [`hit`]: counts one hit in a thread-local table. The simulator runs one turmoil world on
//!   one thread (seeds run on worker threads with `--in-process`, each in a child process
//!   otherwise), so one thread's table is exactly one run's hits. The real daemon pays one
//!   thread-local map update per hit and never reads the table.
//! - [`take`]: reads and resets this thread's hits by name (the simulator calls it before and
//!   after each seed).
//! - [`registry!`]: declares a crate's probes as `pub static`s plus `pub static ALL`, the
//!   list `raida-sim coverage` prints (never-hit probes included), and checks in const
//!   evaluation — a compile error otherwise — that every name is well formed, carries the
//!   registry's prefix and is unique, and that every description is one line.
//!
//! A probe marks a path that is really taken: put `probe::hit(&probes::X)` where the code
//! commits to the rare branch, not where it merely tests for it.

pub mod limits;

use std::cell::RefCell;
use std::collections::BTreeMap;

use limits::{DESCRIPTION_BYTES_MAX, NAME_BYTES_MAX, NAME_SEGMENTS_MIN, REGISTRY_PROBES_MAX};

/// One named marker. Declare probes with [`registry!`]; a probe is a `static`, so its address
/// names it within a process.
#[derive(Debug, PartialEq, Eq)]
pub struct Probe {
    name: &'static str,
    description: &'static str,
}

impl Probe {
    /// A probe; panics (in a `static`: fails to compile) on a malformed name or description.
    pub const fn new(name: &'static str, description: &'static str) -> Probe {
        assert!(
            name_is_well_formed(name),
            "a probe name is 2 or more dot-separated segments of [a-z0-9_], at most 64 bytes"
        );
        assert!(
            description_is_well_formed(description),
            "a probe description is one non-empty line of at most 200 bytes"
        );
        Probe { name, description }
    }

    /// The dotted name, e.g. `server.tell.guard_skip`.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// What reaching it means, in one line.
    pub const fn description(&self) -> &'static str {
        self.description
    }
}

/// Whether `name` is [`limits::NAME_SEGMENTS_MIN`] or more dot-separated, non-empty segments
/// of `[a-z0-9_]`, at most [`limits::NAME_BYTES_MAX`] bytes.
pub const fn name_is_well_formed(name: &str) -> bool {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() > NAME_BYTES_MAX {
        return false;
    }
    let mut segment_count = 1;
    let mut segment_size_bytes = 0;
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte == b'.' {
            if segment_size_bytes == 0 {
                return false;
            }
            segment_count += 1;
            segment_size_bytes = 0;
        } else if byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_' {
            segment_size_bytes += 1;
        } else {
            return false;
        }
        index += 1;
    }
    segment_size_bytes > 0 && segment_count >= NAME_SEGMENTS_MIN
}

/// Whether `description` is one non-empty line of at most [`limits::DESCRIPTION_BYTES_MAX`]
/// bytes.
pub const fn description_is_well_formed(description: &str) -> bool {
    let bytes = description.as_bytes();
    if bytes.is_empty() || bytes.len() > DESCRIPTION_BYTES_MAX {
        return false;
    }
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'\n' || bytes[index] == b'\r' {
            return false;
        }
        index += 1;
    }
    true
}

/// Checks one registry's names (what [`registry!`] runs in const evaluation): `prefix` is one
/// segment, every name is well formed and starts with `prefix.`, no name repeats, and there
/// are at most [`limits::REGISTRY_PROBES_MAX`]. Panics otherwise.
pub const fn assert_registry(prefix: &str, names: &[&str]) {
    assert!(
        !prefix.is_empty() && !contains_dot(prefix),
        "a registry prefix is one segment"
    );
    assert!(
        !names.is_empty() && names.len() <= REGISTRY_PROBES_MAX,
        "a registry declares 1 to 512 probes"
    );
    let mut index = 0;
    while index < names.len() {
        assert!(
            name_is_well_formed(names[index]),
            "malformed probe name in registry"
        );
        assert!(
            has_prefix(names[index], prefix),
            "a probe name must start with its registry's prefix and a dot"
        );
        let mut other = index + 1;
        while other < names.len() {
            assert!(
                !str_eq(names[index], names[other]),
                "two probes of one registry share a name"
            );
            other += 1;
        }
        index += 1;
    }
}

const fn contains_dot(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'.' {
            return true;
        }
        index += 1;
    }
    false
}

/// Whether `name` starts with `prefix` followed by a dot.
const fn has_prefix(name: &str, prefix: &str) -> bool {
    let (name, prefix) = (name.as_bytes(), prefix.as_bytes());
    if name.len() <= prefix.len() || name[prefix.len()] != b'.' {
        return false;
    }
    let mut index = 0;
    while index < prefix.len() {
        if name[index] != prefix[index] {
            return false;
        }
        index += 1;
    }
    true
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut index = 0;
    while index < a.len() {
        if a[index] != b[index] {
            return false;
        }
        index += 1;
    }
    true
}

/// One probe's hits on this thread.
#[derive(Debug)]
struct Hits {
    name: &'static str,
    count: u64,
}

thread_local! {
    /// Hits by the probe's address (a `static`'s address is unique in the process).
    static HITS: RefCell<BTreeMap<usize, Hits>> = const { RefCell::new(BTreeMap::new()) };
}

/// The key of `probe` in the thread-local table: its address.
fn key(probe: &'static Probe) -> usize {
    std::ptr::from_ref(probe) as usize
}

/// Counts one hit of `probe` on this thread. Never panics (a hit during thread teardown is
/// dropped).
pub fn hit(probe: &'static Probe) {
    let _ = HITS.try_with(|hits| {
        let mut hits = hits.borrow_mut();
        let entry = hits.entry(key(probe)).or_insert(Hits {
            name: probe.name,
            count: 0,
        });
        entry.count = entry.count.saturating_add(1);
    });
}

/// This thread's hits of `probe` since the last [`take`].
pub fn count(probe: &'static Probe) -> u64 {
    HITS.try_with(|hits| hits.borrow().get(&key(probe)).map_or(0, |hits| hits.count))
        .unwrap_or(0)
}

/// This thread's hits since the last call, by probe name (only probes hit at least once),
/// and resets them.
pub fn take() -> BTreeMap<&'static str, u64> {
    let drained = HITS
        .try_with(|hits| std::mem::take(&mut *hits.borrow_mut()))
        .unwrap_or_default();
    let mut out: BTreeMap<&'static str, u64> = BTreeMap::new();
    for hits in drained.into_values() {
        assert!(hits.count > 0, "a probe is in the table only once hit");
        let total = out.entry(hits.name).or_insert(0);
        *total = total.saturating_add(hits.count);
    }
    out
}

/// Declares a crate's probes: one `pub static NAME: Probe` per line (its description is its
/// doc) and `pub static ALL: &[&Probe]` listing them in order; names, prefix, uniqueness and
/// descriptions are checked at compile time.
///
/// ```
/// mod probes {
///     probe::registry! {
///         prefix = "demo";
///         GUARD_SKIP = "demo.tell.guard_skip", "An older edit was not published.";
///         PING_TIMEOUT = "demo.ping.timeout", "A parked ping reached its deadline.";
///     }
/// }
/// probe::hit(&probes::GUARD_SKIP);
/// assert_eq!(probes::ALL.len(), 2);
/// assert_eq!(probe::take().get("demo.tell.guard_skip"), Some(&1));
/// ```
///
/// A repeated name does not compile:
///
/// ```compile_fail
/// probe::registry! {
///     prefix = "demo";
///     A = "demo.same", "One.";
///     B = "demo.same", "Two.";
/// }
/// ```
///
/// Nor does a name outside the prefix, or one that is not lowercase dotted:
///
/// ```compile_fail
/// probe::registry! {
///     prefix = "demo";
///     A = "other.path", "One.";
/// }
/// ```
///
/// ```compile_fail
/// probe::registry! {
///     prefix = "demo";
///     A = "demo.Guard-Skip", "One.";
/// }
/// ```
#[macro_export]
macro_rules! registry {
    (
        prefix = $prefix:literal;
        $( $(#[$attr:meta])* $ident:ident = $name:literal, $description:literal; )+
    ) => {
        $(
            $(#[$attr])*
            #[doc = $description]
            pub static $ident: $crate::Probe = $crate::Probe::new($name, $description);
        )+

        /// Every probe this registry declares, in declaration order.
        pub static ALL: &[&$crate::Probe] = &[$(&$ident),+];

        const _: () = $crate::assert_registry($prefix, &[$($name),+]);
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    mod demo {
        crate::registry! {
            prefix = "demo";
            FIRST = "demo.first", "The first demo path.";
            SECOND = "demo.second.deeper", "The second demo path.";
            THIRD = "demo.status.198", "A numbered segment.";
        }
    }

    #[test]
    fn names_are_dotted_lowercase_segments() {
        for good in [
            "a.b",
            "server.tell.guard_skip",
            "server.status.198",
            "x_1.y_2.z",
        ] {
            assert!(name_is_well_formed(good), "{good}");
        }
        let long = format!("a.{}", "b".repeat(NAME_BYTES_MAX - 1));
        for bad in [
            "", "server", ".a", "a.", "a..b", "A.b", "a.B", "a-b.c", "a.b c", "a.é", &long,
        ] {
            assert!(!name_is_well_formed(bad), "{bad:?}");
        }
        assert!(name_is_well_formed(&long[..NAME_BYTES_MAX]));
    }

    #[test]
    fn descriptions_are_one_line() {
        assert!(description_is_well_formed("One line."));
        assert!(!description_is_well_formed(""));
        assert!(!description_is_well_formed("two\nlines"));
        assert!(!description_is_well_formed(
            &"x".repeat(DESCRIPTION_BYTES_MAX + 1)
        ));
    }

    #[test]
    fn registries_list_every_probe_in_order() {
        let names: Vec<&str> = demo::ALL.iter().map(|probe| probe.name()).collect();
        assert_eq!(
            names,
            ["demo.first", "demo.second.deeper", "demo.status.198"]
        );
        assert_eq!(demo::FIRST.description(), "The first demo path.");
        assert_registry("demo", &names);
    }

    #[test]
    #[should_panic(expected = "share a name")]
    fn duplicate_names_are_refused() {
        assert_registry("demo", &["demo.a", "demo.b", "demo.a"]);
    }

    #[test]
    #[should_panic(expected = "registry's prefix")]
    fn foreign_prefixes_are_refused() {
        assert_registry("server", &["server.a", "servers.b"]);
    }

    #[test]
    #[should_panic(expected = "malformed")]
    fn malformed_names_are_refused_by_registries() {
        assert_registry("demo", &["demo.Bad"]);
    }

    #[test]
    #[should_panic(expected = "one non-empty line")]
    fn malformed_descriptions_are_refused() {
        let _ = Probe::new("demo.x", "two\nlines");
    }

    #[test]
    fn hits_count_per_probe_and_take_resets() {
        let _ = take();
        hit(&demo::FIRST);
        hit(&demo::FIRST);
        hit(&demo::THIRD);
        assert_eq!(count(&demo::FIRST), 2);
        assert_eq!(count(&demo::SECOND), 0);
        let taken = take();
        assert_eq!(
            taken.into_iter().collect::<Vec<_>>(),
            vec![("demo.first", 2), ("demo.status.198", 1)]
        );
        assert!(take().is_empty(), "take resets");
        assert_eq!(count(&demo::FIRST), 0);
    }

    #[test]
    fn threads_count_apart() {
        let _ = take();
        hit(&demo::SECOND);
        let other = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    hit(&demo::SECOND);
                    hit(&demo::SECOND);
                    take()
                })
                .join()
                .expect("the thread runs")
        });
        assert_eq!(other.get("demo.second.deeper"), Some(&2));
        assert_eq!(take().get("demo.second.deeper"), Some(&1));
    }
}
