//! Reading a scenario file: section by section through the `knobs` crate, so every error
//! names the file, line, column and dotted key. The sections' own keys are their knobs
//! (see the types in [`super`]); what is not a knob — `scenario.seeds`,
//! `topology.beacon`, `[expect]`, `[extensions]` — is read here. Checks that tie keys
//! together are in [`super::validate`].

use std::collections::BTreeMap;

use knobs::{ConfigError, Node, Source, Table};
use raida_server::settings::Settings;
use toml::Spanned;

use super::{
    validate, BeaconPolicy, Expectations, Scenario, ScenarioError, SimConfig, Topology, Workload,
    SEEDS_DEFAULT,
};
use crate::checkers::Invariant;
use crate::extensions::{ExtensionName, ExtensionsConfig, Which};
use crate::faults::Faults;
use crate::limits::SEEDS_COUNT_MAX;

/// The sections a scenario file may have.
const SECTIONS: &[&str] = &[
    "scenario",
    "sim",
    "topology",
    "workload",
    "faults",
    "server",
    "expect",
    "extensions",
];

/// Reads a whole scenario.
pub(super) fn scenario(source: &Source<'_>) -> Result<Scenario, ScenarioError> {
    let mut root = source.parse()?;
    let (name, description, seeds) = meta(&mut root)?;
    let sim = knob_section(&mut root, "sim", SimConfig::default())?;
    let topology = topology(&mut root)?;
    let workload = workload(&mut root, &sim, &topology)?;
    let faults = faults(&mut root)?;
    let server = Settings::from_table(root.table("server")?)?;
    let expect = expect(&mut root)?;
    let extensions = extensions(&mut root, &topology)?;
    root.finish(SECTIONS)?;
    Ok(Scenario {
        file_name: source.file().to_string(),
        name,
        description,
        seeds,
        sim,
        topology,
        workload,
        faults,
        server,
        expect,
        extensions,
    })
}

/// A section that is knobs only.
fn knob_section<K: knobs::Knobs>(
    root: &mut Table<'_>,
    name: &str,
    mut value: K,
) -> Result<K, ConfigError> {
    let mut table = root.table(name)?;
    let names = knobs::read(&mut table, &mut value)?;
    table.finish(&names)?;
    Ok(value)
}

/// `[scenario]`: name (required), description, seeds.
fn meta(root: &mut Table<'_>) -> Result<(String, String, Vec<u64>), ConfigError> {
    let mut meta = root.table("scenario")?;
    if !meta.is_present() {
        return Err(root.error("scenario", "missing table `scenario`"));
    }
    let Some(name) = meta.string("name")? else {
        return Err(meta.error("name", "missing field `name`"));
    };
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !name_ok {
        let message = format!("{name:?} must be 1..=64 letters, digits, '-' or '_'");
        return Err(meta.error("name", message));
    }
    let description = meta.string("description")?.unwrap_or_default();
    let seeds = seeds(&mut meta)?;
    meta.finish(&["name", "description", "seeds"])?;
    Ok((name, description, seeds))
}

/// `scenario.seeds`: `"a..b"`, `"a..=b"` or a list.
fn seeds(meta: &mut Table<'_>) -> Result<Vec<u64>, ConfigError> {
    let Some(value) = meta.take("seeds") else {
        return Ok(SEEDS_DEFAULT.collect());
    };
    let bad = |message: String| meta.error("seeds", message);
    let seeds: Vec<u64> = match value.into_inner() {
        Node::Str(text) => seed_range(&text).map_err(bad)?,
        Node::Array(items) => {
            let mut seeds = Vec::with_capacity(items.len());
            for item in items {
                match item.into_inner() {
                    Node::Int(seed) if seed >= 0 => seeds.push(seed.unsigned_abs()),
                    other => {
                        return Err(bad(format!("{other} is not a non-negative integer seed")))
                    }
                }
            }
            if seeds.is_empty() || seeds.len() > SEEDS_COUNT_MAX {
                return Err(bad(format!(
                    "a seed list must hold 1..={SEEDS_COUNT_MAX} seeds"
                )));
            }
            seeds
        }
        other => {
            return Err(bad(format!(
                "{other} is neither a range string nor a list of seeds"
            )))
        }
    };
    Ok(seeds)
}

