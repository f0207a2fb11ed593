//! Settings from the command line: `(name, text)` pairs applied after the config file, and
//! the `raida` flags that collect them, generated from the knob list.
//!
//! Every knob of [`Settings`] is a flag of the same name in kebab case (`ping_timeout_status`
//! → `--ping-timeout-status VALUE`); a boolean knob also takes the bare flag for `true`. The
//! `[rate_limit]` table's knobs are `--rate-limit-requests-max` and `--rate-limit-window-s`
//! (both needed unless the config file has the table), and `--no-rate-limit` turns the
//! file's limit off. A value is checked by the knob's own rule when the command line is
//! parsed, so a bad one stops `raida` with exit status 2 and a message naming the flag and
//! the rule (`--ping-timeout-status: 99 is not one of 17, 245`). `clap::Args` is implemented
//! by hand: the flags are not written anywhere but in the knob list.

use std::ffi::OsStr;
use std::fmt;

use clap::builder::TypedValueParser;
use clap::error::ErrorKind;
use clap::{Arg, ArgAction, ArgMatches, Command};
use knobs::{Knob, Knobs, Value, Visitor};

use super::{RateLimit, Settings, RATE_LIMIT_KEY};

/// The clap id of `--no-rate-limit`.
const NO_RATE_LIMIT_ID: &str = "no_rate_limit";

/// The text of the `rate_limit` override that turns the limit off.
pub const RATE_LIMIT_OFF: &str = "off";

/// A refused override: the flag it came from and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OverrideError {
    /// The flag (`--ping-timeout-status`).
    pub flag: String,
    /// The rule it broke (`99 is not one of 17, 245`).
    pub message: String,
}

impl fmt::Display for OverrideError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.flag, self.message)
    }
}

impl std::error::Error for OverrideError {}

/// The flag of an override name: `--` and the name in kebab case.
pub fn flag_of(name: &str) -> String {
    format!("--{}", name.replace(['_', '.'], "-"))
}

/// Settings given as `(name, text)` pairs, applied in order on top of the config file.
///
/// Names are the config keys: a [`Settings`] knob (`ping_timeout_s`), a rate-limit knob
/// (`rate_limit.window_s`), or `rate_limit` with the text [`RATE_LIMIT_OFF`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SettingsOverrides {
    pairs: Vec<(String, String)>,
}

impl SettingsOverrides {
    /// No override.
    pub fn new() -> SettingsOverrides {
        SettingsOverrides::default()
    }

    /// Adds `name = text` (a later pair for the same name wins).
    pub fn set(&mut self, name: impl Into<String>, text: impl Into<String>) -> &mut Self {
        self.pairs.push((name.into(), text.into()));
        self
    }

    /// These overrides and `name = text`.
    pub fn with(mut self, name: impl Into<String>, text: impl Into<String>) -> Self {
        self.set(name, text);
        self
    }

    /// The pairs, in the order they apply.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Whether there is no override.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Sets every pair on `settings`, each by its knob's rule; on an error `settings` is
    /// unchanged. A rate limit the file did not have needs both of its knobs.
    pub fn apply(&self, settings: &mut Settings) -> Result<(), OverrideError> {
        let mut next = settings.clone();
        let mut limit: Option<RateLimit> = None;
        let mut limit_off = false;
        for (name, text) in &self.pairs {
            if name == RATE_LIMIT_KEY {
                if text != RATE_LIMIT_OFF {
                    let message = format!("expected `{RATE_LIMIT_OFF}`, got {text:?}");
                    return Err(refused(name, message));
                }
                limit_off = true;
            } else if let Some(knob) = rate_limit_knob(name) {
                let base = next.rate_limit.unwrap_or(RateLimit::unset());
                assign_known(limit.get_or_insert(base), name, knob, text)?;
            } else {
                assign_known(&mut next, name, name, text)?;
            }
        }
        if limit_off {
            if limit.is_some() {
                let message = "a rate limit cannot be both set and turned off";
                return Err(refused(NO_RATE_LIMIT_ID, message));
            }
            next.rate_limit = None;
        } else if let Some(mut staged) = limit {
            if let Err((missing, _)) = knobs::check(&mut staged) {
                return Err(self.half_rate_limit(missing));
            }
            next.rate_limit = Some(staged);
        }
        *settings = next;
        Ok(())
    }

