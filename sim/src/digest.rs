//! The trace digest: one 64-bit hash of every field of every event of a run, for the
//! determinism meta-test (one seed, one digest) and for telling two runs apart at a glance.
//!
//! It walks the events through their `Serialize` impls, the very fields `replay --format
//! json` writes, but feeds the values to a hash instead of writing text: a storm seed's
//! 700,000 events made 120 MB of JSON, and encoding it was 3% of the run. Every value goes in
//! as whole 64-bit words: integers as themselves, strings and byte strings as their length
//! then their bytes eight at a time, `None` and `Some` and each container with a marker, so
//! no two different traces feed the same words by shifting a boundary.
//!
//! The word hash is a chain of bijections: for a fixed word each step is a bijection of the
//! state, and for a fixed state a bijection of the word. So traces that differ in one word
//! always get different digests; traces that differ more collide as rarely as any 64-bit hash.

use serde::ser::{self, Serialize};
use std::fmt;

use crate::history::History;

/// The digest of `history`: equal digests mean equal runs, field for field.
pub fn trace_digest(history: &History) -> u64 {
    let mut hasher = WordHasher::new();
    for event in history.events() {
        hash_value(&mut hasher, event);
    }
    hasher.finish()
}

/// Feeds one serializable value into `hasher`.
pub fn hash_value<T: Serialize + ?Sized>(hasher: &mut WordHasher, value: &T) {
    value
        .serialize(Feed { hasher })
        .expect("hashing a value never fails");
    hasher.word(Marker::ValueEnd as u64);
}

/// What starts or ends a value, so that no boundary can move unseen.
#[derive(Clone, Copy)]
#[repr(u64)]
enum Marker {
    None = 0x6e6f_6e65,
    Some,
    Unit,
    SeqStart,
    SeqEnd,
    MapStart,
    MapEnd,
    Variant,
    ValueEnd,
}

/// A 64-bit hash over 64-bit words: `state = rotl(state, 23) ^ word`, times an odd constant.
#[derive(Clone, Debug)]
pub struct WordHasher {
    state: u64,
}

impl WordHasher {
    /// The multiplier (odd, so multiplying is a bijection): the 64-bit golden ratio.
    const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

    /// A hasher at its fixed start.
    pub const fn new() -> Self {
        Self {
            state: 0xcbf2_9ce4_8422_2325,
        }
    }

    /// Feeds one word.
    pub fn word(&mut self, word: u64) {
        self.state = (self.state.rotate_left(23) ^ word).wrapping_mul(Self::MULTIPLIER);
    }

    /// Feeds a byte string: its length, then its bytes eight at a time (the last word
    /// zero-padded; the length tells the padding from zero bytes).
    pub fn bytes(&mut self, bytes: &[u8]) {
        self.word(bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word: [u8; 8] = chunk.try_into().expect("chunks_exact gives 8 bytes");
            self.word(u64::from_le_bytes(word));
        }
        let tail = chunks.remainder();
        if !tail.is_empty() {
            let mut word = [0u8; 8];
            word[..tail.len()].copy_from_slice(tail);
            self.word(u64::from_le_bytes(word));
        }
    }

    /// The hash of every word fed so far, its bits mixed once more (SplitMix64's finaliser).
    pub const fn finish(&self) -> u64 {
        crate::seed::splitmix64(self.state)
    }
}

impl Default for WordHasher {
    fn default() -> Self {
        Self::new()
    }
}

/// The error no hashing raises (serde's `Serializer` needs one).
#[derive(Debug)]
pub struct Never(String);

impl fmt::Display for Never {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Never {}

impl ser::Error for Never {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Never(message.to_string())
    }
}

/// A serializer that writes nothing and hashes every value it is given.
struct Feed<'a> {
    hasher: &'a mut WordHasher,
}

impl Feed<'_> {
    fn word(self, word: u64) -> Result<(), Never> {
        self.hasher.word(word);
        Ok(())
    }

    fn variant(&mut self, variant_index: u32, variant: &str) {
        self.hasher.word(Marker::Variant as u64);
        self.hasher.word(u64::from(variant_index));
        self.hasher.bytes(variant.as_bytes());
    }
}

/// Signed integers go in as their two's-complement bits.
#[allow(clippy::cast_sign_loss)]
const fn signed_word(value: i64) -> u64 {
    value as u64
}

