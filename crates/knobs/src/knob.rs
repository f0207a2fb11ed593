//! Knobs: each setting of a struct listed once, read, printed and varied from that list.

use std::ops::RangeInclusive;

use toml::Spanned;

use crate::error::ConfigError;
use crate::node::Node;
use crate::table::Table;

/// A settings struct that lists its knobs. `visit` calls `visitor.knob` once per knob, in
/// the order they print; it is the only place a knob's name, range and variation are written.
pub trait Knobs {
    /// Hands every knob to `visitor`.
    fn visit(&mut self, visitor: &mut dyn Visitor);
}

/// Something done to every knob of a struct: reading, printing, assigning, varying.
pub trait Visitor {
    /// One knob.
    fn knob(&mut self, knob: Knob<'_>);
}

/// An integer field of any width, seen as `i64` (every knob's range fits one, and should end
/// below `i64::MAX` so that an unsigned value beyond it reads as out of range).
pub trait IntSlot {
    /// The value (an unsigned value above `i64::MAX` reads as `i64::MAX`, out of every range).
    fn get(&self) -> i64;
    /// Sets the value; the caller has checked the knob's range, which fits the type.
    fn set(&mut self, value: i64);
}

macro_rules! int_slot {
    ($($t:ty),*) => {$(
        impl IntSlot for $t {
            fn get(&self) -> i64 {
                // Only an unsigned value above i64::MAX fails: it is above every range too.
                i64::try_from(*self).unwrap_or(i64::MAX)
            }
            fn set(&mut self, value: i64) {
                *self = <$t>::try_from(value).expect("knob ranges fit the field's type");
            }
        }
    )*};
}
int_slot!(u8, u16, u32, u64, usize, i8, i16, i32, i64);

/// An enum knob written as one of a few names.
pub trait Choice {
    /// Every accepted name.
    fn names(&self) -> &'static [&'static str];
    /// The current value's name.
    fn name(&self) -> &'static str;
    /// Sets the value named `name`; false when no value has that name.
    fn choose(&mut self, name: &str) -> bool;
}

/// How a seeded search over configurations (the simulator's swarm mode) may vary a knob.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Vary {
    /// Never varied.
    Fixed,
    /// Off (zero) half the time, else uniform between 0 and the configured value in steps
    /// of `1 / per` (integers: `per = 1`).
    OnOff {
        /// Steps per unit.
        per: u32,
    },
    /// Uniform between `from` and the configured value (integers).
    From(i64),
    /// Each listed name kept with chance 1/2.
    Subset,
}

/// A knob's value, borrowed from its struct, with what it accepts.
#[derive(Debug)]
pub enum Value<'v> {
    /// An integer in `min..=max`; when `allowed` is not empty, one of those.
    Int {
        /// The field.
        slot: &'v mut dyn IntSlotDebug,
        /// Smallest accepted.
        min: i64,
        /// Largest accepted.
        max: i64,
        /// The only values accepted, when not empty.
        allowed: &'static [i64],
    },
    /// A number in `min..=max` (an integer in the file is fine).
    Real {
        /// The field.
        slot: &'v mut f64,
        /// Smallest accepted.
        min: f64,
        /// Largest accepted.
        max: f64,
    },
    /// A boolean.
    Bool(&'v mut bool),
    /// One of an enum's names.
    Choice(&'v mut dyn ChoiceDebug),
    /// A list of names, each one of `known`.
    Names {
        /// The field.
        slot: &'v mut Vec<String>,
        /// Every accepted name.
        known: &'static [&'static str],
    },
    /// Free text, checked by `check`.
    Text {
        /// The field.
        slot: &'v mut String,
        /// Accepts or refuses (with a reason) a candidate value.
        check: fn(&str) -> Result<(), String>,
    },
}

/// [`IntSlot`] + `Debug`, so a [`Value`] can be printed.
pub trait IntSlotDebug: IntSlot + std::fmt::Debug {}
impl<T: IntSlot + std::fmt::Debug> IntSlotDebug for T {}
/// [`Choice`] + `Debug`, so a [`Value`] can be printed.
pub trait ChoiceDebug: Choice + std::fmt::Debug {}
impl<T: Choice + std::fmt::Debug> ChoiceDebug for T {}

