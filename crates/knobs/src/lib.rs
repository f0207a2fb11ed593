//! knobs: named settings read from TOML, with every error naming the file, line, column and
//! dotted key (`scenarios/x.toml:12:15: key `faults.packet_loss`: 1.5 is out of range
//! 0..=1`).
//!
//! Three crates read TOML written by people — the server's config and provisioning files,
//! the client's profile, the simulator's scenarios — and each once carried its own way of
//! turning a byte span into a line and a key. This crate is the one way:
//!
//! - [`Source`]: a file's name and text; byte offsets to lines and columns, parse errors
//!   and value errors to [`ConfigError`]s.
//! - [`Table`]: one TOML table with the span of every key, taken key by key; the keys nobody
//!   took are errors when the table is finished, so a misspelt key is never ignored.
//! - [`Knobs`]: a settings struct lists each of its knobs exactly once, in
//!   [`Knobs::visit`] — name, value, accepted range, and how a seeded search may vary it.
//!   That one list reads the struct from a table ([`read`]), prints it ([`print`](fn@print)), sets one
//!   knob from flag text ([`assign`]), checks values set in code ([`check`]), and
//!   serves any other [`Visitor`] (command-line flags, the simulator's swarm resolution).
//!   A knob is written twice: its field, and its line in `visit`.

mod error;
mod knob;
mod node;
mod source;
mod table;

pub use error::ConfigError;
pub use knob::{
    assign, check, print, read, Choice, ChoiceDebug, IntSlot, IntSlotDebug, Knob, Knobs, Value,
    Vary, Visitor,
};
pub use node::Node;
pub use source::Source;
pub use table::Table;

