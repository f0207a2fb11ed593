//! JUnit XML results (`--junit FILE` of `run`, `sweep`, `compare` and `merge`), so CI systems
//! show a scenario's seeds as test cases.
//!
//! One `<testsuite>` per scenario (or per comparison), one `<testcase>` per seed (classname =
//! the scenario's name, name = `seed N`). Each unexpected violation, panic, host failure or
//! non-deterministic digest is a `<failure>` whose text carries the detail and the command
//! that replays it; expected violations are `<system-out>` lines. A scenario judged over its
//! default seeds gets one more case, `must_find`, failing for each invariant no seed
//! violated (`<skipped>` when not every default seed ran).
//!
//! The XML is written by hand ([`TestSuites::to_xml`]): text and attributes are escaped,
//! characters XML 1.0 forbids are replaced. [`parse`] reads any such document back into an
//! element tree; the tests use it to check that what is written is well-formed.

use std::fmt::Write as _;

use crate::report::{replay_command, Outcome, SeedReport};
use crate::run::SeedRun;
use crate::scenario::Scenario;

/// One `<failure>`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Failure {
    /// The `type` attribute: an invariant name, `panic`, `host_failure`, `must_find`, ...
    pub kind: String,
    /// The `message` attribute: one line.
    pub message: String,
    /// The element's text: the detail and the replay command.
    pub detail: String,
}

/// One `<testcase>`.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct TestCase {
    /// The `classname` attribute (the scenario's name).
    pub classname: String,
    /// The `name` attribute (`seed N`).
    pub name: String,
    /// Wall time, seconds.
    pub time_s: f64,
    /// Why it failed (empty when it passed).
    pub failures: Vec<Failure>,
    /// Set when the case was not judged, with the reason.
    pub skipped: Option<String>,
    /// `<system-out>` lines (expected violations).
    pub system_out: Vec<String>,
}

/// One `<testsuite>`.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct TestSuite {
    /// The `name` attribute.
    pub name: String,
    /// Its cases, in seed order.
    pub cases: Vec<TestCase>,
}

/// A `<testsuites>` document.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct TestSuites {
    /// Every suite.
    pub suites: Vec<TestSuite>,
}

impl TestCase {
    /// One seed's case: each unexpected violation (or the panic, or the host failure) a
    /// failure, each expected violation a `<system-out>` line.
    pub fn for_seed(scenario: &Scenario, run: &SeedRun) -> TestCase {
        let replay = replay_command(&scenario.file_name, run.seed);
        let mut case = TestCase {
            classname: scenario.name.clone(),
            name: format!("seed {}", run.seed),
            time_s: run.wall.as_secs_f64(),
            ..TestCase::default()
        };
        match &run.result {
            Err(panic) => case.failures.push(Failure {
                kind: "panic".into(),
                message: format!("seed {} panicked: {}", run.seed, first_line(panic)),
                detail: format!("{panic}\nreplay: {replay}"),
            }),
            Ok(report) => case.add_report(report, &replay),
        }
        case
    }

    fn add_report(&mut self, report: &SeedReport, replay: &str) {
        if let Some(error) = &report.error {
            self.failures.push(Failure {
                kind: "host_failure".into(),
                message: format!("host software failed: {}", first_line(error)),
                detail: format!("{error}\nreplay: {replay}"),
            });
        }
        for violation in &report.violations {
            if report.outcome.is_unexpected(violation) {
                self.failures.push(Failure {
                    kind: violation.invariant.name().into(),
                    message: format!("unexpected {}", first_line(&violation.to_string())),
                    detail: format!("{violation}\nreplay: {replay}"),
                });
            } else {
                self.system_out.push(format!("expected {violation}"));
            }
        }
        self.system_out.push(format!("digest {}", report.digest));
    }

    /// The `must_find` case of a seed list: a failure per invariant no seed violated, or
    /// skipped when not every default seed ran.
    pub fn must_find(scenario: &Scenario, outcome: &Outcome) -> TestCase {
        let mut case = TestCase {
            classname: scenario.name.clone(),
            name: "must_find".into(),
            ..TestCase::default()
        };
        if !outcome.must_find_judged {
            case.skipped = Some("not every default seed was run".into());
        }
        for invariant in &outcome.missing_must_find {
            case.failures.push(Failure {
                kind: "must_find".into(),
                message: format!("no default seed violated {invariant}"),
                detail: format!(
                    "expect.must_find lists {invariant}; seeds run: {:?}",
                    scenario.seeds
                ),
            });
        }
        case
    }
}

