//! Provisioning files: the coins, lockers and inbox fees a RAIDA (or a whole cluster) starts
//! with, as TOML.
//!
//! One file can provision all 25 RAIDAs: a coin gives either one `an` (the same AN on every
//! RAIDA, handy for tests) or `ans`, 25 ANs, one per RAIDA index; `raida serve --id N` takes
//! `ans[N]` through [`Provision::for_raida`]. Lockers and inbox fees are the same on every
//! RAIDA.
//!
//! ```toml
//! [[coin]]
//! denomination = 1
//! serial_number = 1000
//! an = "000102030405060708090a0b0c0d0e0f"      # 32 lowercase hex digits
//!
//! [[coin]]
//! denomination = -1
//! serial_number = 7
//! ans = ["00…", "01…", …]                      # exactly 25 ANs, index = RAIDA id
//!
//! [[locker]]
//! code = "PAYME"                               # ASCII, 1 to 16 characters, NUL padded
//! balance = 100
//!
//! [[locker]]
//! code_hex = "00ff00ff00ff00ff00ff00ff00ff00ff" # any 16 bytes, when not printable ASCII
//! balance = 5
//!
//! [[inbox_fee]]
//! denomination = 1
//! serial_number = 1000
//! fee = 2
//! ```
//!
//! Every error names the file, the line, the column and the dotted key (`coin.an`), through
//! `knobs::Source` like every TOML file of the workspace ([`ProvisionError`]); unknown keys,
//! duplicate coins/lockers/fees, denominations outside −8…+6 and malformed hex are refused.
//! [`Provision::to_toml`] writes a file [`Provision::parse`] reads back, so tools can
//! generate clusters.

use std::collections::BTreeSet;
use std::fmt;

use knobs::{ConfigError, Source};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::coins::{
    denomination_is_valid, locker_code_from_ascii, locker_code_to_ascii, An, CoinTable,
    Denomination, InboxFees, LockerCode, LockerLedger, SerialNumber,
};
use crate::limits;
use crate::store::{bytes_to_hex, hex_to_bytes};

/// Why a provisioning file was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProvisionError {
    /// The file is larger than [`limits::PROVISION_FILE_SIZE_BYTES_MAX`].
    TooLarge {
        /// The file.
        source_name: String,
        /// Its size.
        size_bytes: usize,
    },
    /// The TOML did not parse, or has an unknown key, a missing key, a wrongly typed value or
    /// a value that is not acceptable: the file, line, column and dotted key (`coin.an`).
    Config(ConfigError),
    /// A RAIDA id outside 0…24.
    RaidaIdOutOfRange {
        /// The id asked for.
        raida_id: u8,
    },
}

impl fmt::Display for ProvisionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProvisionError::TooLarge {
                source_name,
                size_bytes,
            } => write!(f, "{source_name}: {size_bytes} bytes is too large"),
            ProvisionError::Config(error) => write!(f, "{error}"),
            ProvisionError::RaidaIdOutOfRange { raida_id } => write!(
                f,
                "RAIDA id {raida_id} is outside 0..{}",
                limits::RAIDA_COUNT
            ),
        }
    }
}

impl std::error::Error for ProvisionError {}

/// A coin's AN: the same on every RAIDA, or one per RAIDA index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CoinAns {
    /// One AN for every RAIDA.
    Same(An),
    /// `ans[id]` on RAIDA `id`.
    PerRaida(Box<[An; limits::RAIDA_COUNT]>),
}

/// One provisioned coin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvisionedCoin {
    /// Denomination (−8…+6).
    pub denomination: Denomination,
    /// Serial number.
    pub serial_number: SerialNumber,
    /// Its AN(s).
    pub ans: CoinAns,
}

/// One provisioned locker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvisionedLocker {
    /// The 16-byte code.
    pub code: LockerCode,
    /// Its starting balance.
    pub balance: u64,
}

/// One provisioned inbox fee.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvisionedInboxFee {
    /// Mailbox denomination.
    pub denomination: Denomination,
    /// Mailbox serial number.
    pub serial_number: SerialNumber,
    /// The fee a tell's locker must hold.
    pub fee: u64,
}

