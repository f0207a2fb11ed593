//! `.github/workflows/sim-shards.yml`, the CI matrix of shards, cannot run here; this test
//! checks what it can. The file is read by a strict reader of the YAML subset it is written
//! in (block mappings and sequences, plain and quoted scalars, flow sequences, literal
//! blocks, comments: anything else fails), cross-checked against PyYAML when `python3` has
//! it, and its structure is checked: a build job, a 4-way shard matrix running `sweep
//! --shard K/4 --format json` over every scenario file with that file's default seeds, and
//! a merge job running `raida-sim merge` on the shards' artifacts.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::{Map, Value};

use raida_sim::run::parse_seed_range;
use raida_sim::scenario::Scenario;

/// A line: its indentation and its text (comments not yet removed).
struct Line {
    indent: usize,
    text: String,
}

/// Reads the YAML subset into JSON values.
struct Yaml {
    lines: Vec<Line>,
    at: usize,
}

impl Yaml {
    fn new(text: &str) -> Result<Yaml, String> {
        let mut lines = Vec::new();
        for (number, raw) in text.lines().enumerate() {
            if raw.contains('\t') {
                return Err(format!("line {}: a tab", number + 1));
            }
            let text = raw.trim_start_matches(' ');
            lines.push(Line {
                indent: raw.len() - text.len(),
                text: text.to_string(),
            });
        }
        Ok(Yaml { lines, at: 0 })
    }

    /// Skips blank and comment lines; the next meaningful line (indent, text), if any.
    fn peek(&mut self) -> Option<(usize, String)> {
        while self
            .lines
            .get(self.at)
            .is_some_and(|l| l.text.is_empty() || l.text.starts_with('#'))
        {
            self.at += 1;
        }
        self.lines
            .get(self.at)
            .map(|line| (line.indent, line.text.clone()))
    }

    fn error(&self, what: &str) -> String {
        format!("line {}: {what}", self.at + 1)
    }

    fn document(&mut self) -> Result<Value, String> {
        let value = self.block(0)?;
        if self.peek().is_some() {
            return Err(self.error("content after the document"));
        }
        Ok(value)
    }

    fn block(&mut self, indent: usize) -> Result<Value, String> {
        let (found, text) = self.peek().ok_or("a block expected")?;
        if found != indent {
            return Err(self.error(&format!("indent {found} where {indent} expected")));
        }
        if text == "-" || text.starts_with("- ") {
            self.sequence(indent)
        } else {
            self.mapping(indent)
        }
    }

    fn sequence(&mut self, indent: usize) -> Result<Value, String> {
        let mut items = Vec::new();
        while let Some((found, text)) = self.peek() {
            if found < indent {
                break;
            }
            if found > indent || !text.starts_with("- ") {
                return Err(self.error("not a sequence item"));
            }
            let rest = text["- ".len()..].to_string();
            if split_key(&rest).is_some() {
                // `- key: value` opens a mapping indented past the dash.
                let line = &mut self.lines[self.at];
                line.indent = indent + 2;
                line.text = rest;
                items.push(self.mapping(indent + 2)?);
            } else {
                self.at += 1;
                items.push(scalar(&rest).map_err(|e| self.error(&e))?);
            }
        }
        Ok(Value::Array(items))
    }

    fn mapping(&mut self, indent: usize) -> Result<Value, String> {
        let mut map = Map::new();
        while let Some((found, text)) = self.peek() {
            if found < indent {
                break;
            }
            if found > indent {
                return Err(self.error("unexpected indent"));
            }
            let (key, rest) = split_key(&text).ok_or_else(|| self.error("not key: value"))?;
            let (key, rest) = (key.to_string(), strip_comment(rest).trim().to_string());
            self.at += 1;
            let value = if rest.is_empty() {
                match self.peek() {
                    Some((child, _)) if child > indent => self.block(child)?,
                    // `key:` alone is null.
                    _ => Value::Null,
                }
            } else if rest == "|" {
                self.literal(indent)?
            } else {
                scalar(&rest).map_err(|e| self.error(&e))?
            };
            if map.insert(key.clone(), value).is_some() {
                return Err(self.error(&format!("{key} twice")));
            }
        }
        Ok(Value::Object(map))
    }