impl TestSuite {
    /// A scenario's suite: one case per run, then the `must_find` case.
    pub fn for_runs(scenario: &Scenario, runs: &[SeedRun], outcome: &Outcome) -> TestSuite {
        let mut cases: Vec<TestCase> = runs
            .iter()
            .map(|run| TestCase::for_seed(scenario, run))
            .collect();
        cases.push(TestCase::must_find(scenario, outcome));
        TestSuite {
            name: scenario.name.clone(),
            cases,
        }
    }

    /// Cases with at least one failure.
    pub fn failed_count(&self) -> usize {
        self.cases.iter().filter(|c| !c.failures.is_empty()).count()
    }

    fn skipped_count(&self) -> usize {
        self.cases.iter().filter(|c| c.skipped.is_some()).count()
    }

    fn time_s(&self) -> f64 {
        self.cases.iter().map(|case| case.time_s).sum()
    }
}

impl TestSuites {
    /// A document of one suite.
    pub fn one(suite: TestSuite) -> TestSuites {
        TestSuites {
            suites: vec![suite],
        }
    }

    /// The XML document.
    pub fn to_xml(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let tests: usize = self.suites.iter().map(|s| s.cases.len()).sum();
        let failures: usize = self.suites.iter().map(TestSuite::failed_count).sum();
        let time_s: f64 = self.suites.iter().map(TestSuite::time_s).sum();
        let _ = writeln!(
            out,
            "<testsuites name=\"raida-sim\" tests=\"{tests}\" failures=\"{failures}\" \
             errors=\"0\" time=\"{time_s:.3}\">"
        );
        for suite in &self.suites {
            write_suite(&mut out, suite);
        }
        out.push_str("</testsuites>\n");
        out
    }
}

fn write_suite(out: &mut String, suite: &TestSuite) {
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" \
         time=\"{:.3}\">",
        escape_attribute(&suite.name),
        suite.cases.len(),
        suite.failed_count(),
        suite.skipped_count(),
        suite.time_s()
    );
    for case in &suite.cases {
        write_case(out, case);
    }
    out.push_str("  </testsuite>\n");
}

fn write_case(out: &mut String, case: &TestCase) {
    let _ = write!(
        out,
        "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
        escape_attribute(&case.classname),
        escape_attribute(&case.name),
        case.time_s
    );
    if case.failures.is_empty() && case.skipped.is_none() && case.system_out.is_empty() {
        out.push_str("/>\n");
        return;
    }
    out.push_str(">\n");
    if let Some(reason) = &case.skipped {
        let _ = writeln!(
            out,
            "      <skipped message=\"{}\"/>",
            escape_attribute(reason)
        );
    }
    for failure in &case.failures {
        let _ = writeln!(
            out,
            "      <failure type=\"{}\" message=\"{}\">{}</failure>",
            escape_attribute(&failure.kind),
            escape_attribute(&failure.message),
            escape_text(&failure.detail)
        );
    }
    if !case.system_out.is_empty() {
        let _ = writeln!(
            out,
            "      <system-out>{}</system-out>",
            escape_text(&case.system_out.join("\n"))
        );
    }
    out.push_str("    </testcase>\n");
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// A character XML 1.0 allows in a document.
fn allowed_in_xml(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        || c >= '\u{10000}'
}

/// Element text: `&`, `<`, `>` escaped; forbidden characters replaced by U+FFFD.
pub fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if allowed_in_xml(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// An attribute value in double quotes: as [`escape_text`], plus quotes and the whitespace
/// characters attribute normalisation would otherwise turn into spaces.
pub fn escape_attribute(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push_str(&escape_text(&c.to_string())),
        }
    }
    out
}

/// One element read back by [`parse`].
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Element {
    /// The tag name.
    pub name: String,
    /// Attributes, in document order, values unescaped.
    pub attributes: Vec<(String, String)>,
    /// Child elements, in order.
    pub children: Vec<Element>,
    /// All text directly inside it, unescaped.
    pub text: String,
}

impl Element {
    /// The value of attribute `name`.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Children named `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |child| child.name == name)
    }
}