/// Implements [`Choice`] for a fieldless enum: `choice!(Mode { Mode::A => "a", Mode::B => "b" });`
#[macro_export]
macro_rules! choice {
    ($ty:ty { $($variant:path => $name:literal),+ $(,)? }) => {
        impl $crate::Choice for $ty {
            fn names(&self) -> &'static [&'static str] {
                &[$($name),+]
            }
            fn name(&self) -> &'static str {
                match self {
                    $($variant => $name),+
                }
            }
            fn choose(&mut self, name: &str) -> bool {
                match name {
                    $($name => {
                        *self = $variant;
                        true
                    })+
                    _ => false,
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Mode {
        Fast,
        Slow,
    }
    choice!(Mode { Mode::Fast => "fast", Mode::Slow => "slow" });

    #[derive(Debug, PartialEq)]
    struct Demo {
        count: u32,
        loss: f64,
        on: bool,
        mode: Mode,
        status: u8,
        steps: Vec<String>,
    }

    impl Default for Demo {
        fn default() -> Self {
            Demo {
                count: 3,
                loss: 0.0,
                on: false,
                mode: Mode::Fast,
                status: 17,
                steps: Vec::new(),
            }
        }
    }

    impl Knobs for Demo {
        fn visit(&mut self, v: &mut dyn Visitor) {
            v.knob(Knob::int("count", &mut self.count, 1..=10));
            v.knob(Knob::fraction("loss", &mut self.loss).vary(Vary::OnOff { per: 1_000_000 }));
            v.knob(Knob::bool("on", &mut self.on));
            v.knob(Knob::choice("mode", &mut self.mode));
            v.knob(Knob::int_of("status", &mut self.status, &[17, 245]));
            v.knob(Knob::names("steps", &mut self.steps, &["A", "B"]));
        }
    }

    fn read_demo(text: &str) -> Result<Demo, ConfigError> {
        let source = Source::new("demo.toml", text);
        let mut root = source.parse()?;
        let mut table = root.table("demo")?;
        let mut demo = Demo::default();
        let names = read(&mut table, &mut demo)?;
        table.finish(&names)?;
        root.finish(&["demo"])?;
        Ok(demo)
    }

    #[test]
    fn knobs_read_with_defaults_and_print_in_order() {
        let mut demo =
            read_demo("[demo]\nloss = 1\nmode = \"slow\"\nsteps = [\"B\", \"A\", \"B\"]\n")
                .expect("reads");
        assert_eq!(
            demo,
            Demo {
                loss: 1.0,
                mode: Mode::Slow,
                steps: vec!["B".into(), "A".into()],
                ..Demo::default()
            }
        );
        let printed: Vec<String> = print(&mut demo)
            .into_iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect();
        assert_eq!(
            printed,
            [
                "count = 3",
                "loss = 1",
                "on = false",
                "mode = \"slow\"",
                "status = 17",
                "steps = [\"B\", \"A\"]"
            ]
        );
    }

    #[test]
    fn bad_values_name_file_line_and_key() {
        let cases = [
            ("[demo]\ncount = 11\n", "demo.toml:2:9: key `demo.count`: 11 is out of range 1..=10"),
            ("[demo]\nstatus = 99\n", "demo.toml:2:10: key `demo.status`: 99 is not one of 17, 245"),
            ("[demo]\nmode = \"medium\"\n", "demo.toml:2:8: key `demo.mode`: \"medium\" is not one of \"fast\", \"slow\""),
            ("[demo]\non = 1\n", "demo.toml:2:6: key `demo.on`: expected a boolean, found an integer"),
            ("[demo]\nsteps = [\"A\",\n  \"C\"]\n", "demo.toml:3:3: key `demo.steps`: unknown name \"C\"; known: A, B"),
            ("[demo]\ncuont = 1\n", "demo.toml:2:1: key `demo.cuont`: unknown key `cuont`; known keys: count, loss, on, mode, status, steps"),
        ];
        for (text, expected) in cases {
            let error = read_demo(text).expect_err(text);
            assert_eq!(error.to_string(), expected);
        }
    }

    #[test]
    fn flags_assign_by_name_through_the_same_rules() {
        let mut demo = Demo::default();
        assert_eq!(assign(&mut demo, "status", "245"), Ok(true));
        assert_eq!(assign(&mut demo, "steps", "A, B"), Ok(true));
        assert_eq!(assign(&mut demo, "nope", "1"), Ok(false));
        assert_eq!(
            assign(&mut demo, "status", "99"),
            Err("99 is not one of 17, 245".into())
        );
        assert_eq!(
            assign(&mut demo, "loss", "x"),
            Err("\"x\" is not a number".into())
        );
        assert_eq!((demo.status, demo.steps.len()), (245, 2));
    }

    #[test]
    fn check_refuses_values_set_in_code_with_the_knobs_name() {
        let mut demo = Demo::default();
        assert_eq!(check(&mut demo), Ok(()));
        demo.status = 99;
        assert_eq!(
            check(&mut demo),
            Err(("status", "99 is not one of 17, 245".to_string()))
        );
        demo.status = 17;
        demo.count = 0;
        demo.loss = 2.0;
        assert_eq!(
            check(&mut demo),
            Err(("count", "0 is out of range 1..=10".to_string())),
            "the first refused knob"
        );
        demo.count = 1;
        assert_eq!(
            check(&mut demo),
            Err(("loss", "2 is out of range 0..=1".to_string()))
        );
        demo.loss = 0.5;
        demo.steps = vec!["Z".into()];
        assert_eq!(
            check(&mut demo),
            Err(("steps", "unknown name \"Z\"; known: A, B".to_string()))
        );
    }

    #[test]
    fn an_unsigned_value_beyond_i64_is_out_of_range_not_a_panic() {
        struct Big(u64);
        impl Knobs for Big {
            fn visit(&mut self, v: &mut dyn Visitor) {
                v.knob(Knob::int("big", &mut self.0, 0..=1 << 53));
            }
        }
        let mut big = Big(u64::MAX);
        let (name, message) = check(&mut big).expect_err("beyond i64");
        assert_eq!(name, "big");
        assert_eq!(
            message,
            "9223372036854775807 is out of range 0..=9007199254740992"
        );
    }
}
