//! A TOML value that keeps the span of every value inside it, at any depth.
//!
//! `toml::Value` forgets where nested values were; reading settings key by key needs every
//! key's span to point an error at its line. [`Node::document`] builds the tree from
//! `toml_edit`'s parse, which keeps spans for every value, including tables that are only
//! implied by a dotted key or a `[a.b]` header (they take their first entry's span).
//! `Node` also deserializes through `toml::Spanned` (for callers holding serde data).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

/// One TOML value, with spans below it.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// An array.
    Array(Vec<Spanned<Node>>),
    /// A table (also how a datetime arrives; no knob takes one).
    Table(BTreeMap<String, Spanned<Node>>),
}

impl Node {
    /// What kind of value this is, for messages ("expected an integer, found a string").
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Str(_) => "a string",
            Node::Int(_) => "an integer",
            Node::Float(_) => "a float",
            Node::Bool(_) => "a boolean",
            Node::Array(_) => "an array",
            Node::Table(_) => "a table",
        }
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Str(text) => write!(f, "{text:?}"),
            Node::Int(value) => write!(f, "{value}"),
            Node::Float(value) => write!(f, "{value}"),
            Node::Bool(value) => write!(f, "{value}"),
            Node::Array(items) => write!(f, "an array of {}", items.len()),
            Node::Table(_) => f.write_str("a table"),
        }
    }
}

impl Node {
    /// The root table of a document parsed by `toml_edit`, with spans.
    pub fn document(document: &toml_edit::ImDocument<&str>) -> Spanned<Node> {
        let root = document.as_table();
        table_node(root.iter().map(|(key, item)| (key, item_node(item))), 0..0)
    }
}

fn item_node(item: &toml_edit::Item) -> Option<Spanned<Node>> {
    match item {
        toml_edit::Item::None => None,
        toml_edit::Item::Value(value) => Some(value_node(value)),
        toml_edit::Item::Table(table) => {
            let entries = table.iter().map(|(key, item)| (key, item_node(item)));
            Some(table_node(entries, table.span().unwrap_or(0..0)))
        }
        toml_edit::Item::ArrayOfTables(tables) => {
            let items: Vec<Spanned<Node>> = tables
                .iter()
                .map(|table| {
                    let entries = table.iter().map(|(key, item)| (key, item_node(item)));
                    table_node(entries, table.span().unwrap_or(0..0))
                })
                .collect();
            let span = tables.span().or_else(|| items.first().map(Spanned::span));
            Some(Spanned::new(span.unwrap_or(0..0), Node::Array(items)))
        }
    }
}

/// A table node; an implied table (empty span) takes its first entry's span.
fn table_node<'k>(
    entries: impl Iterator<Item = (&'k str, Option<Spanned<Node>>)>,
    span: std::ops::Range<usize>,
) -> Spanned<Node> {
    let map: BTreeMap<String, Spanned<Node>> = entries
        .filter_map(|(key, node)| node.map(|node| (key.to_string(), node)))
        .collect();
    let span = if span.is_empty() && span.start == 0 {
        map.values()
            .map(Spanned::span)
            .min_by_key(|s| s.start)
            .unwrap_or(span)
    } else {
        span
    };
    Spanned::new(span, Node::Table(map))
}

fn value_node(value: &toml_edit::Value) -> Spanned<Node> {
    let span = value.span().unwrap_or(0..0);
    let node = match value {
        toml_edit::Value::String(text) => Node::Str(text.value().clone()),
        toml_edit::Value::Integer(number) => Node::Int(*number.value()),
        toml_edit::Value::Float(number) => Node::Float(*number.value()),
        toml_edit::Value::Boolean(flag) => Node::Bool(*flag.value()),
        toml_edit::Value::Datetime(time) => Node::Str(time.value().to_string()),
        toml_edit::Value::Array(items) => Node::Array(items.iter().map(value_node).collect()),
        toml_edit::Value::InlineTable(table) => {
            let entries = table
                .iter()
                .map(|(key, value)| (key, Some(value_node(value))));
            return table_node(entries, span);
        }
    };
    Spanned::new(span, node)
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Node, E> {
        Ok(Node::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Node, E> {
        Ok(Node::Int(value))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Node, E> {
        i64::try_from(value)
            .map(Node::Int)
            .map_err(|_| E::custom(format!("{value} is too large")))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Node, E> {
        Ok(Node::Float(value))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Node, E> {
        Ok(Node::Str(value.to_string()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Node, E> {
        Ok(Node::Str(value))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = BTreeMap::new();
        while let Some((key, value)) = map.next_entry::<String, Spanned<Node>>()? {
            entries.insert(key, value);
        }
        Ok(Node::Table(entries))
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}