/// Reads an XML document (declaration, comments, elements, attributes, text, the five
/// named entities and character references; no DTD, CDATA or processing instructions
/// beyond the declaration) into its root element. Anything else, or anything not
/// well-formed, is an error naming the byte offset.
pub fn parse(text: &str) -> Result<Element, String> {
    let mut reader = Reader { text, at: 0 };
    reader.skip_prolog()?;
    let root = reader.element()?;
    reader.skip_misc()?;
    if reader.at != text.len() {
        return Err(reader.error("content after the root element"));
    }
    Ok(root)
}

struct Reader<'t> {
    text: &'t str,
    at: usize,
}

impl Reader<'_> {
    fn rest(&self) -> &str {
        self.text.get(self.at..).unwrap_or_default()
    }

    fn error(&self, what: &str) -> String {
        format!("XML byte {}: {what}", self.at)
    }

    fn eat(&mut self, prefix: &str) -> bool {
        let found = self.rest().starts_with(prefix);
        if found {
            self.at += prefix.len();
        }
        found
    }

    fn expect(&mut self, prefix: &str) -> Result<(), String> {
        if self.eat(prefix) {
            Ok(())
        } else {
            Err(self.error(&format!("expected {prefix:?}")))
        }
    }

    fn skip_space(&mut self) {
        let trimmed = self
            .rest()
            .trim_start_matches([' ', '\t', '\n', '\r'])
            .len();
        self.at = self.text.len() - trimmed;
    }

    fn until(&mut self, end: &str) -> Result<&str, String> {
        let start = self.at;
        let length = self
            .rest()
            .find(end)
            .ok_or_else(|| self.error(&format!("no closing {end:?}")))?;
        self.at += length + end.len();
        Ok(self.text.get(start..start + length).unwrap_or_default())
    }

    fn skip_prolog(&mut self) -> Result<(), String> {
        if self.eat("<?xml") {
            self.until("?>")?;
        }
        self.skip_misc()
    }

    fn skip_misc(&mut self) -> Result<(), String> {
        loop {
            self.skip_space();
            if self.eat("<!--") {
                self.until("-->")?;
            } else {
                return Ok(());
            }
        }
    }

    fn name(&mut self) -> Result<String, String> {
        let length = self
            .rest()
            .find(|c: char| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
            .unwrap_or(self.rest().len());
        if length == 0 {
            return Err(self.error("expected a name"));
        }
        let name = self.rest().get(..length).unwrap_or_default().to_string();
        self.at += length;
        Ok(name)
    }

    fn element(&mut self) -> Result<Element, String> {
        self.expect("<")?;
        let mut element = Element {
            name: self.name()?,
            ..Element::default()
        };
        loop {
            self.skip_space();
            if self.eat("/>") {
                return Ok(element);
            }
            if self.eat(">") {
                break;
            }
            let key = self.name()?;
            if element.attribute(&key).is_some() {
                return Err(self.error(&format!("attribute {key} twice")));
            }
            self.skip_space();
            self.expect("=")?;
            self.skip_space();
            let quote = if self.eat("\"") { "\"" } else { "'" };
            if quote == "'" {
                self.expect("'")?;
            }
            let raw = self.until(quote)?.to_string();
            if raw.contains('<') {
                return Err(self.error("'<' in an attribute value"));
            }
            element
                .attributes
                .push((key, unescape(&raw).map_err(|e| self.error(&e))?));
        }
        self.content(&mut element)?;
        Ok(element)
    }

    fn content(&mut self, element: &mut Element) -> Result<(), String> {
        loop {
            let text_length = self.rest().find('<').unwrap_or(self.rest().len());
            let raw = self
                .rest()
                .get(..text_length)
                .unwrap_or_default()
                .to_string();
            if raw.contains('>') && raw.contains("]]>") {
                return Err(self.error("']]>' in text"));
            }
            element
                .text
                .push_str(&unescape(&raw).map_err(|e| self.error(&e))?);
            self.at += text_length;
            if self.rest().is_empty() {
                return Err(self.error(&format!("<{}> is never closed", element.name)));
            }
            if self.eat("</") {
                let name = self.name()?;
                if name != element.name {
                    return Err(self.error(&format!("</{name}> closes <{}>", element.name)));
                }
                self.skip_space();
                return self.expect(">");
            }
            if self.eat("<!--") {
                self.until("-->")?;
                continue;
            }
            element.children.push(self.element()?);
        }
    }
}