fn seed_range(text: &str) -> Result<Vec<u64>, String> {
    let (start, end, inclusive) = if let Some((a, b)) = text.split_once("..=") {
        (a, b, true)
    } else if let Some((a, b)) = text.split_once("..") {
        (a, b, false)
    } else {
        return Err(format!("{text:?} is not a range \"a..b\" or \"a..=b\""));
    };
    let (Ok(start), Ok(end)) = (start.trim().parse::<u64>(), end.trim().parse::<u64>()) else {
        return Err(format!(
            "{text:?} has a bound that is not a non-negative integer"
        ));
    };
    let end = if inclusive {
        end.checked_add(1)
    } else {
        Some(end)
    };
    match end {
        Some(end) if start < end && end - start <= SEEDS_COUNT_MAX as u64 => {
            Ok((start..end).collect())
        }
        _ => Err(format!("{text:?} must hold 1..={SEEDS_COUNT_MAX} seeds")),
    }
}

/// `[topology]`: its knobs, then the beacon policy (which needs `raidas`).
fn topology(root: &mut Table<'_>) -> Result<Topology, ConfigError> {
    let mut table = root.table("topology")?;
    let mut topology = Topology::default();
    let mut names = knobs::read(&mut table, &mut topology)?;
    topology.beacon = beacon(&mut table, topology.raidas)?;
    names.push("beacon");
    table.finish(&names)?;
    Ok(topology)
}

/// `topology.beacon`: `"hash"`, `"fixed:N"` or a non-empty list of RAIDA ids.
fn beacon(table: &mut Table<'_>, raidas: u8) -> Result<BeaconPolicy, ConfigError> {
    let Some(value) = table.take("beacon") else {
        return Ok(BeaconPolicy::Hash);
    };
    let bad = |message: String| table.error("beacon", message);
    let check_id = |id: i64| -> Result<u8, String> {
        u8::try_from(id)
            .ok()
            .filter(|id| *id < raidas)
            .ok_or_else(|| format!("RAIDA {id} is out of range 0..{raidas}"))
    };
    match value.into_inner() {
        Node::Str(text) if text == "hash" => Ok(BeaconPolicy::Hash),
        Node::Str(text) => {
            let Some(id) = text
                .strip_prefix("fixed:")
                .and_then(|id| id.parse::<i64>().ok())
            else {
                return Err(bad(format!(
                    "{text:?} is not \"hash\", \"fixed:N\" or a list of RAIDA ids"
                )));
            };
            check_id(id).map(BeaconPolicy::Fixed).map_err(bad)
        }
        Node::Array(items) if !items.is_empty() => {
            let mut list = Vec::with_capacity(items.len());
            for item in items {
                let id = match item.into_inner() {
                    Node::Int(id) => check_id(id),
                    other => Err(format!("{other} is not a RAIDA id")),
                };
                list.push(id.map_err(bad)?);
            }
            Ok(BeaconPolicy::List(list))
        }
        other => Err(bad(format!(
            "{other} is not \"hash\", \"fixed:N\" or a non-empty list of RAIDA ids"
        ))),
    }
}

/// `[workload]`, whose defaults and ranges depend on `[sim]` and `[topology]`.
fn workload(
    root: &mut Table<'_>,
    sim: &SimConfig,
    topology: &Topology,
) -> Result<Workload, ConfigError> {
    let mut table = root.table("workload")?;
    let mut workload = Workload::defaults(sim.duration_s);
    let names = knobs::read(&mut table, &mut workload)?;
    validate::workload(&table, &mut workload, sim, topology)?;
    table.finish(&names)?;
    Ok(workload)
}

/// `[faults]`: every fault family's knobs, flat.
fn faults(root: &mut Table<'_>) -> Result<Faults, ConfigError> {
    let mut table = root.table("faults")?;
    let mut faults = Faults::default();
    let names = knobs::read(&mut table, &mut faults)?;
    validate::faults(&table, &mut faults)?;
    table.finish(&names)?;
    Ok(faults)
}