/// The contents of a provisioning file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Provision {
    /// Coins, in file order.
    pub coins: Vec<ProvisionedCoin>,
    /// Lockers, in file order.
    pub lockers: Vec<ProvisionedLocker>,
    /// Inbox fees, in file order.
    pub inbox_fees: Vec<ProvisionedInboxFee>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    coin: Vec<Spanned<RawCoin>>,
    #[serde(default)]
    locker: Vec<Spanned<RawLocker>>,
    #[serde(default)]
    inbox_fee: Vec<Spanned<RawInboxFee>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCoin {
    denomination: Spanned<i64>,
    serial_number: u32,
    #[serde(default)]
    an: Option<Spanned<String>>,
    #[serde(default)]
    ans: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLocker {
    #[serde(default)]
    code: Option<Spanned<String>>,
    #[serde(default)]
    code_hex: Option<Spanned<String>>,
    balance: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInboxFee {
    denomination: Spanned<i64>,
    serial_number: u32,
    fee: u64,
}

#[derive(Serialize)]
struct OutFile {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    coin: Vec<OutCoin>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    locker: Vec<OutLocker>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    inbox_fee: Vec<OutInboxFee>,
}

#[derive(Serialize)]
struct OutCoin {
    denomination: i8,
    serial_number: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    an: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ans: Option<Vec<String>>,
}

#[derive(Serialize)]
struct OutLocker {
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code_hex: Option<String>,
    balance: u64,
}

#[derive(Serialize)]
struct OutInboxFee {
    denomination: i8,
    serial_number: u32,
    fee: u64,
}

/// The array-of-tables names, which prefix the keys in errors (`coin.an`).
const COIN: &str = "coin";
const LOCKER: &str = "locker";
const INBOX_FEE: &str = "inbox_fee";

/// Turns spans into located [`ProvisionError::Config`]s for one file.
struct Checker<'a> {
    source: Source<'a>,
}

impl Checker<'_> {
    fn invalid<T>(
        &self,
        span: std::ops::Range<usize>,
        key: &str,
        reason: impl Into<String>,
    ) -> Result<T, ProvisionError> {
        Err(ProvisionError::Config(self.source.error(
            Some(span),
            key,
            reason,
        )))
    }

    fn denomination(
        &self,
        table: &str,
        value: &Spanned<i64>,
    ) -> Result<Denomination, ProvisionError> {
        match i8::try_from(*value.get_ref()) {
            Ok(denomination) if denomination_is_valid(denomination) => Ok(denomination),
            _ => self.invalid(
                value.span(),
                &format!("{table}.denomination"),
                format!("{} is outside -8..=6", value.get_ref()),
            ),
        }
    }

    fn an(&self, value: &Spanned<String>, key: &str) -> Result<An, ProvisionError> {
        match hex_to_bytes::<{ limits::AN_SIZE_BYTES }>(value.get_ref()) {
            Some(an) => Ok(an),
            None => self.invalid(
                value.span(),
                &format!("{COIN}.{key}"),
                "expected 32 lowercase hex digits",
            ),
        }
    }

    fn coin(&self, raw: &Spanned<RawCoin>) -> Result<ProvisionedCoin, ProvisionError> {
        let coin = raw.get_ref();
        let denomination = self.denomination(COIN, &coin.denomination)?;
        let ans = match (&coin.an, &coin.ans) {
            (Some(an), None) => CoinAns::Same(self.an(an, "an")?),
            (None, Some(ans)) => CoinAns::PerRaida(self.per_raida_ans(ans)?),
            _ => {
                let reason = "give exactly one of `an` and `ans`";
                return self.invalid(raw.span(), &format!("{COIN}.an"), reason);
            }
        };
        Ok(ProvisionedCoin {
            denomination,
            serial_number: coin.serial_number,
            ans,
        })
    }

    fn per_raida_ans(
        &self,
        ans: &Spanned<Vec<Spanned<String>>>,
    ) -> Result<Box<[An; limits::RAIDA_COUNT]>, ProvisionError> {
        if ans.get_ref().len() != limits::RAIDA_COUNT {
            return self.invalid(
                ans.span(),
                &format!("{COIN}.ans"),
                format!(
                    "expected {} ANs (one per RAIDA), found {}",
                    limits::RAIDA_COUNT,
                    ans.get_ref().len()
                ),
            );
        }
        let mut table = Box::new([[0u8; limits::AN_SIZE_BYTES]; limits::RAIDA_COUNT]);
        for (slot, an) in table.iter_mut().zip(ans.get_ref()) {
            *slot = self.an(an, "ans")?;
        }
        Ok(table)
    }

    fn locker(&self, raw: &Spanned<RawLocker>) -> Result<ProvisionedLocker, ProvisionError> {
        let locker = raw.get_ref();
        let code = match (&locker.code, &locker.code_hex) {
            (Some(text), None) => match locker_code_from_ascii(text.get_ref()) {
                Some(code) => code,
                None => {
                    return self.invalid(
                        text.span(),
                        &format!("{LOCKER}.code"),
                        "expected 1 to 16 printable ASCII characters",
                    )
                }
            },
            (None, Some(hex)) => {
                match hex_to_bytes::<{ limits::LOCKER_CODE_SIZE_BYTES }>(hex.get_ref()) {
                    Some(code) if code.iter().any(|byte| *byte != 0) => code,
                    _ => {
                        return self.invalid(
                            hex.span(),
                            &format!("{LOCKER}.code_hex"),
                            "expected 32 lowercase hex digits, not all zero",
                        )
                    }
                }
            }
            _ => {
                return self.invalid(
                    raw.span(),
                    &format!("{LOCKER}.code"),
                    "give exactly one of `code` and `code_hex`",
                )
            }
        };
        Ok(ProvisionedLocker {
            code,
            balance: locker.balance,
        })
    }

    fn inbox_fee(&self, raw: &Spanned<RawInboxFee>) -> Result<ProvisionedInboxFee, ProvisionError> {
        let fee = raw.get_ref();
        Ok(ProvisionedInboxFee {
            denomination: self.denomination(INBOX_FEE, &fee.denomination)?,
            serial_number: fee.serial_number,
            fee: fee.fee,
        })
    }
}