    /// The error for a rate limit whose knob `missing` was given neither here nor in a file.
    fn half_rate_limit(&self, missing: &str) -> OverrideError {
        let message = format!(
            "a rate limit needs {} too (or a [{RATE_LIMIT_KEY}] table in the config file)",
            flag_of(&format!("{RATE_LIMIT_KEY}.{missing}"))
        );
        let given = self
            .pairs
            .iter()
            .find(|(name, _)| rate_limit_knob(name).is_some())
            .map_or(RATE_LIMIT_KEY, |(name, _)| name.as_str());
        refused(given, message)
    }
}

/// The rate-limit knob an override name sets (`rate_limit.window_s` → `window_s`).
fn rate_limit_knob(name: &str) -> Option<&str> {
    name.strip_prefix(RATE_LIMIT_KEY)?.strip_prefix('.')
}

fn refused(name: &str, message: impl Into<String>) -> OverrideError {
    OverrideError {
        flag: flag_of(name),
        message: message.into(),
    }
}

/// Sets knob `knob` of `target` from `text`; an unknown knob is refused under `name`.
fn assign_known(
    target: &mut dyn Knobs,
    name: &str,
    knob: &str,
    text: &str,
) -> Result<(), OverrideError> {
    match knobs::assign(target, knob, text) {
        Ok(true) => Ok(()),
        Ok(false) => Err(refused(name, "no such setting")),
        Err(message) => Err(refused(name, message)),
    }
}

/// Checks `text` for the override `name` by its knob's rule, on scratch settings.
fn check_one(name: &str, text: &str) -> Result<(), OverrideError> {
    match rate_limit_knob(name) {
        Some(knob) => assign_known(&mut RateLimit::unset(), name, knob, text),
        None => assign_known(&mut Settings::default(), name, name, text),
    }
}

/// One generated flag.
#[derive(Debug)]
struct FlagSpec {
    /// The override name, also the clap id.
    name: String,
    /// The help line.
    help: String,
    /// What the value looks like.
    value_name: &'static str,
    /// A boolean: the bare flag means `true`.
    is_bool: bool,
}

/// What a knob accepts, in words, and a name for its value.
fn rule_of(knob: &Knob<'_>) -> (String, &'static str) {
    match &knob.value {
        Value::Int { allowed, .. } if !allowed.is_empty() => {
            let list: Vec<String> = allowed.iter().map(i64::to_string).collect();
            (format!("one of {}", list.join(", ")), "N")
        }
        Value::Int { min, max, .. } => (format!("{min}..={max}"), "N"),
        Value::Real { min, max, .. } => (format!("{min}..={max}"), "X"),
        Value::Bool(_) => ("true or false; the bare flag is true".to_string(), "BOOL"),
        Value::Choice(choice) => (format!("one of {}", choice.names().join(", ")), "NAME"),
        Value::Names { known, .. } => {
            (format!("comma-separated, of {}", known.join(", ")), "NAMES")
        }
        Value::Text { .. } => ("a relative path".to_string(), "PATH"),
    }
}

/// Collects one [`FlagSpec`] per knob, names prefixed with `prefix`.
struct SpecCollector {
    prefix: &'static str,
    has_default: bool,
    specs: Vec<FlagSpec>,
}

impl Visitor for SpecCollector {
    fn knob(&mut self, knob: Knob<'_>) {
        let name = format!("{}{}", self.prefix, knob.name);
        let (rule, value_name) = rule_of(&knob);
        let note = if self.has_default {
            format!("default {}", knob.render())
        } else {
            "no default: give both rate-limit flags, or one and a config table".to_string()
        };
        self.specs.push(FlagSpec {
            help: format!("Setting `{name}`: {rule} ({note})"),
            name,
            value_name,
            is_bool: matches!(knob.value, Value::Bool(_)),
        });
    }
}

