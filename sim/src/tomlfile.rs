//! Writing a scenario file from its parsed `toml::Value` (what `compare` and `shrink`
//! produce by editing a scenario file).
//!
//! Sections come in the order the scenario format documents (`[scenario]`, `[sim]`,
//! `[topology]`, `[workload]`, `[faults]`, `[server]`, `[extensions]`, `[expect]`, then
//! any other), keys in each section sorted, and a table inside a section is written inline
//! (`raidas = { replay_guard = "all" }`): every table the file holds is then an explicit
//! `[section]` or an inline table, never one implied by a dotted header such as
//! `[extensions.raidas]`, which the scenario reader refuses.

use std::fmt::Write as _;

/// Sections in the order scenario files list them.
const SECTION_ORDER: [&str; 8] = [
    "scenario",
    "sim",
    "topology",
    "workload",
    "faults",
    "server",
    "extensions",
    "expect",
];

/// A key, bare when it can be, else quoted.
fn key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        name.to_string()
    } else {
        toml::Value::String(name.to_string()).to_string()
    }
}

/// A value as TOML text: tables inline.
fn value(value: &toml::Value) -> String {
    match value {
        toml::Value::Table(table) => {
            let entries: Vec<String> = table
                .iter()
                .map(|(name, item)| format!("{} = {}", key(name), self::value(item)))
                .collect();
            if entries.is_empty() {
                "{}".into()
            } else {
                format!("{{ {} }}", entries.join(", "))
            }
        }
        toml::Value::Array(items) => {
            let items: Vec<String> = items.iter().map(self::value).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

/// The file text of a scenario's TOML (a table: top-level plain keys first, then each
/// section).
pub fn scenario_text(file: &toml::Value) -> String {
    let Some(file) = file.as_table() else {
        return value(file);
    };
    let mut out = String::new();
    for (name, item) in file.iter().filter(|(_, item)| !item.is_table()) {
        let _ = writeln!(out, "{} = {}", key(name), value(item));
    }
    let rank = |name: &str| {
        SECTION_ORDER
            .iter()
            .position(|known| *known == name)
            .unwrap_or(SECTION_ORDER.len())
    };
    let mut sections: Vec<(&String, &toml::Table)> = file
        .iter()
        .filter_map(|(name, item)| item.as_table().map(|table| (name, table)))
        .collect();
    sections.sort_by_key(|(name, _)| (rank(name), name.as_str()));
    for (name, table) in sections {
        if !out.is_empty() {
            out.push('\n');
        }
        let _ = writeln!(out, "[{}]", key(name));
        for (entry, item) in table {
            let _ = writeln!(out, "{} = {}", key(entry), value(item));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    #[test]
    fn written_files_read_back_as_the_same_scenario() {
        let text = "[expect]\nviolations = [\"ack_durable\"]\n\
            [extensions]\nraidas = { replay_guard = [0, 2], delivery_ack = \"all\" }\n\
            [scenario]\nname = \"w\"\nseeds = [3]\ndescription = \"a \\\"quoted\\\" one\"\n\
            [faults]\npacket_loss = 0.015\ncrash_at_steps = [\"TellRenamed\"]\n\
            crash_at_step_fraction = 0.5\n[topology]\nbeacon = \"fixed:3\"\n";
        let file: toml::Value = toml::from_str(text).expect("toml");
        let written = scenario_text(&file);
        assert!(written.starts_with("[scenario]\n"), "{written}");
        assert!(
            written.contains("raidas = { delivery_ack = \"all\", replay_guard = [0, 2] }"),
            "{written}"
        );
        let back = Scenario::from_toml_str(&written, "w.toml").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            back,
            Scenario::from_toml_str(text, "w.toml").expect("parses")
        );
        let odd: toml::Value =
            toml::from_str("\"odd key\" = 1\n[x]\n\"a b\" = { c = [] }\n").expect("toml");
        let written = scenario_text(&odd);
        assert_eq!(toml::from_str::<toml::Value>(&written).expect("toml"), odd);
    }
}