impl Provision {
    /// Parses and checks a provisioning file; `source_name` (usually its path) is named in
    /// every error.
    pub fn parse(text: &str, source_name: &str) -> Result<Provision, ProvisionError> {
        if text.len() > limits::PROVISION_FILE_SIZE_BYTES_MAX {
            return Err(ProvisionError::TooLarge {
                source_name: source_name.to_string(),
                size_bytes: text.len(),
            });
        }
        let source = Source::new(source_name, text);
        let raw: RawFile = toml::from_str(text)
            .map_err(|error| ProvisionError::Config(source.syntax_error(&error)))?;
        let checker = Checker { source };
        let mut provision = Provision::default();
        let mut coin_keys = BTreeSet::new();
        for raw_coin in &raw.coin {
            let coin = checker.coin(raw_coin)?;
            if !coin_keys.insert((coin.denomination, coin.serial_number)) {
                let key = format!("{COIN}.serial_number");
                return checker.invalid(raw_coin.span(), &key, "duplicate coin");
            }
            provision.coins.push(coin);
        }
        let mut locker_codes = BTreeSet::new();
        for raw_locker in &raw.locker {
            let locker = checker.locker(raw_locker)?;
            if !locker_codes.insert(locker.code) {
                let key = format!("{LOCKER}.code");
                return checker.invalid(raw_locker.span(), &key, "duplicate locker");
            }
            provision.lockers.push(locker);
        }
        let mut fee_keys = BTreeSet::new();
        for raw_fee in &raw.inbox_fee {
            let fee = checker.inbox_fee(raw_fee)?;
            if !fee_keys.insert((fee.denomination, fee.serial_number)) {
                let key = format!("{INBOX_FEE}.serial_number");
                return checker.invalid(raw_fee.span(), &key, "duplicate inbox fee");
            }
            provision.inbox_fees.push(fee);
        }
        Ok(provision)
    }

