//! What one RAIDA knows about money: its coins' ANs, the lockers it can spend from, and the
//! inbox fees its mailboxes charge.
//!
//! The tables are filled from a provisioning file (see `provision`) and iterate in key order
//! (the simulator needs one iteration order per seed). The coin table is read only after
//! start, by every request: it is a hash map with a fixed hasher for its lookups, and
//! `iter` sorts. The locker ledger changes as uploads spend from it, so the environment
//! keeps it behind a lock. The ledger also keeps the lockers whose balance differs from its
//! baseline (provisioning) as balances change, so persisting them costs the lockers that
//! differ, not every locker provisioned.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
#[allow(clippy::disallowed_types)] // Lookups only; `CoinTable::iter` sorts.
use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasherDefault;

use crate::limits;

/// Signed coin denomination (−8…+6 on the wire).
pub type Denomination = i8;
/// Coin serial number.
pub type SerialNumber = u32;
/// A coin's authenticity number on one RAIDA; also the AES-128 key of its requests.
pub type An = [u8; limits::AN_SIZE_BYTES];
/// A locker code: ASCII, NUL padded to 16 bytes.
pub type LockerCode = [u8; limits::LOCKER_CODE_SIZE_BYTES];

/// Whether `denomination` is one the protocol accepts.
pub fn denomination_is_valid(denomination: Denomination) -> bool {
    (limits::DENOMINATION_MIN..=limits::DENOMINATION_MAX).contains(&denomination)
}

/// The locker code for an ASCII string of 1 to 16 printable characters, NUL padded; `None`
/// for anything else.
pub fn locker_code_from_ascii(text: &str) -> Option<LockerCode> {
    let bytes = text.as_bytes();
    let printable = bytes
        .iter()
        .all(|byte| byte.is_ascii_graphic() || *byte == b' ');
    if bytes.is_empty() || bytes.len() > limits::LOCKER_CODE_SIZE_BYTES || !printable {
        return None;
    }
    let mut code = [0u8; limits::LOCKER_CODE_SIZE_BYTES];
    code[..bytes.len()].copy_from_slice(bytes);
    Some(code)
}

/// The ASCII text of a locker code made by [`locker_code_from_ascii`]; `None` if the code is
/// not printable ASCII followed only by NUL padding.
pub fn locker_code_to_ascii(code: &LockerCode) -> Option<String> {
    let text_len = code
        .iter()
        .position(|byte| *byte == 0)
        .unwrap_or(code.len());
    let (text, padding) = code.split_at(text_len);
    if padding.iter().any(|byte| *byte != 0) {
        return None;
    }
    let text = std::str::from_utf8(text).ok()?;
    locker_code_from_ascii(text).map(|_| text.to_string())
}

/// This RAIDA's ANs, by (denomination, serial number).
///
/// Every request looks its coin up; a `BTreeMap` walk of a few thousand coins per RAIDA
/// missed the cache at each level (1.4% of a storm's CPU). The hash map's hasher is unkeyed
/// (SipHash with fixed keys), so it is the same every run, and nothing iterates it in hash
/// order.
#[allow(clippy::disallowed_types)] // Lookups only; `iter` sorts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoinTable {
    ans: HashMap<(Denomination, SerialNumber), An, BuildHasherDefault<DefaultHasher>>,
}

impl CoinTable {
    /// An empty table.
    pub fn new() -> CoinTable {
        CoinTable::default()
    }

    /// Sets a coin's AN, returning the previous one.
    pub fn insert(
        &mut self,
        denomination: Denomination,
        serial_number: SerialNumber,
        an: An,
    ) -> Option<An> {
        self.ans.insert((denomination, serial_number), an)
    }

    /// The AN of a coin, if this RAIDA has it.
    pub fn an(&self, denomination: Denomination, serial_number: SerialNumber) -> Option<&An> {
        self.ans.get(&(denomination, serial_number))
    }

    /// Number of coins.
    pub fn len(&self) -> usize {
        self.ans.len()
    }

    /// Whether there are no coins.
    pub fn is_empty(&self) -> bool {
        self.ans.is_empty()
    }

    /// Every coin in (denomination, serial number) order.
    pub fn iter(&self) -> impl Iterator<Item = ((Denomination, SerialNumber), &An)> {
        let mut coins: Vec<_> = self.ans.iter().map(|(key, an)| (*key, an)).collect();
        coins.sort_unstable_by_key(|(key, _)| *key);
        coins.into_iter()
    }
}