/// One knob: its name (the TOML key), its value and how a search may vary it.
#[derive(Debug)]
pub struct Knob<'v> {
    /// The key.
    pub name: &'static str,
    /// The value and what it accepts.
    pub value: Value<'v>,
    /// How a seeded search may vary it.
    pub vary: Vary,
}

impl<'v> Knob<'v> {
    fn new(name: &'static str, value: Value<'v>) -> Knob<'v> {
        Knob {
            name,
            value,
            vary: Vary::Fixed,
        }
    }

    /// An integer knob accepting `range`.
    pub fn int(
        name: &'static str,
        slot: &'v mut dyn IntSlotDebug,
        range: RangeInclusive<i64>,
    ) -> Self {
        let (min, max) = range.into_inner();
        Knob::new(
            name,
            Value::Int {
                slot,
                min,
                max,
                allowed: &[],
            },
        )
    }

    /// An integer knob accepting only `allowed`.
    pub fn int_of(
        name: &'static str,
        slot: &'v mut dyn IntSlotDebug,
        allowed: &'static [i64],
    ) -> Self {
        let min = allowed.iter().copied().min().unwrap_or(0);
        let max = allowed.iter().copied().max().unwrap_or(0);
        Knob::new(
            name,
            Value::Int {
                slot,
                min,
                max,
                allowed,
            },
        )
    }

    /// A number knob accepting `range`.
    pub fn real(name: &'static str, slot: &'v mut f64, range: RangeInclusive<f64>) -> Self {
        let (min, max) = range.into_inner();
        Knob::new(name, Value::Real { slot, min, max })
    }

    /// A fraction (a probability): a number in `0..=1`.
    pub fn fraction(name: &'static str, slot: &'v mut f64) -> Self {
        Knob::real(name, slot, 0.0..=1.0)
    }

    /// A boolean knob.
    pub fn bool(name: &'static str, slot: &'v mut bool) -> Self {
        Knob::new(name, Value::Bool(slot))
    }

    /// An enum knob.
    pub fn choice(name: &'static str, slot: &'v mut dyn ChoiceDebug) -> Self {
        Knob::new(name, Value::Choice(slot))
    }

    /// A list of names from `known`.
    pub fn names(
        name: &'static str,
        slot: &'v mut Vec<String>,
        known: &'static [&'static str],
    ) -> Self {
        Knob::new(name, Value::Names { slot, known })
    }

    /// A text knob checked by `check`.
    pub fn text(
        name: &'static str,
        slot: &'v mut String,
        check: fn(&str) -> Result<(), String>,
    ) -> Self {
        Knob::new(name, Value::Text { slot, check })
    }

    /// The same knob, varied by a search as `vary` says.
    pub fn vary(mut self, vary: Vary) -> Self {
        self.vary = vary;
        self
    }

    /// The value as printed (and as `assign` reads it back).
    pub fn render(&self) -> String {
        match &self.value {
            Value::Int { slot, .. } => slot.get().to_string(),
            Value::Real { slot, .. } => slot.to_string(),
            Value::Bool(slot) => slot.to_string(),
            Value::Choice(slot) => format!("{:?}", slot.name()),
            Value::Names { slot, .. } => format!("{slot:?}"),
            Value::Text { slot, .. } => format!("{slot:?}"),
        }
    }

    /// Whether the value the field holds now is one the knob accepts (a value set in code
    /// rather than read); the error says what is wrong, as reading would.
    pub fn check(&self) -> Result<(), String> {
        match &self.value {
            Value::Int {
                slot,
                min,
                max,
                allowed,
            } => check_int(slot.get(), *min, *max, allowed),
            Value::Real { slot, min, max } => {
                if slot.is_finite() && (*min..=*max).contains(*slot) {
                    Ok(())
                } else {
                    Err(format!("{slot} is out of range {min}..={max}"))
                }
            }
            Value::Bool(_) | Value::Choice(_) => Ok(()),
            Value::Names { slot, known } => {
                match slot.iter().find(|n| !known.contains(&n.as_str())) {
                    Some(name) => Err(format!(
                        "unknown name {name:?}; known: {}",
                        known.join(", ")
                    )),
                    None => Ok(()),
                }
            }
            Value::Text { slot, check } => check(slot),
        }
    }

    /// Sets the value from a TOML node; the error says what is wrong (no location).
    fn set_node(
        &mut self,
        node: &Spanned<Node>,
    ) -> Result<(), (Option<std::ops::Range<usize>>, String)> {
        match (&mut self.value, node.get_ref()) {
            (
                Value::Int {
                    slot,
                    min,
                    max,
                    allowed,
                },
                Node::Int(got),
            ) => {
                check_int(*got, *min, *max, allowed).map_err(|m| (None, m))?;
                slot.set(*got);
            }
            (Value::Real { slot, min, max }, Node::Int(_) | Node::Float(_)) => {
                #[allow(clippy::cast_precision_loss)] // Knob integers are small.
                let got = match node.get_ref() {
                    Node::Int(got) => *got as f64,
                    Node::Float(got) => *got,
                    _ => unreachable!("matched above"),
                };
                if !(got.is_finite() && (*min..=*max).contains(&got)) {
                    return Err((None, format!("{got} is out of range {min}..={max}")));
                }
                **slot = got;
            }
            (Value::Bool(slot), Node::Bool(got)) => **slot = *got,
            (Value::Choice(slot), Node::Str(got)) => {
                choose(&mut **slot, got).map_err(|m| (None, m))?
            }
            (Value::Names { slot, known }, Node::Array(items)) => {
                let mut names = Vec::with_capacity(items.len());
                for item in items {
                    let Node::Str(name) = item.get_ref() else {
                        return Err((
                            Some(item.span()),
                            format!("expected a string, found {}", item.get_ref().kind()),
                        ));
                    };
                    if !known.contains(&name.as_str()) {
                        return Err((
                            Some(item.span()),
                            format!("unknown name {name:?}; known: {}", known.join(", ")),
                        ));
                    }
                    if !names.contains(name) {
                        names.push(name.clone());
                    }
                }
                **slot = names;
            }
            (Value::Text { slot, check }, Node::Str(got)) => {
                check(got).map_err(|m| (None, m))?;
                **slot = got.clone();
            }
            (value, got) => {
                return Err((
                    None,
                    format!("expected {}, found {}", expected(value), got.kind()),
                ))
            }
        }
        Ok(())
    }

    /// Sets the value from text as a command-line flag gives it.
    fn set_text(&mut self, text: &str) -> Result<(), String> {
        match &mut self.value {
            Value::Int {
                slot,
                min,
                max,
                allowed,
            } => {
                let got: i64 = text
                    .trim()
                    .parse()
                    .map_err(|_| format!("{text:?} is not an integer"))?;
                check_int(got, *min, *max, allowed)?;
                slot.set(got);
            }
            Value::Real { slot, min, max } => {
                let got: f64 = text
                    .trim()
                    .parse()
                    .map_err(|_| format!("{text:?} is not a number"))?;
                if !(got.is_finite() && (*min..=*max).contains(&got)) {
                    return Err(format!("{got} is out of range {min}..={max}"));
                }
                **slot = got;
            }
            Value::Bool(slot) => {
                **slot = text
                    .trim()
                    .parse()
                    .map_err(|_| format!("{text:?} is not true or false"))?;
            }
            Value::Choice(slot) => choose(&mut **slot, text.trim())?,
            Value::Names { slot, known } => {
                let mut names: Vec<String> = Vec::new();
                for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    if !known.contains(&name) {
                        return Err(format!(
                            "unknown name {name:?}; known: {}",
                            known.join(", ")
                        ));
                    }
                    if !names.iter().any(|n| n == name) {
                        names.push(name.to_string());
                    }
                }
                **slot = names;
            }
            Value::Text { slot, check } => {
                check(text)?;
                **slot = text.to_string();
            }
        }
        Ok(())
    }
}