    /// The tables RAIDA `raida_id` starts with.
    pub fn for_raida(
        &self,
        raida_id: u8,
    ) -> Result<(CoinTable, LockerLedger, InboxFees), ProvisionError> {
        let index = usize::from(raida_id);
        if index >= limits::RAIDA_COUNT {
            return Err(ProvisionError::RaidaIdOutOfRange { raida_id });
        }
        let mut coins = CoinTable::new();
        for coin in &self.coins {
            let an = match &coin.ans {
                CoinAns::Same(an) => *an,
                CoinAns::PerRaida(ans) => ans[index],
            };
            coins.insert(coin.denomination, coin.serial_number, an);
        }
        let lockers = LockerLedger::from_balances(
            self.lockers
                .iter()
                .map(|locker| (locker.code, locker.balance)),
        );
        let mut inbox_fees = InboxFees::new();
        for fee in &self.inbox_fees {
            inbox_fees.insert(fee.denomination, fee.serial_number, fee.fee);
        }
        Ok((coins, lockers, inbox_fees))
    }

    /// This provision as a TOML file that [`Provision::parse`] reads back.
    pub fn to_toml(&self) -> String {
        let file = OutFile {
            coin: self.coins.iter().map(out_coin).collect(),
            locker: self.lockers.iter().map(out_locker).collect(),
            inbox_fee: self
                .inbox_fees
                .iter()
                .map(|fee| OutInboxFee {
                    denomination: fee.denomination,
                    serial_number: fee.serial_number,
                    fee: fee.fee,
                })
                .collect(),
        };
        match toml::to_string(&file) {
            Ok(text) => text,
            // Integers and strings of hex/ASCII always serialize; failing here is a bug.
            Err(error) => panic!("provision always serializes: {error}"),
        }
    }
}

fn out_coin(coin: &ProvisionedCoin) -> OutCoin {
    let (an, ans) = match &coin.ans {
        CoinAns::Same(an) => (Some(bytes_to_hex(an)), None),
        CoinAns::PerRaida(ans) => (None, Some(ans.iter().map(|an| bytes_to_hex(an)).collect())),
    };
    OutCoin {
        denomination: coin.denomination,
        serial_number: coin.serial_number,
        an,
        ans,
    }
}