/// Why a locker could not pay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentError {
    /// The code is all zero bytes: no locker given.
    EmptyCode,
    /// No locker with this code exists on this RAIDA.
    UnknownLocker,
    /// The locker holds less than the amount.
    InsufficientBalance {
        /// What the locker holds.
        balance: u64,
        /// What was asked for.
        required: u64,
    },
}

impl fmt::Display for PaymentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PaymentError::EmptyCode => write!(f, "empty locker code"),
            PaymentError::UnknownLocker => write!(f, "unknown locker"),
            PaymentError::InsufficientBalance { balance, required } => {
                write!(f, "locker holds {balance}, needs {required}")
            }
        }
    }
}

impl std::error::Error for PaymentError {}

/// Balances of the lockers this RAIDA can spend from.
///
/// The ledger also keeps, as balances change, the lockers whose balance differs from its
/// baseline (the balances at the last [`LockerLedger::mark_baseline`]; none before one), so
/// [`LockerLedger::differing`] costs the lockers that differ, not every locker. Equality
/// compares balances only.
#[derive(Clone, Debug, Default)]
pub struct LockerLedger {
    balances: BTreeMap<LockerCode, u64>,
    /// Every locker written since the baseline, with its baseline balance (`None`: it had
    /// none). A locker not here holds its baseline balance.
    baseline_of_written: BTreeMap<LockerCode, Option<u64>>,
    /// The lockers whose balance differs from the baseline, with that balance, sorted by
    /// code: a sorted `Vec` so that [`LockerLedger::differing`], taken on every upload, is one
    /// copy (a `BTreeMap` walk was 2.5% of storm's CPU).
    differing: Vec<(LockerCode, u64)>,
    /// Every locker written since the last [`LockerLedger::take_written`] (or baseline), sorted
    /// and without repeats: what the ledger journal must append next, so that an upload costs
    /// the lockers it changed, not the lockers that differ.
    written: Vec<LockerCode>,
}

impl PartialEq for LockerLedger {
    fn eq(&self, other: &LockerLedger) -> bool {
        self.balances == other.balances
    }
}

impl Eq for LockerLedger {}

impl LockerLedger {
    /// An empty ledger.
    pub fn new() -> LockerLedger {
        LockerLedger::default()
    }

    /// A ledger of `balances` (a repeated code keeps its last balance), in the state the same
    /// [`LockerLedger::insert`]s into an empty ledger leave, with no baseline yet: every
    /// locker written and differing. Costs O(n log n); inserting one by one shifts the sorted
    /// written and differing lists every time (quadratic: 1.7% of a storm's CPU, booting 25
    /// RAIDAs of 4,000 lockers).
    pub fn from_balances(balances: impl IntoIterator<Item = (LockerCode, u64)>) -> LockerLedger {
        let balances: BTreeMap<LockerCode, u64> = balances.into_iter().collect();
        LockerLedger {
            baseline_of_written: balances.keys().map(|code| (*code, None)).collect(),
            differing: balances
                .iter()
                .map(|(code, balance)| (*code, *balance))
                .collect(),
            written: balances.keys().copied().collect(),
            balances,
        }
    }

    /// Sets a locker's balance, returning the previous one.
    pub fn insert(&mut self, code: LockerCode, balance: u64) -> Option<u64> {
        let previous = self.balances.insert(code, balance);
        self.note_write(code, previous, balance);
        previous
    }

    /// A locker's balance, if it exists.
    pub fn balance(&self, code: &LockerCode) -> Option<u64> {
        self.balances.get(code).copied()
    }

    /// Whether the locker could pay `amount`: false for the all-zero code, false for an unknown
    /// locker unless `amount` is 0 (an unknown locker holds nothing).
    pub fn holds_at_least(&self, code: &LockerCode, amount: u64) -> bool {
        if code_is_empty(code) {
            return false;
        }
        self.balance(code).unwrap_or(0) >= amount
    }

