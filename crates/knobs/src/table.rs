//! One TOML table, read key by key; whatever nobody read is an error.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

use crate::error::ConfigError;
use crate::node::Node;
use crate::source::Source;

/// A table of a [`Source`], with the span of every value in it.
#[derive(Debug)]
pub struct Table<'a> {
    source: Source<'a>,
    /// Dotted path of this table (`""` for the root, `"faults"`, `"server.rate_limit"`).
    path: String,
    /// The table's own span (its header or inline braces), when it was written.
    span: Option<Range<usize>>,
    entries: BTreeMap<String, Spanned<Node>>,
    /// Spans of the keys taken so far, for errors found after reading (cross-checks).
    taken: BTreeMap<String, Range<usize>>,
}

impl<'a> Table<'a> {
    pub(crate) fn new(
        source: Source<'a>,
        path: String,
        span: Option<Range<usize>>,
        entries: BTreeMap<String, Spanned<Node>>,
    ) -> Table<'a> {
        Table {
            source,
            path,
            span,
            entries,
            taken: BTreeMap::new(),
        }
    }

    /// The source this table was read from.
    pub fn source(&self) -> Source<'a> {
        self.source
    }

    /// The dotted key of `name` in this table.
    pub fn key(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// True when the table was written in the file (a `[section]` header or inline table).
    pub fn is_present(&self) -> bool {
        self.span.is_some()
    }

    /// Whether `name` is in the table and not yet taken.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// Takes `name` out of the table, remembering its span.
    pub fn take(&mut self, name: &str) -> Option<Spanned<Node>> {
        let value = self.entries.remove(name)?;
        self.taken.insert(name.to_string(), value.span());
        Some(value)
    }

    /// Takes every remaining key (for tables whose keys are names, not knobs).
    pub fn take_all(&mut self) -> Vec<(String, Spanned<Node>)> {
        let entries = std::mem::take(&mut self.entries);
        for (name, value) in &entries {
            self.taken.insert(name.clone(), value.span());
        }
        entries.into_iter().collect()
    }

    /// True when `name` was in the table and has been taken (the file set it).
    pub fn was_set(&self, name: &str) -> bool {
        self.taken.contains_key(name)
    }

    /// The span of `name` when it was taken, else the table's own span.
    pub fn span_of(&self, name: &str) -> Option<Range<usize>> {
        self.taken.get(name).cloned().or_else(|| self.span.clone())
    }

    /// An error about `name`, pointing at its value (or at the table when it is absent).
    pub fn error(&self, name: &str, message: impl Into<String>) -> ConfigError {
        self.source
            .error(self.span_of(name), &self.key(name), message)
    }

    /// An error about `name`, pointing at `span` (an element of its value).
    pub fn error_at(
        &self,
        span: Range<usize>,
        name: &str,
        message: impl Into<String>,
    ) -> ConfigError {
        self.source.error(Some(span), &self.key(name), message)
    }

    /// The sub-table `name` (empty and absent when the file has none).
    pub fn table(&mut self, name: &str) -> Result<Table<'a>, ConfigError> {
        let path = self.key(name);
        match self.take(name) {
            None => Ok(Table::new(self.source, path, None, BTreeMap::new())),
            Some(value) => {
                let span = value.span();
                match value.into_inner() {
                    Node::Table(entries) => Ok(Table::new(self.source, path, Some(span), entries)),
                    other => {
                        Err(self.error(name, format!("expected a table, found {}", other.kind())))
                    }
                }
            }
        }
    }

    /// Ends reading: a key nobody took is an error naming it (and the known keys).
    pub fn finish(self, known: &[&str]) -> Result<(), ConfigError> {
        let Some((name, value)) = self.entries.into_iter().next() else {
            return Ok(());
        };
        let mut message = format!("unknown key `{name}`");
        if !known.is_empty() {
            message.push_str(&format!("; known keys: {}", known.join(", ")));
        }
        let key = if self.path.is_empty() {
            name
        } else {
            format!("{}.{name}", self.path)
        };
        let at = self.source.line_text_start(value.span().start);
        Err(self.source.error(Some(at..at), &key, message))
    }

    /// An integer in `min..=max`, if `name` is present.
    pub fn int(&mut self, name: &str, min: i64, max: i64) -> Result<Option<i64>, ConfigError> {
        let Some(value) = self.take(name) else {
            return Ok(None);
        };
        match value.get_ref() {
            Node::Int(got) if (min..=max).contains(got) => Ok(Some(*got)),
            Node::Int(got) => Err(self.error(name, format!("{got} is out of range {min}..={max}"))),
            other => Err(self.error(name, format!("expected an integer, found {}", other.kind()))),
        }
    }

    /// A number (an integer is fine) in `min..=max`, if `name` is present.
    pub fn real(&mut self, name: &str, min: f64, max: f64) -> Result<Option<f64>, ConfigError> {
        let Some(value) = self.take(name) else {
            return Ok(None);
        };
        #[allow(clippy::cast_precision_loss)] // Settings are small integers written as numbers.
        let got = match value.get_ref() {
            Node::Int(got) => *got as f64,
            Node::Float(got) => *got,
            other => {
                return Err(self.error(name, format!("expected a number, found {}", other.kind())))
            }
        };
        if !(got.is_finite() && (min..=max).contains(&got)) {
            return Err(self.error(name, format!("{got} is out of range {min}..={max}")));
        }
        Ok(Some(got))
    }

    /// A boolean, if `name` is present.
    pub fn bool(&mut self, name: &str) -> Result<Option<bool>, ConfigError> {
        match self.take(name).map(Spanned::into_inner) {
            None => Ok(None),
            Some(Node::Bool(value)) => Ok(Some(value)),
            Some(other) => {
                Err(self.error(name, format!("expected a boolean, found {}", other.kind())))
            }
        }
    }

    /// A string, if `name` is present.
    pub fn string(&mut self, name: &str) -> Result<Option<String>, ConfigError> {
        match self.take(name).map(Spanned::into_inner) {
            None => Ok(None),
            Some(Node::Str(value)) => Ok(Some(value)),
            Some(other) => {
                Err(self.error(name, format!("expected a string, found {}", other.kind())))
            }
        }
    }

    /// An array of strings with each element's span, if `name` is present.
    pub fn strings(&mut self, name: &str) -> Result<Option<Vec<Spanned<String>>>, ConfigError> {
        let Some(value) = self.take(name) else {
            return Ok(None);
        };
        let Node::Array(items) = value.into_inner() else {
            return Err(self.error(name, "expected an array of strings"));
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let span = item.span();
            match item.into_inner() {
                Node::Str(text) => out.push(Spanned::new(span, text)),
                other => {
                    return Err(self.error_at(
                        span,
                        name,
                        format!("expected a string, found {}", other.kind()),
                    ))
                }
            }
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "top = 1\n[s]\nn = 3\nr = 0.5\nb = true\nt = \"x\"\nl = [\"a\", 2]\n";

    #[test]
    fn values_are_taken_by_type_and_range() {
        let source = Source::new("f.toml", TEXT);
        let mut root = source.parse().expect("parses");
        assert_eq!(root.int("top", 0, 5).expect("ok"), Some(1));
        let mut s = root.table("s").expect("a table");
        assert!(s.contains("n") && !s.contains("missing"));
        assert_eq!(s.int("n", 0, 5).expect("ok"), Some(3));
        assert!(!s.contains("n"), "taken");
        assert_eq!(s.real("r", 0.0, 1.0).expect("ok"), Some(0.5));
        assert_eq!(s.bool("b").expect("ok"), Some(true));
        assert_eq!(s.string("t").expect("ok").as_deref(), Some("x"));
        assert_eq!(s.int("missing", 0, 5).expect("ok"), None);
        let error = s.strings("l").expect_err("2 is not a string");
        assert_eq!((error.line, error.key.as_str()), (7, "s.l"), "{error}");
        s.finish(&[]).expect("everything read");
        root.finish(&[]).expect("everything read");
    }

    #[test]
    fn range_and_type_errors_point_at_the_value() {
        let source = Source::new("f.toml", TEXT);
        let mut s = source.parse().expect("parses").table("s").expect("a table");
        let error = s.int("n", 4, 5).expect_err("3 < 4");
        assert_eq!(
            error.to_string(),
            "f.toml:3:5: key `s.n`: 3 is out of range 4..=5"
        );
        let error = s.int("r", 0, 5).expect_err("a float");
        assert!(
            error.message.contains("expected an integer, found a float"),
            "{error}"
        );
        assert_eq!(s.real("b", 0.0, 1.0).expect_err("bool").line, 5);
    }

    #[test]
    fn unread_keys_are_errors_naming_the_known_ones() {
        let source = Source::new("f.toml", "[s]\nknwon = 1\n");
        let mut root = source.parse().expect("parses");
        let s = root.table("s").expect("a table");
        let error = s.finish(&["known"]).expect_err("misspelt");
        assert_eq!(
            error.to_string(),
            "f.toml:2:1: key `s.knwon`: unknown key `knwon`; known keys: known"
        );
    }

    #[test]
    fn an_absent_table_is_empty_and_errors_point_at_the_file_start() {
        let source = Source::new("f.toml", "a = 1\n");
        let mut root = source.parse().expect("parses");
        let s = root.table("s").expect("absent is fine");
        assert!(!s.is_present());
        assert_eq!(s.error("k", "bad").line, 1);
        let error = root.table("a").expect_err("not a table");
        assert_eq!(error.key, "a");
    }
}