impl<'a> ser::Serializer for Feed<'a> {
    type Ok = ();
    type Error = Never;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn serialize_bool(self, value: bool) -> Result<(), Never> {
        self.word(u64::from(value))
    }
    fn serialize_i8(self, value: i8) -> Result<(), Never> {
        self.word(signed_word(i64::from(value)))
    }
    fn serialize_i16(self, value: i16) -> Result<(), Never> {
        self.word(signed_word(i64::from(value)))
    }
    fn serialize_i32(self, value: i32) -> Result<(), Never> {
        self.word(signed_word(i64::from(value)))
    }
    fn serialize_i64(self, value: i64) -> Result<(), Never> {
        self.word(signed_word(value))
    }
    fn serialize_i128(self, value: i128) -> Result<(), Never> {
        self.hasher.bytes(&value.to_le_bytes());
        Ok(())
    }
    fn serialize_u8(self, value: u8) -> Result<(), Never> {
        self.word(u64::from(value))
    }
    fn serialize_u16(self, value: u16) -> Result<(), Never> {
        self.word(u64::from(value))
    }
    fn serialize_u32(self, value: u32) -> Result<(), Never> {
        self.word(u64::from(value))
    }
    fn serialize_u64(self, value: u64) -> Result<(), Never> {
        self.word(value)
    }
    fn serialize_u128(self, value: u128) -> Result<(), Never> {
        self.hasher.bytes(&value.to_le_bytes());
        Ok(())
    }
    fn serialize_f32(self, value: f32) -> Result<(), Never> {
        self.word(u64::from(value.to_bits()))
    }
    fn serialize_f64(self, value: f64) -> Result<(), Never> {
        self.word(value.to_bits())
    }
    fn serialize_char(self, value: char) -> Result<(), Never> {
        self.word(u64::from(value))
    }
    fn serialize_str(self, value: &str) -> Result<(), Never> {
        self.hasher.bytes(value.as_bytes());
        Ok(())
    }
    fn serialize_bytes(self, value: &[u8]) -> Result<(), Never> {
        self.hasher.bytes(value);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Never> {
        self.word(Marker::None as u64)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Never> {
        self.hasher.word(Marker::Some as u64);
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Never> {
        self.word(Marker::Unit as u64)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Never> {
        self.word(Marker::Unit as u64)
    }
    fn serialize_unit_variant(
        mut self,
        _name: &'static str,
        variant_index: u32,
        variant: &'static str,
    ) -> Result<(), Never> {
        self.variant(variant_index, variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        mut self,
        _name: &'static str,
        variant_index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        self.variant(variant_index, variant);
        value.serialize(self)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self, Never> {
        self.hasher.word(Marker::SeqStart as u64);
        if let Some(len) = len {
            self.hasher.word(len as u64);
        }
        Ok(self)
    }
    fn serialize_tuple(self, len: usize) -> Result<Self, Never> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Self, Never> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        mut self,
        _name: &'static str,
        variant_index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self, Never> {
        self.variant(variant_index, variant);
        self.serialize_seq(Some(len))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self, Never> {
        self.hasher.word(Marker::MapStart as u64);
        Ok(self)
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Self, Never> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        mut self,
        _name: &'static str,
        variant_index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self, Never> {
        self.variant(variant_index, variant);
        self.serialize_map(Some(len))
    }
}

impl Feed<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        value.serialize(Feed {
            hasher: self.hasher,
        })
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Never> {
        self.hasher.bytes(key.as_bytes());
        self.element(value)
    }
}

impl ser::SerializeSeq for Feed<'_> {
    type Ok = ();
    type Error = Never;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        self.element(value)
    }
    fn end(self) -> Result<(), Never> {
        self.word(Marker::SeqEnd as u64)
    }
}

impl ser::SerializeTuple for Feed<'_> {
    type Ok = ();
    type Error = Never;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        self.element(value)
    }
    fn end(self) -> Result<(), Never> {
        self.word(Marker::SeqEnd as u64)
    }
}

impl ser::SerializeTupleStruct for Feed<'_> {
    type Ok = ();
    type Error = Never;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        self.element(value)
    }
    fn end(self) -> Result<(), Never> {
        self.word(Marker::SeqEnd as u64)
    }
}

impl ser::SerializeTupleVariant for Feed<'_> {
    type Ok = ();
    type Error = Never;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        self.element(value)
    }
    fn end(self) -> Result<(), Never> {
        self.word(Marker::SeqEnd as u64)
    }
}

impl ser::SerializeMap for Feed<'_> {
    type Ok = ();
    type Error = Never;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Never> {
        self.element(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        self.element(value)
    }
    fn end(self) -> Result<(), Never> {
        self.word(Marker::MapEnd as u64)
    }
}