/// Every generated flag, in knob order: the settings, then the rate limit's.
fn flag_specs() -> Vec<FlagSpec> {
    let mut collector = SpecCollector {
        prefix: "",
        has_default: true,
        specs: Vec::new(),
    };
    Settings::default().visit(&mut collector);
    collector.prefix = "rate_limit.";
    collector.has_default = false;
    RateLimit::unset().visit(&mut collector);
    collector.specs
}

/// Checks a flag's value by its knob's rule while clap parses the command line.
#[derive(Clone, Debug)]
struct KnobValueParser {
    name: String,
}

impl TypedValueParser for KnobValueParser {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &Command,
        _arg: Option<&Arg>,
        value: &OsStr,
    ) -> Result<String, clap::Error> {
        let fail = |error: OverrideError| {
            clap::Error::raw(ErrorKind::ValueValidation, format!("{error}\n")).with_cmd(cmd)
        };
        let text = value
            .to_str()
            .ok_or_else(|| fail(refused(&self.name, "the value is not UTF-8")))?;
        check_one(&self.name, text).map_err(fail)?;
        Ok(text.to_string())
    }
}

impl clap::FromArgMatches for SettingsOverrides {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut overrides = SettingsOverrides::new();
        overrides.update_from_arg_matches(matches)?;
        Ok(overrides)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        for spec in flag_specs() {
            if let Some(text) = matches.get_one::<String>(&spec.name) {
                self.set(spec.name, text.clone());
            }
        }
        if matches.get_flag(NO_RATE_LIMIT_ID) {
            self.set(RATE_LIMIT_KEY, RATE_LIMIT_OFF);
        }
        Ok(())
    }
}

/// The long name of a flag (without its dashes).
fn long_of(name: &str) -> String {
    flag_of(name).trim_start_matches('-').to_string()
}