    /// Takes `amount` from the locker.
    pub fn spend(&mut self, code: &LockerCode, amount: u64) -> Result<(), PaymentError> {
        if code_is_empty(code) {
            return Err(PaymentError::EmptyCode);
        }
        let balance = self
            .balances
            .get_mut(code)
            .ok_or(PaymentError::UnknownLocker)?;
        let previous = *balance;
        let remaining = previous
            .checked_sub(amount)
            .ok_or(PaymentError::InsufficientBalance {
                balance: previous,
                required: amount,
            })?;
        *balance = remaining;
        self.note_write(*code, Some(previous), remaining);
        Ok(())
    }

    /// Gives `amount` back to an existing locker (the refund of a spend whose service then
    /// failed). Returns false, changing nothing, for an unknown locker or on overflow.
    pub fn credit(&mut self, code: &LockerCode, amount: u64) -> bool {
        let Some(balance) = self.balances.get_mut(code) else {
            return false;
        };
        let previous = *balance;
        let Some(credited) = previous.checked_add(amount) else {
            return false;
        };
        *balance = credited;
        self.note_write(*code, Some(previous), credited);
        true
    }

    /// Number of lockers.
    pub fn len(&self) -> usize {
        self.balances.len()
    }

    /// Whether there are no lockers.
    pub fn is_empty(&self) -> bool {
        self.balances.is_empty()
    }

    /// Every locker in code order.
    pub fn iter(&self) -> impl Iterator<Item = (&LockerCode, u64)> {
        self.balances.iter().map(|(code, balance)| (code, *balance))
    }

    /// Takes the balances as they are now as the baseline [`LockerLedger::differing`]
    /// compares against.
    pub fn mark_baseline(&mut self) {
        self.baseline_of_written.clear();
        self.differing.clear();
        self.written.clear();
    }

    /// The lockers written (inserted, spent from or credited, even back to the same balance)
    /// since the last call or [`LockerLedger::mark_baseline`], in code order, with their
    /// balance now; forgets them. Costs the lockers written.
    pub fn take_written(&mut self) -> Vec<(LockerCode, u64)> {
        let written = std::mem::take(&mut self.written);
        written
            .into_iter()
            .map(|code| {
                let balance = self.balances.get(&code).copied();
                (code, balance.expect("a written locker is never removed"))
            })
            .collect()
    }

    /// The lockers whose balance differs from the baseline (a locker added since always
    /// differs), in code order, with their balance. Costs the lockers that differ.
    pub fn differing(&self) -> Vec<(LockerCode, u64)> {
        debug_assert!(self
            .differing
            .iter()
            .all(|(code, balance)| self.balances.get(code) == Some(balance)));
        debug_assert!(self.differing.windows(2).all(|pair| pair[0].0 < pair[1].0));
        self.differing.clone()
    }

    /// The lockers whose balance differs from `other`'s (a locker `other` lacks always
    /// differs), in code order, with their balance here. Compares every locker: for
    /// checking [`LockerLedger::differing`] against a copy of the baseline.
    pub fn differing_from(&self, other: &LockerLedger) -> Vec<(LockerCode, u64)> {
        self.balances
            .iter()
            .filter(|(code, balance)| other.balance(code) != Some(**balance))
            .map(|(code, balance)| (*code, *balance))
            .collect()
    }

    /// Keeps `differing` up to date after `code`'s balance went from `previous` to `balance`.
    fn note_write(&mut self, code: LockerCode, previous: Option<u64>, balance: u64) {
        if let Err(index) = self.written.binary_search(&code) {
            self.written.insert(index, code);
        }
        let baseline = *self.baseline_of_written.entry(code).or_insert(previous);
        let found = self
            .differing
            .binary_search_by(|(other, _)| other.cmp(&code));
        match (baseline == Some(balance), found) {
            (true, Ok(index)) => {
                self.differing.remove(index);
            }
            (true, Err(_)) => {}
            (false, Ok(index)) => self.differing[index].1 = balance,
            (false, Err(index)) => self.differing.insert(index, (code, balance)),
        }
    }
}

fn code_is_empty(code: &LockerCode) -> bool {
    code.iter().all(|byte| *byte == 0)
}

/// Per-mailbox inbox fees; a mailbox without a record pays the caller's default (0 by the
/// tell page's permissive rule, `inbox_fee_default` in the settings).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InboxFees {
    fees: BTreeMap<(Denomination, SerialNumber), u64>,
}

impl InboxFees {
    /// No fee records.
    pub fn new() -> InboxFees {
        InboxFees::default()
    }