    /// A `|` block: the lines indented past `parent`, that indent removed, one final
    /// newline kept.
    fn literal(&mut self, parent: usize) -> Result<Value, String> {
        let mut block_indent = None;
        let mut text = String::new();
        while let Some(line) = self.lines.get(self.at) {
            if line.text.is_empty() {
                text.push('\n');
                self.at += 1;
                continue;
            }
            if line.indent <= parent {
                break;
            }
            let indent = *block_indent.get_or_insert(line.indent);
            if line.indent < indent {
                return Err(self.error("a literal line less indented than the first"));
            }
            text.push_str(&" ".repeat(line.indent - indent));
            text.push_str(&line.text);
            text.push('\n');
            self.at += 1;
        }
        let trimmed = text.trim_end_matches('\n');
        Ok(Value::String(format!("{trimmed}\n")))
    }
}

/// `key: rest` or `key:` (a plain key of letters, digits, `-` and `_`).
fn split_key(text: &str) -> Option<(&str, &str)> {
    let (key, rest) = text.split_once(':')?;
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    (plain && (rest.is_empty() || rest.starts_with(' '))).then_some((key, rest))
}

/// Text before a ` #` comment outside quotes.
fn strip_comment(text: &str) -> &str {
    let mut quote = None;
    let mut previous = ' ';
    for (index, c) in text.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(open), c) if c == open => quote = None,
            (None, '#') if previous == ' ' => return &text[..index],
            _ => {}
        }
        previous = c;
    }
    text
}

fn scalar(text: &str) -> Result<Value, String> {
    let text = strip_comment(text).trim();
    if let Some(inner) = text.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or("an unclosed [")?;
        return inner
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(scalar)
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array);
    }
    if let Some(inner) = text.strip_prefix('"') {
        let inner = inner.strip_suffix('"').ok_or("an unclosed \"")?;
        if inner.contains('\\') || inner.contains('"') {
            return Err(format!("escapes in {text} are outside the subset"));
        }
        return Ok(Value::String(inner.into()));
    }
    if let Some(inner) = text.strip_prefix('\'') {
        let inner = inner.strip_suffix('\'').ok_or("an unclosed '")?;
        return Ok(Value::String(inner.replace("''", "'")));
    }
    if text.starts_with(['{', '&', '*', '!', '%', '@', '`', '|', '>']) {
        return Err(format!("{text:?} is outside the subset"));
    }
    Ok(match text {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" | "~" => Value::Null,
        _ => text
            .parse::<i64>()
            .map_or_else(|_| Value::String(text.into()), Value::from),
    })
}

fn workflow() -> (String, Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.github/workflows/sim-shards.yml");
    let text = std::fs::read_to_string(path).expect("the workflow exists");
    let value = Yaml::new(&text)
        .and_then(|mut yaml| yaml.document())
        .unwrap_or_else(|error| panic!("sim-shards.yml: {error}"));
    (text, value)
}

fn get<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(value, |value, key| {
        value
            .get(*key)
            .unwrap_or_else(|| panic!("{} missing", path.join(".")))
    })
}

fn steps<'a>(value: &'a Value, job: &str) -> &'a Vec<Value> {
    get(value, &["jobs", job, "steps"])
        .as_array()
        .expect("steps are a list")
}

/// The `run` scripts of a job's steps, joined.
fn scripts(value: &Value, job: &str) -> String {
    steps(value, job)
        .iter()
        .filter_map(|step| step.get("run").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `with` of the job's steps that use `action`.
fn uses<'a>(value: &'a Value, job: &str, action: &str) -> Vec<&'a Value> {
    steps(value, job)
        .iter()
        .filter(|step| step.get("uses").and_then(Value::as_str) == Some(action))
        .map(|step| step.get("with").unwrap_or(&Value::Null))
        .collect()
}

#[test]
fn the_reader_refuses_what_it_does_not_know() {
    for bad in [
        "a: 1\na: 2\n",
        "a:\n\tb: 1\n",
        "a: {b: 1}\n",
        "a: &x 1\n",
        "a:\n  - 1\n   - 2\n",
        "a: [1, 2\n",
        "a:\n- 1\n",
    ] {
        assert!(
            Yaml::new(bad).and_then(|mut y| y.document()).is_err(),
            "{bad:?}"
        );
    }
    let good =
        "a: 1 # c\nb:\n  - x: 'y'\n    z: [1, two]\n  - w\nc: |\n  l1\n    l2\n\nd: \"s #\"\ne:\n";
    let value = Yaml::new(good)
        .and_then(|mut y| y.document())
        .expect("reads");
    assert_eq!(
        value,
        serde_json::json!({"a": 1, "b": [{"x": "y", "z": [1, "two"]}, "w"], "c": "l1\n  l2\n", "d": "s #", "e": null})
    );
}