/// `[expect]`: violations, must_find ⊆ violations, and must_hit (declared probe names).
fn expect(root: &mut Table<'_>) -> Result<Expectations, ConfigError> {
    let mut table = root.table("expect")?;
    let violations = invariants(&mut table, "violations")?;
    let must_find = invariants(&mut table, "must_find")?;
    if let Some(missing) = must_find.iter().find(|i| !violations.contains(i)) {
        let message = format!("{missing} must also be listed in expect.violations");
        return Err(table.error("must_find", message));
    }
    let must_hit = probe_names(&mut table, "must_hit")?;
    table.finish(&["violations", "must_find", "must_hit"])?;
    Ok(Expectations {
        violations,
        must_find,
        must_hit,
    })
}

/// Probe names, each declared by a registry `raida-sim coverage` lists.
fn probe_names(table: &mut Table<'_>, name: &str) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    for item in table.strings(name)?.unwrap_or_default() {
        let probe_name = item.get_ref();
        if crate::coverage::declared_probe(probe_name).is_none() {
            let message = format!(
                "unknown probe {probe_name:?}; `raida-sim coverage --list` prints the declared ones"
            );
            return Err(table.error_at(item.span(), name, message));
        }
        if !out.contains(probe_name) {
            out.push(probe_name.clone());
        }
    }
    Ok(out)
}

fn invariants(table: &mut Table<'_>, name: &str) -> Result<Vec<Invariant>, ConfigError> {
    let mut out = Vec::new();
    for item in table.strings(name)?.unwrap_or_default() {
        let Some(invariant) = Invariant::from_name(item.get_ref()) else {
            let known: Vec<&str> = Invariant::ALL.iter().map(|i| i.name()).collect();
            let message = format!(
                "unknown invariant {:?}; known: {}",
                item.get_ref(),
                known.join(", ")
            );
            return Err(table.error_at(item.span(), name, message));
        };
        if !out.contains(&invariant) {
            out.push(invariant);
        }
    }
    Ok(out)
}

/// `[extensions]`: for `raidas` and `clients`, name → `"all"` or a list of indexes.
fn extensions(root: &mut Table<'_>, topology: &Topology) -> Result<ExtensionsConfig, ConfigError> {
    let mut table = root.table("extensions")?;
    let raidas = extension_side(&mut table, "raidas", u32::from(topology.raidas), false)?;
    let clients = extension_side(&mut table, "clients", topology.mailboxes, true)?;
    table.finish(&["raidas", "clients"])?;
    Ok(ExtensionsConfig { raidas, clients })
}

fn extension_side(
    table: &mut Table<'_>,
    side: &str,
    count: u32,
    clients: bool,
) -> Result<BTreeMap<ExtensionName, Which>, ConfigError> {
    let mut out = BTreeMap::new();
    let mut side_table = table.table(side)?;
    let entries: Vec<(String, Spanned<Node>)> = side_table.take_all();
    for (key, which) in entries {
        let field = key.as_str();
        let bad = |message: String| side_table.error_at(which.span(), field, message);
        let known: Vec<&str> = ExtensionName::all().iter().map(|n| n.as_str()).collect();
        let Some(name) = ExtensionName::parse(&key) else {
            return Err(bad(format!(
                "unknown extension `{key}` (known: {})",
                known.join(", ")
            )));
        };
        if clients && !name.has_client_half() {
            return Err(bad(format!(
                "extension `{key}` runs on the beacon only; list it under raidas"
            )));
        }
        let which = match which.get_ref() {
            Node::Str(word) if word == "all" => Which::All,
            Node::Str(word) => {
                return Err(bad(format!(
                    "{word:?} is neither \"all\" nor a list of indexes"
                )))
            }
            Node::Array(items) => {
                let mut ids = Vec::with_capacity(items.len());
                for item in items {
                    match item.get_ref() {
                        Node::Int(id) if (0..i64::from(count)).contains(id) => {
                            ids.push(u32::try_from(*id).unwrap_or(u32::MAX));
                        }
                        other => return Err(bad(format!("index {other} is outside 0..{count}"))),
                    }
                }
                Which::Ids(ids.into_iter().collect())
            }
            other => {
                return Err(bad(format!(
                    "{other} is neither \"all\" nor a list of indexes"
                )))
            }
        };
        out.insert(name, which);
    }
    side_table.finish(&[])?;
    Ok(out)
}