    /// Sets a mailbox's fee, returning the previous one.
    pub fn insert(
        &mut self,
        denomination: Denomination,
        serial_number: SerialNumber,
        fee: u64,
    ) -> Option<u64> {
        self.fees.insert((denomination, serial_number), fee)
    }

    /// The recorded fee of a mailbox.
    pub fn fee(&self, denomination: Denomination, serial_number: SerialNumber) -> Option<u64> {
        self.fees.get(&(denomination, serial_number)).copied()
    }

    /// The fee of a mailbox, `missing_fee` when it has no record.
    pub fn fee_or(
        &self,
        denomination: Denomination,
        serial_number: SerialNumber,
        missing_fee: u64,
    ) -> u64 {
        self.fee(denomination, serial_number).unwrap_or(missing_fee)
    }

    /// Number of fee records.
    pub fn len(&self) -> usize {
        self.fees.len()
    }

    /// Whether there are no fee records.
    pub fn is_empty(&self) -> bool {
        self.fees.is_empty()
    }

    /// Every record in (denomination, serial number) order.
    pub fn iter(&self) -> impl Iterator<Item = ((Denomination, SerialNumber), u64)> + '_ {
        self.fees.iter().map(|(key, fee)| (*key, *fee))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn code(text: &str) -> LockerCode {
        locker_code_from_ascii(text).expect("valid code")
    }

    #[test]
    fn spend_refuses_empty_unknown_and_short_lockers() {
        let mut ledger = LockerLedger::new();
        ledger.insert(code("ABC"), 5);
        assert_eq!(ledger.spend(&[0; 16], 1), Err(PaymentError::EmptyCode));
        assert_eq!(
            ledger.spend(&code("XYZ"), 1),
            Err(PaymentError::UnknownLocker)
        );
        assert_eq!(
            ledger.spend(&code("ABC"), 6),
            Err(PaymentError::InsufficientBalance {
                balance: 5,
                required: 6
            })
        );
        assert_eq!(
            ledger.balance(&code("ABC")),
            Some(5),
            "refusals spend nothing"
        );
        ledger.spend(&code("ABC"), 5).expect("exact balance");
        assert_eq!(ledger.balance(&code("ABC")), Some(0));
        ledger
            .spend(&code("ABC"), 0)
            .expect("zero from an empty locker");
    }

    #[test]
    fn credit_refunds_existing_lockers_only() {
        let mut ledger = LockerLedger::new();
        ledger.insert(code("ABC"), 5);
        ledger.spend(&code("ABC"), 2).expect("spend");
        assert!(ledger.credit(&code("ABC"), 2));
        assert_eq!(ledger.balance(&code("ABC")), Some(5));
        assert!(!ledger.credit(&code("XYZ"), 1), "unknown locker");
        assert_eq!(ledger.balance(&code("XYZ")), None);
        ledger.insert(code("MAX"), u64::MAX);
        assert!(!ledger.credit(&code("MAX"), 1), "overflow");
        assert_eq!(ledger.balance(&code("MAX")), Some(u64::MAX));
    }

    fn baseline_of_four() -> LockerLedger {
        let mut ledger = LockerLedger::new();
        for (text, balance) in [("A", 5), ("B", 5), ("C", 5), ("D", 5)] {
            ledger.insert(code(text), balance);
        }
        ledger.mark_baseline();
        ledger
    }

    #[test]
    fn differing_sees_every_change_and_nothing_else() {
        let baseline = baseline_of_four();
        let mut live = baseline.clone();
        assert_eq!(live.differing(), Vec::new());
        live.spend(&code("B"), 2).expect("spend");
        assert_eq!(live.differing(), vec![(code("B"), 3)]);
        live.spend(&code("D"), 5).expect("spend");
        live.insert(code("E"), 1);
        assert_eq!(
            live.differing(),
            vec![(code("B"), 3), (code("D"), 0), (code("E"), 1)],
            "code order, a locker the baseline lacks included"
        );
        // A refund back to the baseline balance: B no longer differs.
        assert!(live.credit(&code("B"), 2));
        assert_eq!(live.differing(), vec![(code("D"), 0), (code("E"), 1)]);
        // Refused spends and credits change nothing.
        assert!(live.spend(&code("A"), 6).is_err());
        assert!(!live.credit(&code("Z"), 1));
        // Setting a locker back to its baseline balance: it no longer differs either.
        live.insert(code("D"), 5);
        assert_eq!(live.differing(), vec![(code("E"), 1)]);
        // A clone (what `Env::prepare` swaps in) keeps what differs and the baseline.
        let mut restored = live.clone();
        restored.spend(&code("C"), 1).expect("spend");
        assert_eq!(restored.differing(), vec![(code("C"), 4), (code("E"), 1)]);
        assert!(restored.credit(&code("C"), 1));
        assert_eq!(restored.differing(), vec![(code("E"), 1)]);
        assert_eq!(live.differing(), live.differing_from(&baseline));
    }