impl clap::Args for SettingsOverrides {
    fn augment_args(mut cmd: Command) -> Command {
        let mut rate_limit_ids = Vec::new();
        for spec in flag_specs() {
            if rate_limit_knob(&spec.name).is_some() {
                rate_limit_ids.push(spec.name.clone());
            }
            let mut arg = Arg::new(spec.name.clone())
                .long(long_of(&spec.name))
                .value_name(spec.value_name)
                .help(spec.help)
                .action(ArgAction::Set)
                .value_parser(KnobValueParser { name: spec.name });
            if spec.is_bool {
                arg = arg.num_args(0..=1).default_missing_value("true");
            }
            cmd = cmd.arg(arg);
        }
        cmd.arg(
            Arg::new(NO_RATE_LIMIT_ID)
                .long(long_of(NO_RATE_LIMIT_ID))
                .help(format!(
                    "Turn the [{RATE_LIMIT_KEY}] of the config file off"
                ))
                .action(ArgAction::SetTrue)
                .conflicts_with_all(rate_limit_ids),
        )
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        SettingsOverrides::augment_args(cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{DeleteOnRead, ResponseCounterSetting};
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        overrides: SettingsOverrides,
    }

    fn parse(args: &[&str]) -> Result<SettingsOverrides, clap::Error> {
        Flags::try_parse_from(std::iter::once("raida").chain(args.iter().copied()))
            .map(|flags| flags.overrides)
    }

    fn applied(args: &[&str]) -> Result<Settings, OverrideError> {
        let mut settings = Settings::default();
        parse(args).expect("parses").apply(&mut settings)?;
        Ok(settings)
    }

    #[test]
    fn every_knob_has_its_flag() {
        let help = Flags::try_parse_from(["raida", "--help"])
            .expect_err("help")
            .to_string();
        let knob_flags: Vec<String> = knobs::print(&mut Settings::default())
            .into_iter()
            .map(|(name, _)| flag_of(&name))
            .collect();
        assert_eq!(knob_flags.len(), 17);
        let others = [
            "--rate-limit-requests-max",
            "--rate-limit-window-s",
            "--no-rate-limit",
        ];
        for flag in knob_flags.iter().map(String::as_str).chain(others) {
            assert!(help.contains(flag), "{flag} missing from\n{help}");
        }
        assert!(
            help.contains("Setting `ping_timeout_status`: one of 17, 245 (default 17)"),
            "{help}"
        );
    }

    #[test]
    fn the_readme_flags_parse() {
        let settings = applied(&[
            "--delete-on-read",
            "after_reply",
            "--ping-timeout-s",
            "5",
            "--ping-timeout-status",
            "245",
            "--tell-skew-s",
            "30",
            "--max-tells-per-reply",
            "10",
            "--max-reply-bytes",
            "100000",
            "--upload-fee",
            "3",
            "--inbox-dir-fsync",
            "--response-counter",
            "continue",
        ])
        .expect("applies");
        let expected = Settings {
            delete_on_read: DeleteOnRead::AfterReply,
            ping_timeout_s: 5,
            ping_timeout_status: 245,
            tell_skew_s: 30,
            max_tells_per_reply: 10,
            max_reply_bytes: 100_000,
            upload_fee: 3,
            inbox_dir_fsync: true,
            response_counter: ResponseCounterSetting::Continue,
            ..Settings::default()
        };
        assert_eq!(settings, expected);
        let off = applied(&["--stripe-dir-fsync=false", "--mailbox-root", "m"]).expect("applies");
        assert!(!off.stripe_dir_fsync);
        assert_eq!(off.mailbox_root, "m");
    }

    #[test]
    fn a_bad_flag_value_names_the_flag_and_the_rule() {
        let cases: [(&[&str], &str); 13] = [
            (
                &["--ping-timeout-status", "99"],
                "--ping-timeout-status: 99 is not one of 17, 245",
            ),
            (
                &["--ping-timeout-s", "0"],
                "--ping-timeout-s: 0 is out of range 1..=86400",
            ),
            (
                &["--ping-timeout-s", "soon"],
                "--ping-timeout-s: \"soon\" is not an integer",
            ),
            (
                &["--tell-skew-s", "86401"],
                "--tell-skew-s: 86401 is out of range 0..=86400",
            ),
            (
                &["--max-tells-per-reply", "256"],
                "--max-tells-per-reply: 256 is out of range 1..=255",
            ),
            (
                &["--max-reply-bytes", "1"],
                "--max-reply-bytes: 1 is out of range",
            ),
            (&["--upload-fee=-1"], "--upload-fee: -1 is out of range"),
            (
                &["--max-connections", "0"],
                "--max-connections: 0 is out of range",
            ),
            (
                &["--read-timeout-s", "3601"],
                "--read-timeout-s: 3601 is out of range 1..=3600",
            ),
            (
                &["--inbox-dir-fsync=yes"],
                "--inbox-dir-fsync: \"yes\" is not true or false",
            ),
            (
                &["--delete-on-read", "sometimes"],
                "--delete-on-read: \"sometimes\" is not one of \"before_reply\", \"after_reply\"",
            ),
            (
                &["--mailbox-root", "../x"],
                "--mailbox-root: `../x` must be a relative path",
            ),
            (
                &["--rate-limit-window-s", "0"],
                "--rate-limit-window-s: 0 is out of range 1..=86400",
            ),
        ];
        for (args, expected) in cases {
            let error = parse(args).expect_err(expected);
            assert_eq!(error.kind(), ErrorKind::ValueValidation, "{args:?}");
            assert_eq!(error.exit_code(), 2);
            let text = error.to_string();
            assert!(
                text.starts_with(&format!("error: {expected}")),
                "{args:?}: {text}"
            );
        }
    }

    /// One refused value per knob, as flag text: just past the range's end, a value the list
    /// does not hold, a word that is no boolean or choice, a path that climbs out.
    struct BadValues(Vec<(&'static str, String)>);

    impl Visitor for BadValues {
        fn knob(&mut self, knob: Knob<'_>) {
            let bad = match &knob.value {
                Value::Int { allowed, .. } if !allowed.is_empty() => "99".to_string(),
                Value::Int { max, .. } => (max + 1).to_string(),
                Value::Real { max, .. } => (max + 1.0).to_string(),
                Value::Bool(_) => "maybe".to_string(),
                Value::Choice(_) | Value::Names { .. } => "nope".to_string(),
                Value::Text { .. } => "../up".to_string(),
            };
            self.0.push((knob.name, bad));
        }
    }

    #[test]
    fn every_knob_refuses_a_bad_value_from_the_file_and_from_its_flag() {
        let mut bad = BadValues(Vec::new());
        Settings::default().visit(&mut bad);
        assert_eq!(bad.0.len(), 17);
        for (name, text) in bad.0 {
            let flag = flag_of(name);
            let error = parse(&[&format!("{flag}={text}")]).expect_err(name);
            let message = error.to_string();
            assert!(
                message.starts_with(&format!("error: {flag}: ")),
                "{message}"
            );
            assert_eq!(error.exit_code(), 2);
            let value = match text.parse::<i64>() {
                Ok(number) => number.to_string(),
                Err(_) => format!("{text:?}"),
            };
            let file = format!("\n{name} = {value}\n");
            let error = Settings::from_toml(&file, "s.toml").expect_err(&file);
            let prefix = format!("s.toml:2:{}: key `{name}`: ", name.len() + 4);
            assert!(error.to_string().starts_with(&prefix), "{error}");
        }
        let mut bad = BadValues(Vec::new());
        RateLimit::unset().visit(&mut bad);
        for (name, text) in bad.0 {
            let flag = flag_of(&format!("{RATE_LIMIT_KEY}.{name}"));
            let message = parse(&[&flag, &text]).expect_err(name).to_string();
            assert!(
                message.starts_with(&format!("error: {flag}: ")),
                "{message}"
            );
            let file = format!("[rate_limit]\nrequests_max = 1\nwindow_s = 1\n{name} = {text}\n");
            let error = Settings::from_toml(&file, "s.toml").expect_err(&file);
            assert!(
                error
                    .to_string()
                    .contains(&format!("key `rate_limit.{name}`: ")),
                "{error}"
            );
        }
    }

    #[test]
    fn apply_checks_pairs_set_in_code_too() {
        let mut settings = Settings::default();
        let error = SettingsOverrides::new()
            .with("ping_timeout_s", "5")
            .with("ping_timeout_status", "99")
            .apply(&mut settings)
            .expect_err("99");
        assert_eq!(
            error.to_string(),
            "--ping-timeout-status: 99 is not one of 17, 245"
        );
        assert_eq!(settings, Settings::default(), "nothing applied on an error");
        let unknown = SettingsOverrides::new()
            .with("ping_timeout", "5")
            .apply(&mut settings)
            .expect_err("unknown");
        assert_eq!(unknown.to_string(), "--ping-timeout: no such setting");
        let later_wins = SettingsOverrides::new()
            .with("upload_fee", "4")
            .with("upload_fee", "5");
        later_wins.apply(&mut settings).expect("applies");
        assert_eq!(settings.upload_fee, 5);
    }

    #[test]
    fn rate_limit_flags_need_both_or_a_table_and_can_turn_it_off() {
        let error = applied(&["--rate-limit-requests-max", "3"]).expect_err("half");
        assert_eq!(
            error.to_string(),
            "--rate-limit-requests-max: a rate limit needs --rate-limit-window-s too (or a \
             [rate_limit] table in the config file)"
        );
        let both = applied(&[
            "--rate-limit-requests-max",
            "3",
            "--rate-limit-window-s",
            "9",
        ])
        .expect("both");
        assert_eq!(
            both.rate_limit,
            Some(RateLimit {
                requests_max: 3,
                window_s: 9
            })
        );
        let mut from_file = Settings {
            rate_limit: Some(RateLimit {
                requests_max: 5,
                window_s: 2,
            }),
            ..Settings::default()
        };
        let mut one = from_file.clone();
        parse(&["--rate-limit-window-s", "7"])
            .expect("parses")
            .apply(&mut one)
            .expect("the file has the other");
        assert_eq!(one.rate_limit.map(|limit| limit.window_s), Some(7));
        parse(&["--no-rate-limit"])
            .expect("parses")
            .apply(&mut from_file)
            .expect("off");
        assert_eq!(from_file.rate_limit, None);
        let clash = parse(&["--no-rate-limit", "--rate-limit-window-s", "7"]).expect_err("both");
        assert_eq!(clash.kind(), ErrorKind::ArgumentConflict);
    }
}