impl ser::SerializeStruct for Feed<'_> {
    type Ok = ();
    type Error = Never;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), Never> {
        self.word(Marker::MapEnd as u64)
    }
}

impl ser::SerializeStructVariant for Feed<'_> {
    type Ok = ();
    type Error = Never;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), Never> {
        self.word(Marker::MapEnd as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::tests::one_of_every_kind;
    use crate::history::{Event, Host};
    use serde_json::Value;

    fn value_digest<T: Serialize + ?Sized>(value: &T) -> u64 {
        let mut hasher = WordHasher::new();
        hash_value(&mut hasher, value);
        hasher.finish()
    }

    fn event(kind: EventKind) -> Event {
        Event {
            at_sim_us: 7,
            host: Host::Raida(1),
            kind,
        }
    }

    use crate::history::EventKind;

    #[test]
    fn boundaries_never_move_unseen() {
        let pairs: [(u64, u64); 6] = [
            (value_digest(&("ab", "c")), value_digest(&("a", "bc"))),
            (value_digest(&Some(0u8)), value_digest(&None::<u8>)),
            (value_digest(&vec![1u8]), value_digest(&vec![1u8, 0])),
            (
                value_digest("\0\0\0\0\0\0\0"),
                value_digest("\0\0\0\0\0\0\0\0"),
            ),
            (
                value_digest(&(vec![1u8], 2u8)),
                value_digest(&(vec![1u8, 2], ())),
            ),
            (value_digest(&-1i64), value_digest(&u64::MAX.to_string())),
        ];
        for (index, (left, right)) in pairs.into_iter().enumerate() {
            assert_ne!(left, right, "pair {index}");
        }
        assert_eq!(value_digest(&("ab", "c")), value_digest(&("ab", "c")));
    }

    #[test]
    fn every_kind_hashes_apart() {
        let mut digests: Vec<u64> = one_of_every_kind()
            .into_iter()
            .map(|kind| value_digest(&event(kind)))
            .collect();
        let count = digests.len();
        digests.sort_unstable();
        digests.dedup();
        assert_eq!(digests.len(), count);
    }

    /// Every leaf of an event's JSON (what `replay --format json` writes), changed one at a
    /// time: wherever the change still reads back as an event, the digest moves with it.
    #[test]
    fn every_field_of_every_kind_moves_the_digest() {
        let mut checked_count = 0;
        for kind in one_of_every_kind() {
            let original = event(kind);
            let json = serde_json::to_value(&original).expect("serializes");
            for changed in leaf_changes(&json) {
                let Ok(changed) = serde_json::from_value::<Event>(changed) else {
                    continue;
                };
                if changed == original {
                    continue;
                }
                assert_ne!(
                    value_digest(&changed),
                    value_digest(&original),
                    "{changed:?} against {original:?}"
                );
                checked_count += 1;
            }
        }
        assert!(
            checked_count >= 150,
            "only {checked_count} changes read back"
        );
    }

    /// `json` with one leaf changed, for every leaf: numbers plus one, strings with their
    /// last character changed (a hex digit stays one), booleans negated.
    fn leaf_changes(json: &Value) -> Vec<Value> {
        match json {
            Value::Number(number) => number
                .as_u64()
                .and_then(|n| n.checked_add(1))
                .map(Value::from)
                .or_else(|| number.as_i64().map(|n| Value::from(n.wrapping_sub(1))))
                .into_iter()
                .collect(),
            Value::String(text) => {
                let mut changed = text.clone();
                let last = changed
                    .pop()
                    .map_or('0', |c| if c == '0' { '1' } else { '0' });
                changed.push(last);
                vec![Value::String(changed)]
            }
            Value::Bool(flag) => vec![Value::Bool(!flag)],
            Value::Null => Vec::new(),
            Value::Array(items) => (0..items.len())
                .flat_map(|index| {
                    leaf_changes(&items[index])
                        .into_iter()
                        .map(move |leaf| (index, leaf))
                })
                .map(|(index, leaf)| {
                    let mut changed = items.clone();
                    changed[index] = leaf;
                    Value::Array(changed)
                })
                .collect(),
            Value::Object(fields) => fields
                .iter()
                .flat_map(|(key, value)| {
                    leaf_changes(value).into_iter().map(move |leaf| (key, leaf))
                })
                .map(|(key, leaf)| {
                    let mut changed = fields.clone();
                    changed.insert(key.clone(), leaf);
                    Value::Object(changed)
                })
                .collect(),
        }
    }
}