    #[test]
    fn take_written_lists_every_written_locker_once_even_back_at_its_baseline() {
        let mut live = baseline_of_four();
        assert_eq!(
            live.take_written(),
            Vec::new(),
            "the baseline is not written"
        );
        live.spend(&code("C"), 1).expect("spend");
        live.spend(&code("A"), 2).expect("spend");
        live.spend(&code("C"), 1).expect("spend again");
        assert!(live.spend(&code("B"), 6).is_err());
        assert!(!live.credit(&code("Z"), 1));
        assert_eq!(
            live.take_written(),
            vec![(code("A"), 3), (code("C"), 3)],
            "code order, once each, refused writes left out"
        );
        assert_eq!(live.take_written(), Vec::new(), "taken");
        // A refund back to the baseline balance is a write the journal must record.
        assert!(live.credit(&code("A"), 2));
        live.insert(code("E"), 1);
        assert_eq!(live.take_written(), vec![(code("A"), 5), (code("E"), 1)]);
        assert_eq!(live.differing(), vec![(code("C"), 3), (code("E"), 1)]);
        live.spend(&code("D"), 1).expect("spend");
        live.mark_baseline();
        assert_eq!(live.take_written(), Vec::new(), "a baseline forgets them");
    }

    #[test]
    fn a_ledger_never_marked_differs_in_every_locker() {
        let mut other = LockerLedger::new();
        other.insert(code("A"), 1);
        let mut ledger = LockerLedger::new();
        ledger.insert(code("A"), 1);
        ledger.insert(code("B"), 2);
        assert_eq!(ledger.differing_from(&other), vec![(code("B"), 2)]);
        assert_eq!(ledger.differing(), vec![(code("A"), 1), (code("B"), 2)]);
        ledger.mark_baseline();
        assert_eq!(ledger.differing(), Vec::new());
    }

    #[test]
    fn equality_ignores_the_baseline() {
        let baseline = baseline_of_four();
        let mut live = baseline.clone();
        live.spend(&code("A"), 1).expect("spend");
        assert_ne!(live, baseline);
        assert!(live.credit(&code("A"), 1));
        assert_eq!(live, baseline);
        let mut unmarked = LockerLedger::new();
        for (code, balance) in baseline.iter() {
            unmarked.insert(*code, balance);
        }
        assert_eq!(unmarked, baseline);
        assert_ne!(unmarked.differing(), baseline.differing());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any run of spends, credits and inserts: what the ledger keeps as differing is what
        /// comparing every locker with the baseline gives.
        #[test]
        fn differing_matches_a_full_comparison(
            ops in proptest::collection::vec((0u8..3, 0usize..6, 0u64..7), 0..40)
        ) {
            let baseline = baseline_of_four();
            let mut live = baseline.clone();
            let codes = ["A", "B", "C", "D", "E", "F"].map(code);
            for (kind, index, amount) in ops {
                let locker = codes[index];
                match kind {
                    0 => { let _ = live.spend(&locker, amount); }
                    1 => { live.credit(&locker, amount); }
                    _ => { live.insert(locker, amount); }
                }
                prop_assert_eq!(live.differing(), live.differing_from(&baseline));
            }
        }

        /// A ledger built from balances is the ledger the same inserts build, down to what it
        /// reports as written and differing, before and after later writes and a baseline.
        #[test]
        fn from_balances_is_the_inserts(
            balances in proptest::collection::vec((0usize..6, 0u64..7), 0..20),
            later in proptest::collection::vec((0usize..6, 0u64..7), 0..6),
        ) {
            let codes = ["A", "B", "C", "D", "E", "F"].map(code);
            let mut inserted = LockerLedger::new();
            for (index, balance) in &balances {
                inserted.insert(codes[*index], *balance);
            }
            let mut built = LockerLedger::from_balances(
                balances.iter().map(|(index, balance)| (codes[*index], *balance)),
            );
            prop_assert_eq!(&built, &inserted);
            prop_assert_eq!(built.differing(), inserted.differing());
            for (index, amount) in &later {
                built.insert(codes[*index], *amount);
                inserted.insert(codes[*index], *amount);
                let _ = built.spend(&codes[*index], 1);
                let _ = inserted.spend(&codes[*index], 1);
            }
            prop_assert_eq!(built.differing(), inserted.differing());
            prop_assert_eq!(built.take_written(), inserted.take_written());
            built.mark_baseline();
            inserted.mark_baseline();
            for (index, amount) in &later {
                built.insert(codes[*index], amount + 1);
                inserted.insert(codes[*index], amount + 1);
            }
            prop_assert_eq!(built.differing(), inserted.differing());
            prop_assert_eq!(built.take_written(), inserted.take_written());
        }
    }

