//! A file's name and text: turning byte spans into lines, columns and dotted keys.

use std::ops::Range;

use toml::Spanned;

use crate::error::ConfigError;
use crate::node::Node;
use crate::table::Table;

/// The text being read and the name to report it under.
#[derive(Clone, Copy, Debug)]
pub struct Source<'a> {
    file: &'a str,
    text: &'a str,
}

/// Strips a `#` comment that is not inside a basic or literal string.
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    for (index, c) in line.char_indices() {
        match (quote, c) {
            (None, '#') => return line.get(..index).unwrap_or(line),
            (None, '"' | '\'') => quote = Some(c),
            (Some(open), c) if c == open => quote = None,
            _ => {}
        }
    }
    line
}

/// The table header a trimmed line declares (`[a.b]` or `[[a]]`), if it is one.
fn header_of(line: &str) -> Option<String> {
    let inner = line.strip_prefix('[')?.trim_end().strip_suffix(']')?;
    let inner = inner.trim_start_matches('[').trim_end_matches(']');
    Some(inner.trim().to_string())
}

/// The key a `key = value` line assigns, if it is one.
fn key_of(line: &str) -> Option<String> {
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"').trim_matches('\'');
    (!key.is_empty() && !key.contains(char::is_whitespace)).then(|| key.to_string())
}

impl<'a> Source<'a> {
    /// `text`, reported as `file`.
    pub fn new(file: &'a str, text: &'a str) -> Source<'a> {
        Source { file, text }
    }

    /// The file name.
    pub fn file(&self) -> &'a str {
        self.file
    }

    /// The text.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// 1-based (line, column) of a byte offset (clamped to the text).
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |index| index + 1);
        let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
        (line, column)
    }

    /// The offset of the first non-blank character on the line holding `offset` (where a
    /// key written as `key = value` starts).
    pub fn line_text_start(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line_start = before.rfind('\n').map_or(0, |index| index + 1);
        let line = self.text.get(line_start..).unwrap_or_default();
        let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
        line_start + indent
    }

    /// An error at `span` (the start of the file when `None`) about `key`.
    pub fn error(
        &self,
        span: Option<Range<usize>>,
        key: &str,
        message: impl Into<String>,
    ) -> ConfigError {
        let (line, column) = span.map_or((1, 1), |span| self.position(span.start));
        ConfigError {
            file: self.file.to_string(),
            line,
            column,
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// The dotted key path in effect at a byte offset: the nearest `key =` on or above that
    /// line within its table, prefixed by the table header. `with_key = false` gives the
    /// table alone.
    fn key_path_at(&self, offset: usize, with_key: bool) -> String {
        let offset = offset.min(self.text.len());
        let line_end = self
            .text
            .get(offset..)
            .and_then(|rest| rest.find('\n'))
            .map_or(self.text.len(), |index| offset + index);
        let upto = self.text.get(..line_end).unwrap_or(self.text);
        let mut key: Option<String> = None;
        for line in upto.lines().rev() {
            let line = strip_comment(line).trim();
            if let Some(header) = header_of(line) {
                return match key {
                    Some(key) if with_key => format!("{header}.{key}"),
                    _ => header,
                };
            }
            if with_key && key.is_none() {
                key = key_of(line);
            }
        }
        key.unwrap_or_default()
    }

    /// Turns a toml/serde error (syntax, unknown or missing field, wrong type) into one
    /// naming the file, line and key.
    pub fn syntax_error(&self, error: &toml::de::Error) -> ConfigError {
        let message = error.message().trim().to_string();
        let span = error.span();
        let offset = span.as_ref().map_or(0, |span| span.start);
        let backticked = message
            .split('`')
            .nth(1)
            .map(str::to_string)
            .unwrap_or_default();
        // A missing field of the root table comes with an empty span at 0; of a section,
        // with the section's span starting at its header.
        let root = span.as_ref().is_none_or(|span| span.is_empty());
        let key = if message.starts_with("missing field") {
            let table = if root {
                String::new()
            } else {
                self.key_path_at(offset, false)
            };
            if table.is_empty() {
                backticked
            } else {
                format!("{table}.{backticked}")
            }
        } else if message.starts_with("unknown field") && span.is_none() {
            backticked
        } else {
            self.key_path_at(offset, true)
        };
        self.error(span, &key, message)
    }

    /// Turns a `toml_edit` parse error into one naming the file, line and key.
    fn parse_error(&self, error: &toml_edit::TomlError) -> ConfigError {
        let span = error.span();
        let offset = span.as_ref().map_or(0, |span| span.start);
        let key = self.key_path_at(offset, true);
        let message = error.message().trim().to_string();
        self.error(span, &key, message)
    }

    /// Parses the whole text as the root table.
    pub fn parse(&self) -> Result<Table<'a>, ConfigError> {
        let document =
            toml_edit::ImDocument::parse(self.text).map_err(|error| self.parse_error(&error))?;
        let root: Spanned<Node> = Node::document(&document);
        let span = root.span();
        match root.into_inner() {
            Node::Table(entries) => Ok(Table::new(*self, String::new(), Some(span), entries)),
            _ => Err(self.error(Some(span), "", "the document is not a table")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let source = Source::new("f.toml", "a = 1\n[s]\nbé = 2\n");
        assert_eq!(source.position(0), (1, 1));
        assert_eq!(source.position(6), (2, 1));
        assert_eq!(source.position(14), (3, 4));
        assert_eq!(source.position(10_000), (4, 1));
    }

    #[test]
    fn syntax_errors_name_line_and_key() {
        let source = Source::new("f.toml", "[s]\nx = 1\ny = = 2\n");
        let error = source.parse().expect_err("bad syntax");
        assert_eq!((error.file.as_str(), error.line), ("f.toml", 3), "{error}");
        assert!(error.to_string().starts_with("f.toml:3:"), "{error}");
    }

    #[test]
    fn implied_tables_and_dotted_keys_read_like_written_ones() {
        for text in [
            "[a.b]\nc = 1\n",
            "[a]\nb.c = 1\n",
            "a.b.c = 1\n",
            "[a]\nb = { c = 1 }\n",
        ] {
            let source = Source::new("f.toml", text);
            let mut root = source.parse().unwrap_or_else(|e| panic!("{text:?}: {e}"));
            let mut b = root
                .table("a")
                .and_then(|mut a| a.table("b"))
                .expect("tables");
            assert_eq!(b.int("c", 0, 5).expect("an integer"), Some(1), "{text:?}");
            let error = b.int("c", 0, 5).expect("taken once");
            assert_eq!(error, None);
        }
        let source = Source::new("f.toml", "[a.b]\nc = 9\n");
        let mut b = source
            .parse()
            .and_then(|mut root| root.table("a")?.table("b"))
            .expect("ok");
        assert_eq!(b.int("c", 0, 5).expect_err("9 > 5").line, 2);
    }

    #[test]
    fn comments_and_quotes_do_not_confuse_the_key_finder() {
        let source = Source::new("f.toml", "[s] # the table\n\"k\" = 'a # b'\n");
        assert_eq!(source.key_path_at(20, true), "s.k");
        assert_eq!(source.key_path_at(20, false), "s");
    }
}