#[test]
fn the_workflow_shards_every_scenario_and_merges_them() {
    let (text, value) = workflow();
    let on = get(&value, &["on"]);
    assert!(on.get("pull_request").is_some() && on.get("push").is_some());

    let build = uses(&value, "build", "actions/upload-artifact@v4");
    assert_eq!(build.len(), 1);
    assert_eq!(get(build[0], &["name"]), "raida-sim");
    assert!(scripts(&value, "build").contains("cargo build --release --locked -p raida-sim"));

    assert_eq!(get(&value, &["jobs", "shards", "needs"]), "build");
    let matrix = get(&value, &["jobs", "shards", "strategy", "matrix", "shard"]);
    assert_eq!(matrix, &serde_json::json!([1, 2, 3, 4]));
    assert_eq!(
        get(&value, &["jobs", "shards", "strategy", "fail-fast"]),
        false
    );
    let shard_script = scripts(&value, "shards");
    for needle in [
        "bin/raida-sim sweep \"scenarios/$name.toml\" --seeds \"$seeds\"",
        "--shard \"${{ matrix.shard }}/4\"",
        "--format json > \"results/$name.jsonl\"",
    ] {
        assert!(shard_script.contains(needle), "{needle} in {shard_script}");
    }
    let uploads = uses(&value, "shards", "actions/upload-artifact@v4");
    assert_eq!(get(uploads[0], &["name"]), "shard-${{ matrix.shard }}");
    assert_eq!(get(uploads[0], &["path"]), "results/");

    // Every scenario file, with its default seeds, and nothing else.
    let listed: BTreeMap<String, Vec<u64>> = shard_script
        .split("<<'SCENARIOS'\n")
        .nth(1)
        .and_then(|rest| rest.split("\nSCENARIOS").next())
        .expect("a SCENARIOS list")
        .lines()
        .map(|line| {
            let (name, seeds) = line.split_once(' ').expect("NAME SEEDS");
            let seeds = parse_seed_range(seeds).expect("a seed range").collect();
            (name.to_string(), seeds)
        })
        .collect();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("scenarios/") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) == Some("toml") {
            let scenario = Scenario::load(&path).expect("a scenario");
            let stem = path.file_stem().and_then(|s| s.to_str()).expect("name");
            files.insert(stem.to_string(), scenario.seeds);
        }
    }
    assert_eq!(listed, files, "the workflow's list against scenarios/");

    assert_eq!(get(&value, &["jobs", "merge", "needs"]), "shards");
    let downloads = uses(&value, "merge", "actions/download-artifact@v4");
    assert!(downloads
        .iter()
        .any(|with| with.get("pattern") == Some(&"shard-*".into())));
    let merge_script = scripts(&value, "merge");
    assert!(
        merge_script.contains("bin/raida-sim merge \"$file\" shards/shard-*/\"$name.jsonl\""),
        "{merge_script}"
    );
    assert!(merge_script.contains("exit \"$failed\""));
    // Every action is pinned to a major version.
    for line in text
        .lines()
        .filter(|l| l.trim_start().starts_with("- uses:"))
    {
        assert!(line.contains("@v"), "{line}");
    }
    cross_check_with_pyyaml(&text, &value);
}

/// When `python3` has PyYAML, its reading of the file must equal ours (YAML 1.1 reads the
/// `on` key as `true`; GitHub reads it as `on`).
fn cross_check_with_pyyaml(text: &str, value: &Value) {
    let script = "import json, sys\n\
        try:\n    import yaml\nexcept ImportError:\n    print('null'); sys.exit(0)\n\
        doc = yaml.safe_load(sys.stdin.read())\n\
        doc = {('on' if k is True else k): v for k, v in doc.items()}\n\
        print(json.dumps(doc))\n";
    let child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        eprintln!("python3 not found: PyYAML cross-check skipped");
        return;
    };
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write as _;
        stdin
            .write_all(text.as_bytes())
            .expect("python3 reads stdin");
    }
    let output = child.wait_with_output().expect("python3 runs");
    assert!(output.status.success(), "PyYAML cannot read the workflow");
    let theirs: Value = serde_json::from_slice(&output.stdout).expect("JSON from python3");
    if theirs.is_null() {
        eprintln!("python3 has no PyYAML: cross-check skipped");
        return;
    }
    assert_eq!(&theirs, value, "PyYAML reads the workflow differently");
}