fn out_locker(locker: &ProvisionedLocker) -> OutLocker {
    let code = locker_code_to_ascii(&locker.code);
    let code_hex = code.is_none().then(|| bytes_to_hex(&locker.code));
    OutLocker {
        code,
        code_hex,
        balance: locker.balance,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AN_HEX: &str = "000102030405060708090a0b0c0d0e0f";

    fn ans_line() -> String {
        let ans: Vec<String> = (0..25)
            .map(|i| format!("\"{}\"", format!("{i:02x}").repeat(16)))
            .collect();
        format!("ans = [{}]", ans.join(", "))
    }

    fn sample() -> String {
        format!(
            "[[coin]]\ndenomination = 1\nserial_number = 1000\nan = \"{AN_HEX}\"\n\n\
             [[coin]]\ndenomination = -1\nserial_number = 7\n{}\n\n\
             [[locker]]\ncode = \"PAYME\"\nbalance = 100\n\n\
             [[locker]]\ncode_hex = \"00ff00ff00ff00ff00ff00ff00ff00ff\"\nbalance = 5\n\n\
             [[inbox_fee]]\ndenomination = 1\nserial_number = 1000\nfee = 2\n",
            ans_line()
        )
    }

    fn invalid_at(text: &str) -> (usize, String) {
        match Provision::parse(text, "p.toml") {
            Err(ProvisionError::Config(error)) => (error.line, error.key),
            other => panic!("expected a located error, got {other:?}"),
        }
    }

    #[test]
    fn parses_a_cluster_file_and_picks_each_raidas_an() {
        let provision = Provision::parse(&sample(), "cluster.toml").expect("parses");
        assert_eq!(provision.coins.len(), 2);
        let (coins, lockers, fees) = provision.for_raida(3).expect("raida 3");
        assert_eq!(coins.an(1, 1000), hex_to_bytes::<16>(AN_HEX).as_ref());
        assert_eq!(coins.an(-1, 7), Some(&[0x03; 16]));
        let (coins24, _, _) = provision.for_raida(24).expect("raida 24");
        assert_eq!(coins24.an(-1, 7), Some(&[0x18; 16]));
        let payme = locker_code_from_ascii("PAYME").expect("code");
        assert_eq!(lockers.balance(&payme), Some(100));
        let mut hex_code = [0u8; 16];
        for (index, byte) in hex_code.iter_mut().enumerate() {
            *byte = if index % 2 == 0 { 0x00 } else { 0xff };
        }
        assert_eq!(lockers.balance(&hex_code), Some(5));
        assert_eq!(fees.fee(1, 1000), Some(2));
        assert_eq!(
            provision.for_raida(25),
            Err(ProvisionError::RaidaIdOutOfRange { raida_id: 25 })
        );
    }

    #[test]
    fn to_toml_round_trips() {
        let provision = Provision::parse(&sample(), "cluster.toml").expect("parses");
        let text = provision.to_toml();
        let back = Provision::parse(&text, "generated.toml").expect("reads back");
        assert_eq!(back, provision);
        assert_eq!(
            Provision::parse(&Provision::default().to_toml(), "e").expect("empty"),
            Provision::default()
        );
    }

    #[test]
    fn errors_name_line_and_key() {
        let unknown = "[[coin]]\ndenomination = 1\nserial_number = 1\nan = \"".to_string()
            + AN_HEX
            + "\"\ncolour = \"red\"\n";
        assert_eq!(invalid_at(&unknown), (5, "coin.colour".to_string()));

        let bad_hex = "\n[[coin]]\ndenomination = 1\nserial_number = 1\nan = \"xyz\"\n";
        assert_eq!(invalid_at(bad_hex), (5, "coin.an".to_string()));

        let bad_denomination = "[[coin]]\nserial_number = 1\ndenomination = 7\nan = \"0\"\n";
        assert_eq!(
            invalid_at(bad_denomination),
            (3, "coin.denomination".to_string())
        );

        let wrong_type = "[[locker]]\ncode = \"A\"\nbalance = \"lots\"\n";
        assert_eq!(invalid_at(wrong_type), (3, "locker.balance".to_string()));

        let short_ans = "[[coin]]\ndenomination = 0\nserial_number = 1\nans = [\"".to_string()
            + AN_HEX
            + "\"]\n";
        assert_eq!(invalid_at(&short_ans), (4, "coin.ans".to_string()));

        let long_code = "[[locker]]\nbalance = 1\ncode = \"0123456789abcdefg\"\n";
        assert_eq!(invalid_at(long_code), (3, "locker.code".to_string()));

        let unknown_table = "[[coins]]\ndenomination = 1\n";
        assert_eq!(invalid_at(unknown_table).1, "coins");

        let missing = "[[inbox_fee]]\ndenomination = 1\nserial_number = 1\n";
        let (line, key) = invalid_at(missing);
        assert_eq!(key, "inbox_fee.fee");
        assert!(line <= 3, "line {line}");
    }

    #[test]
    fn duplicates_and_ambiguities_are_refused() {
        let coin = format!("[[coin]]\ndenomination = 1\nserial_number = 9\nan = \"{AN_HEX}\"\n");
        let (line, key) = invalid_at(&format!("{coin}{coin}"));
        assert_eq!(key, "coin.serial_number");
        assert!(line >= 5, "points at the second coin, line {line}");

        let both = format!(
            "[[coin]]\ndenomination = 1\nserial_number = 9\nan = \"{AN_HEX}\"\n{}\n",
            ans_line()
        );
        assert_eq!(invalid_at(&both).1, "coin.an");

        let locker = "[[locker]]\ncode = \"X\"\nbalance = 1\n";
        assert_eq!(invalid_at(&format!("{locker}{locker}")).1, "locker.code");

        let zero = "[[locker]]\ncode_hex = \"00000000000000000000000000000000\"\nbalance = 1\n";
        assert_eq!(invalid_at(zero), (2, "locker.code_hex".to_string()));
    }

    #[test]
    fn error_display_names_file_line_and_key() {
        let error = Provision::parse("[[locker]]\ncode = \"\"\nbalance = 1\n", "lockers.toml")
            .expect_err("empty code");
        assert_eq!(
            error.to_string(),
            "lockers.toml:2:8: key `locker.code`: expected 1 to 16 printable ASCII characters"
        );
    }
}