fn check_int(got: i64, min: i64, max: i64, allowed: &[i64]) -> Result<(), String> {
    if !allowed.is_empty() {
        if allowed.contains(&got) {
            return Ok(());
        }
        let list: Vec<String> = allowed.iter().map(i64::to_string).collect();
        return Err(format!("{got} is not one of {}", list.join(", ")));
    }
    if (min..=max).contains(&got) {
        Ok(())
    } else {
        Err(format!("{got} is out of range {min}..={max}"))
    }
}

fn choose(slot: &mut dyn ChoiceDebug, name: &str) -> Result<(), String> {
    if slot.choose(name) {
        return Ok(());
    }
    let known: Vec<String> = slot.names().iter().map(|n| format!("{n:?}")).collect();
    Err(format!("{name:?} is not one of {}", known.join(", ")))
}

fn expected(value: &Value<'_>) -> &'static str {
    match value {
        Value::Int { .. } => "an integer",
        Value::Real { .. } => "a number",
        Value::Bool(_) => "a boolean",
        Value::Choice(_) | Value::Text { .. } => "a string",
        Value::Names { .. } => "an array of strings",
    }
}

/// Reads every knob `knobs` lists from `table` (absent keys keep their values). Does not
/// finish the table; returns the knobs' names so the caller can (`table.finish(&names)`)
/// once it has taken its own keys.
pub fn read(
    table: &mut Table<'_>,
    knobs: &mut dyn Knobs,
) -> Result<Vec<&'static str>, ConfigError> {
    struct Reader<'t, 'a> {
        table: &'t mut Table<'a>,
        names: Vec<&'static str>,
        error: Option<ConfigError>,
    }
    impl Visitor for Reader<'_, '_> {
        fn knob(&mut self, mut knob: Knob<'_>) {
            self.names.push(knob.name);
            if self.error.is_some() {
                return;
            }
            let Some(node) = self.table.take(knob.name) else {
                return;
            };
            if let Err((span, message)) = knob.set_node(&node) {
                self.error = Some(match span {
                    Some(span) => self.table.error_at(span, knob.name, message),
                    None => self.table.error(knob.name, message),
                });
            }
        }
    }
    let mut reader = Reader {
        table,
        names: Vec::new(),
        error: None,
    };
    knobs.visit(&mut reader);
    match reader.error {
        Some(error) => Err(error),
        None => Ok(reader.names),
    }
}