    #[test]
    fn holds_at_least_rules() {
        let mut ledger = LockerLedger::new();
        ledger.insert(code("ABC"), 5);
        assert!(ledger.holds_at_least(&code("ABC"), 5));
        assert!(!ledger.holds_at_least(&code("ABC"), 6));
        assert!(
            ledger.holds_at_least(&code("NOPE"), 0),
            "unknown holds zero"
        );
        assert!(!ledger.holds_at_least(&code("NOPE"), 1));
        assert!(!ledger.holds_at_least(&[0; 16], 0), "empty code never pays");
    }

    #[test]
    fn missing_fee_record_uses_the_default() {
        let mut fees = InboxFees::new();
        fees.insert(1, 1000, 7);
        assert_eq!(fees.fee_or(1, 1000, 0), 7);
        assert_eq!(fees.fee_or(1, 1001, 0), 0);
        assert_eq!(fees.fee(1, 1001), None);
        assert_eq!(fees.fee_or(-8, 1, 3), 3);
    }

    #[test]
    fn coin_table_lookup() {
        let mut coins = CoinTable::new();
        assert!(coins.is_empty());
        coins.insert(-1, 42, [7; 16]);
        assert_eq!(coins.an(-1, 42), Some(&[7; 16]));
        assert_eq!(coins.an(1, 42), None);
        assert_eq!(coins.len(), 1);
        assert_eq!(coins.insert(-1, 42, [8; 16]), Some([7; 16]), "replaces");
        assert_eq!(coins.an(-1, 42), Some(&[8; 16]));
    }

    #[test]
    fn coin_table_iterates_in_key_order() {
        let mut coins = CoinTable::new();
        let keys = [(1, 9), (-8, 3), (1, 2), (6, 0), (-1, 70_000), (0, 5)];
        for (denomination, serial_number) in keys {
            coins.insert(denomination, serial_number, [serial_number as u8; 16]);
        }
        let mut sorted = keys.to_vec();
        sorted.sort_unstable();
        let order: Vec<_> = coins.iter().map(|(key, _)| key).collect();
        assert_eq!(order, sorted);
        assert!(coins
            .iter()
            .all(|((_, serial_number), an)| *an == [serial_number as u8; 16]));
    }

    #[test]
    fn locker_code_text_round_trip() {
        assert_eq!(locker_code_from_ascii(""), None);
        assert_eq!(locker_code_from_ascii("12345678901234567"), None);
        assert_eq!(locker_code_from_ascii("tab\there"), None);
        assert_eq!(locker_code_from_ascii("é"), None);
        let full = code("ABCDEFGHIJKLMNOP");
        assert_eq!(
            locker_code_to_ascii(&full).as_deref(),
            Some("ABCDEFGHIJKLMNOP")
        );
        assert_eq!(locker_code_to_ascii(&code("A B")).as_deref(), Some("A B"));
        let mut gap = code("AB");
        gap[5] = b'C';
        assert_eq!(locker_code_to_ascii(&gap), None, "text after padding");
        assert_eq!(locker_code_to_ascii(&[0; 16]), None);
    }

    #[test]
    fn denomination_range() {
        assert!(denomination_is_valid(-8));
        assert!(denomination_is_valid(6));
        assert!(!denomination_is_valid(7));
        assert!(!denomination_is_valid(-9));
    }
}