/// Text with entity and character references replaced; a bare `&` is an error.
fn unescape(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('&') {
        out.push_str(rest.get(..at).unwrap_or_default());
        let after = rest.get(at + 1..).unwrap_or_default();
        let end = after
            .find(';')
            .ok_or_else(|| format!("unterminated reference in {raw:?}"))?;
        let name = after.get(..end).unwrap_or_default();
        out.push(reference(name)?);
        rest = after.get(end + 1..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(out)
}

fn reference(name: &str) -> Result<char, String> {
    let code = |digits: &str, radix: u32| {
        u32::from_str_radix(digits, radix)
            .ok()
            .and_then(char::from_u32)
            .filter(|c| allowed_in_xml(*c))
    };
    let found = match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => match name.strip_prefix("#x") {
            Some(hex) => code(hex, 16),
            None => name.strip_prefix('#').and_then(|digits| code(digits, 10)),
        },
    };
    found.ok_or_else(|| format!("unknown reference &{name};"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TestSuites {
        TestSuites::one(TestSuite {
            name: "loss & \"friends\"".into(),
            cases: vec![
                TestCase {
                    classname: "loss".into(),
                    name: "seed 0".into(),
                    time_s: 1.5,
                    ..TestCase::default()
                },
                TestCase {
                    classname: "loss".into(),
                    name: "seed 1".into(),
                    time_s: 0.25,
                    failures: vec![Failure {
                        kind: "ack_durable".into(),
                        message: "unexpected <ack_durable> at 1.0s: 'x' & \"y\"\n".into(),
                        detail: "a < b && c > d ]]> \u{1} end\nreplay: cargo run".into(),
                    }],
                    skipped: None,
                    system_out: vec!["expected one".into(), "expected <two>".into()],
                },
                TestCase {
                    classname: "loss".into(),
                    name: "must_find".into(),
                    skipped: Some("not every default seed was run".into()),
                    ..TestCase::default()
                },
            ],
        })
    }

    #[test]
    fn written_xml_reads_back_with_every_value() {
        let xml = sample().to_xml();
        let root = parse(&xml).unwrap_or_else(|error| panic!("{error}\n{xml}"));
        assert_eq!(root.name, "testsuites");
        assert_eq!(root.attribute("tests"), Some("3"));
        assert_eq!(root.attribute("failures"), Some("1"));
        let suite = root.children_named("testsuite").next().expect("a suite");
        assert_eq!(suite.attribute("name"), Some("loss & \"friends\""));
        assert_eq!(suite.attribute("skipped"), Some("1"));
        assert_eq!(suite.attribute("time"), Some("1.750"));
        let cases: Vec<&Element> = suite.children_named("testcase").collect();
        assert_eq!(cases.len(), 3);
        assert_eq!(cases[1].attribute("name"), Some("seed 1"));
        let failure = cases[1].children_named("failure").next().expect("failure");
        assert_eq!(failure.attribute("type"), Some("ack_durable"));
        assert_eq!(
            failure.attribute("message"),
            Some("unexpected <ack_durable> at 1.0s: 'x' & \"y\"\n")
        );
        assert_eq!(
            failure.text,
            "a < b && c > d ]]> \u{FFFD} end\nreplay: cargo run"
        );
        let out = cases[1].children_named("system-out").next().expect("out");
        assert_eq!(out.text, "expected one\nexpected <two>");
        assert!(cases[2].children_named("skipped").next().is_some());
    }

    #[test]
    fn the_reader_refuses_what_is_not_well_formed() {
        for bad in [
            "<a>",
            "<a></b>",
            "<a x=\"1\" x=\"2\"/>",
            "<a>&bogus;</a>",
            "<a>& b</a>",
            "<a x=\"<\"/>",
            "<a/><b/>",
            "<a>&#0;</a>",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let good = parse("<?xml version=\"1.0\"?>\n<!-- c --><a k='v'>x&#65;&#x42;<b/></a>\n")
            .expect("well-formed");
        assert_eq!(good.attribute("k"), Some("v"));
        assert_eq!(good.text, "xAB");
        assert_eq!(good.children.len(), 1);
    }
}