/// Every knob as `(name, value)`, in visit order.
pub fn print(knobs: &mut dyn Knobs) -> Vec<(String, String)> {
    struct Printer(Vec<(String, String)>);
    impl Visitor for Printer {
        fn knob(&mut self, knob: Knob<'_>) {
            self.0.push((knob.name.to_string(), knob.render()));
        }
    }
    let mut printer = Printer(Vec::new());
    knobs.visit(&mut printer);
    printer.0
}

/// Checks every knob's current value against what it accepts (for a struct filled in code):
/// the first refused knob's name and what is wrong with it.
pub fn check(knobs: &mut dyn Knobs) -> Result<(), (&'static str, String)> {
    struct Checker(Result<(), (&'static str, String)>);
    impl Visitor for Checker {
        fn knob(&mut self, knob: Knob<'_>) {
            if self.0.is_ok() {
                self.0 = knob.check().map_err(|message| (knob.name, message));
            }
        }
    }
    let mut checker = Checker(Ok(()));
    knobs.visit(&mut checker);
    checker.0
}

/// Sets the knob named `name` from flag text. `Ok(false)` when no knob has that name.
pub fn assign(knobs: &mut dyn Knobs, name: &str, text: &str) -> Result<bool, String> {
    struct Assigner<'n> {
        name: &'n str,
        text: &'n str,
        result: Result<bool, String>,
    }
    impl Visitor for Assigner<'_> {
        fn knob(&mut self, mut knob: Knob<'_>) {
            if knob.name == self.name {
                self.result = knob.set_text(self.text).map(|()| true);
            }
        }
    }
    let mut assigner = Assigner {
        name,
        text,
        result: Ok(false),
    };
    knobs.visit(&mut assigner);
    assigner.result
}
