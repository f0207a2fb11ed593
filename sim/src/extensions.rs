//! Which protocol extensions each simulated RAIDA and client runs: the `[extensions]` section
//! of a scenario and the sets built from it at each boot.
//!
//! ```toml
//! [extensions]
//! raidas = { replay_guard = "all", delivery_ack = [0, 3] }
//! clients = { delivery_ack = "all" }
//! ```
//!
//! `raidas` keys name server extensions and map to `"all"` or a list of RAIDA indexes;
//! `clients` keys name client extensions and map to `"all"` or a list of mailbox indexes
//! (every client of that mailbox, sender and devices, runs them; the adversary never does).
//! Hosts not listed run the unchanged protocol, so one scenario mixes upgraded and legacy
//! peers. Unknown names, and server-only extensions under `clients`, are errors naming the
//! key. Each boot builds fresh extension state (a crash forgets what a beacon held).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use qmail_client::extension::{ClientExtension, ClientExtensions};
use raida_server::extension::{Extensions, ServerExtension};

/// A protocol extension, by its place in the servers' registry
/// ([`raida_server::extension::NAMES`]; it orders and prints by that place and name). The
/// simulator keeps no list of its own: an extension added to the registries (the server's,
/// and the client's when it has a client half) is usable in scenarios and `compare` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExtensionName(usize);

impl ExtensionName {
    /// Every known extension, in registry order.
    pub fn all() -> Vec<ExtensionName> {
        (0..raida_server::extension::names().len())
            .map(ExtensionName)
            .collect()
    }

    /// The name in scenarios and on the command line.
    pub fn as_str(self) -> &'static str {
        raida_server::extension::names()
            .get(self.0)
            .copied()
            .expect("an index into the registry")
    }

    /// The extension called `name`, if the registry has one.
    pub fn parse(name: &str) -> Option<ExtensionName> {
        raida_server::extension::names()
            .iter()
            .position(|known| *known == name)
            .map(ExtensionName)
    }

    /// Whether it has a client half.
    pub fn has_client_half(self) -> bool {
        qmail_client::extension::names().contains(&self.as_str())
    }

    fn server(self) -> Arc<dyn ServerExtension> {
        raida_server::extension::by_name(self.as_str())
            .expect("names come from the server registry")
    }

    fn client(self) -> Option<Arc<dyn ClientExtension>> {
        qmail_client::extension::by_name(self.as_str())
    }
}

impl fmt::Display for ExtensionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which hosts run one extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Which {
    /// Every RAIDA (or every mailbox's clients).
    All,
    /// These RAIDA indexes (or mailbox indexes).
    Ids(BTreeSet<u32>),
}

impl Which {
    /// Whether host `index` runs it.
    pub fn includes(&self, index: u32) -> bool {
        match self {
            Which::All => true,
            Which::Ids(ids) => ids.contains(&index),
        }
    }
}

impl fmt::Display for Which {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Which::All => f.write_str("\"all\""),
            Which::Ids(ids) => write!(f, "{:?}", ids.iter().collect::<Vec<_>>()),
        }
    }
}

/// The `[extensions]` section: empty (the default) runs the unchanged protocol everywhere.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtensionsConfig {
    /// Server extensions and the RAIDAs that run them.
    pub raidas: BTreeMap<ExtensionName, Which>,
    /// Client extensions and the mailboxes whose clients run them.
    pub clients: BTreeMap<ExtensionName, Which>,
}

impl ExtensionsConfig {
    /// Every RAIDA and every client runs `names` (client halves where they exist): what
    /// `raida-sim compare --with` adds to a scenario.
    pub fn everywhere(names: &[ExtensionName]) -> ExtensionsConfig {
        let mut config = ExtensionsConfig::default();
        for &name in names {
            config.raidas.insert(name, Which::All);
            if name.has_client_half() {
                config.clients.insert(name, Which::All);
            }
        }
        config
    }

    /// Whether nothing runs any extension.
    pub fn is_empty(&self) -> bool {
        self.raidas.is_empty() && self.clients.is_empty()
    }

    /// A fresh extension set for RAIDA `index`.
    pub fn server_set(&self, index: u8) -> Extensions {
        let list = self
            .raidas
            .iter()
            .filter(|(_, which)| which.includes(u32::from(index)))
            .map(|(name, _)| name.server())
            .collect();
        Extensions::new(list).expect("the worked extensions claim disjoint reserved bytes")
    }

    /// A fresh extension set for a client of mailbox `mailbox_index`.
    pub fn client_set(&self, mailbox_index: u32) -> ClientExtensions {
        let list = self
            .clients
            .iter()
            .filter(|(_, which)| which.includes(mailbox_index))
            .filter_map(|(name, _)| name.client())
            .collect();
        ClientExtensions::new(list).expect("the worked extensions claim disjoint reserved bytes")
    }

    /// `extensions.raidas.NAME = …` lines for the run's parameters.
    pub fn parameters(&self) -> Vec<(String, String)> {
        let side = |side: &str, map: &BTreeMap<ExtensionName, Which>| {
            map.iter()
                .map(|(name, which)| (format!("extensions.{side}.{name}"), which.to_string()))
                .collect::<Vec<_>>()
        };
        let mut lines = side("raidas", &self.raidas);
        lines.extend(side("clients", &self.clients));
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> ExtensionName {
        ExtensionName::parse(name).expect("a registered extension")
    }

    #[test]
    fn names_round_trip_and_sets_follow_the_assignment() {
        for name in ExtensionName::all() {
            assert_eq!(ExtensionName::parse(name.as_str()), Some(name));
        }
        assert_eq!(ExtensionName::parse("nope"), None);
        let mut config = ExtensionsConfig::everywhere(&[named("replay_guard")]);
        config
            .raidas
            .insert(named("delivery_ack"), Which::Ids(BTreeSet::from([2])));
        assert!(config.clients.is_empty(), "replay_guard has no client half");
        assert_eq!(config.server_set(0).names(), vec!["replay_guard"]);
        assert_eq!(
            config.server_set(2).names(),
            vec!["replay_guard", "delivery_ack"]
        );
        assert!(config.client_set(0).is_empty());
        let all = ExtensionsConfig::everywhere(&ExtensionName::all());
        assert_eq!(
            all.client_set(5).names(),
            vec!["delivery_ack", "attachment_count"]
        );
        assert_eq!(all.server_set(5).names().len(), 3);
    }
}
