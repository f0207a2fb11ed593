//! Reed–Solomon striping: N data stripes plus k parity stripes, any k of which may be lost.
//!
//! This is `parity_algo` 1 of the tell file header, an extension: the tell page reserves values
//! other than 0 "for future Reed-Solomon / GF(2^8) IDs" and DECISIONS.md ("Striping") leaves
//! them free. A beacon that knows only `parity_algo` 0 skips its `total_file_size` estimate for
//! 1, so such a tell is still delivered. The recipient learns k from the server entries
//! (`stripe_type` 1 marks a parity stripe) or from a reserved byte an extension claims (see
//! `qmail_wire::extension`).
//!
//! # The code
//!
//! - Data stripes: exactly those of `parity_algo` 0 ([`crate::stripe::stripe`]'s bit
//!   interleaving, every stripe `ceil(L / N)` bytes), so the two schemes differ only in their
//!   parity stripes.
//! - Symbols: bytes as elements of GF(2^8) with the reducing polynomial x⁸+x⁴+x³+x²+1 (0x11d)
//!   and generator 2; addition is XOR. Multiplication reads a 64 KiB table computed at compile
//!   time by a `const fn` (no lazy initialisation, no lock, no `unsafe`).
//! - Parity: byte `b` of parity stripe `i` (stripe index N + i) is `Σⱼ P[i][j] · data_j[b]`
//!   with `P[i][j] = (x₀ + yⱼ) / (xᵢ + yⱼ)`, xᵢ = N + i and yⱼ = j as field elements. That is the
//!   Cauchy matrix 1 / (xᵢ + yⱼ) with each column scaled so that row 0 is all ones: parity
//!   stripe 0 is the XOR parity of `parity_algo` 0, and with k = 1 the whole stripe set is
//!   byte-identical to `parity_algo` 0's.
//! - Recovery: every square submatrix of a Cauchy matrix is invertible, and scaling columns
//!   keeps it so; hence any N rows of the systematic generator [I; P] form an invertible
//!   matrix, and any N surviving stripes give back the data (the code is MDS). With more than
//!   N stripes present, the surplus is checked against the rebuilt data, so up to
//!   (present − N) corrupt stripes are detected rather than returned as wrong bytes.
//!
//! Bounds: 1 ≤ N, 1 ≤ k, N + k ≤ 32 (the tell's `stripe_count`), in `crate::limits`.

use std::fmt;

use crate::limits::{
    DATA_STRIPE_COUNT_MAX, DATA_STRIPE_COUNT_MIN, GF_ELEMENT_COUNT, RS_PARITY_STRIPE_COUNT_MAX,
    RS_PARITY_STRIPE_COUNT_MIN, RS_STRIPE_COUNT_MAX,
};
use crate::stripe::{self, file_crc32, stripe_size_bytes, DataStripeCount, StripeError};

/// The tell file header's `parity_algo` for this module's scheme: systematic Reed–Solomon
/// over GF(2^8), k parity stripes.
pub const PARITY_ALGO_REED_SOLOMON: u8 = 1;

const _: () = assert!(PARITY_ALGO_REED_SOLOMON != qmail_wire::tell::PARITY_ALGO_RAID5_XOR);
const _: () = assert!(PARITY_ALGO_REED_SOLOMON != stripe::PARITY_ALGO_XOR);

/// Everything that can go wrong in Reed–Solomon striping or reconstruction. Bad input always
/// lands here; nothing in this module panics on input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RsError {
    /// N or k is out of range: 1 ≤ N ≤ 31, 1 ≤ k, N + k ≤ 32.
    ShapeInvalid {
        data_stripe_count: usize,
        parity_stripe_count: usize,
    },
    /// The stripe set does not hold N + k stripes.
    StripeCountMismatch {
        stripe_count: usize,
        stripe_count_expected: usize,
    },
    /// A stripe's length differs from the others' (or, in file-level reassembly, from
    /// `ceil(original_size / N)`).
    StripeSizeMismatch {
        stripe_index: usize,
        size_bytes: u64,
        size_bytes_expected: u64,
    },
    /// More stripes are missing than there are parity stripes.
    TooManyMissing { missing_indexes: Vec<usize> },
    /// More than N stripes were present and these disagree with the data rebuilt from the
    /// others: at least one stripe is corrupt, and which one is not known.
    ParityMismatch { stripe_indexes: Vec<usize> },
    /// The reassembled file does not match the manifest's CRC-32.
    Crc32Mismatch {
        crc32_expected: u32,
        crc32_found: u32,
    },
    /// The original size does not fit this machine's address space.
    OriginalSizeInvalid { original_size_bytes: u64 },
    /// The shared bit interleaving refused the file (it is too large for N stripes).
    Stripe(StripeError),
}

impl fmt::Display for RsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ShapeInvalid {
                data_stripe_count,
                parity_stripe_count,
            } => write!(
                f,
                "{data_stripe_count} data + {parity_stripe_count} parity stripes: need \
                 {DATA_STRIPE_COUNT_MIN} to {DATA_STRIPE_COUNT_MAX} data, \
                 {RS_PARITY_STRIPE_COUNT_MIN} to {RS_PARITY_STRIPE_COUNT_MAX} parity, and at \
                 most {RS_STRIPE_COUNT_MAX} in all"
            ),
            Self::StripeCountMismatch {
                stripe_count,
                stripe_count_expected,
            } => write!(
                f,
                "{stripe_count} stripes given, expected {stripe_count_expected} (data plus parity)"
            ),
            Self::StripeSizeMismatch {
                stripe_index,
                size_bytes,
                size_bytes_expected,
            } => write!(
                f,
                "stripe {stripe_index} is {size_bytes} bytes, expected {size_bytes_expected}"
            ),
            Self::TooManyMissing { missing_indexes } => write!(
                f,
                "stripes {} are missing: more than the parity stripes rebuild",
                stripe::index_list(missing_indexes)
            ),
            Self::ParityMismatch { stripe_indexes } => write!(
                f,
                "stripes {} disagree with the data rebuilt from the others: a stripe is \
                 corrupt",
                stripe::index_list(stripe_indexes)
            ),
            Self::Crc32Mismatch {
                crc32_expected,
                crc32_found,
            } => write!(
                f,
                "CRC-32 {crc32_found:#010x} does not match the expected {crc32_expected:#010x}"
            ),
            Self::OriginalSizeInvalid {
                original_size_bytes,
            } => write!(
                f,
                "original size {original_size_bytes} bytes does not fit this machine"
            ),
            Self::Stripe(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for RsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Stripe(error) => Some(error),
            _ => None,
        }
    }
}

impl From<StripeError> for RsError {
    fn from(error: StripeError) -> Self {
        Self::Stripe(error)
    }
}

/// Checks 1 ≤ N ≤ 31, k within its limits and N + k ≤ 32.
pub fn check_shape(data_stripe_count: usize, parity_stripe_count: usize) -> Result<(), RsError> {
    let data_ok = (DATA_STRIPE_COUNT_MIN..=DATA_STRIPE_COUNT_MAX).contains(&data_stripe_count);
    let parity_ok =
        (RS_PARITY_STRIPE_COUNT_MIN..=RS_PARITY_STRIPE_COUNT_MAX).contains(&parity_stripe_count);
    let total_ok = data_stripe_count
        .checked_add(parity_stripe_count)
        .is_some_and(|stripe_count| stripe_count <= RS_STRIPE_COUNT_MAX);
    if data_ok && parity_ok && total_ok {
        Ok(())
    } else {
        Err(RsError::ShapeInvalid {
            data_stripe_count,
            parity_stripe_count,
        })
    }
}

// -------------------------------------------------------------------------------------------
// GF(2^8)
// -------------------------------------------------------------------------------------------

/// x⁸ + x⁴ + x³ + x² + 1, the reducing polynomial.
const GF_POLYNOMIAL: u16 = 0x11d;

/// The primitive element whose powers fill the exp table.
const GF_GENERATOR: u8 = 2;

/// Non-zero elements: the multiplicative group's order.
const GF_GROUP_ORDER: usize = GF_ELEMENT_COUNT - 1;

/// Powers and discrete logarithms of [`GF_GENERATOR`].
struct GfTables {
    /// exp[i] = 2^i; doubled in length so exp[log a + log b] needs no reduction mod 255.
    exp: [u8; 2 * GF_GROUP_ORDER],
    /// log[a] for a ≠ 0; log[0] is unused (0).
    log: [u8; GF_ELEMENT_COUNT],
}

/// Multiplies by x in GF(2^8) without tables (shift, then reduce).
const fn gf_mul_slow(a: u8, b: u8) -> u8 {
    let mut product: u16 = 0;
    let mut a_wide = a as u16;
    let mut b_bits = b;
    while b_bits != 0 {
        if b_bits & 1 == 1 {
            product ^= a_wide;
        }
        a_wide <<= 1;
        if a_wide & 0x100 != 0 {
            a_wide ^= GF_POLYNOMIAL;
        }
        b_bits >>= 1;
    }
    product as u8
}

impl GfTables {
    /// Builds both tables; panics (at compile time, as it runs in a `const`) unless the
    /// generator is primitive, i.e. its powers reach every non-zero element exactly once.
    const fn build() -> Self {
        let mut exp = [0u8; 2 * GF_GROUP_ORDER];
        let mut log = [0u8; GF_ELEMENT_COUNT];
        let mut seen = [false; GF_ELEMENT_COUNT];
        let mut power: u8 = 1;
        let mut exponent = 0;
        while exponent < GF_GROUP_ORDER {
            assert!(
                power != 0 && !seen[power as usize],
                "generator is not primitive"
            );
            seen[power as usize] = true;
            exp[exponent] = power;
            exp[exponent + GF_GROUP_ORDER] = power;
            log[power as usize] = exponent as u8;
            power = gf_mul_slow(power, GF_GENERATOR);
            exponent += 1;
        }
        assert!(power == 1, "generator's order is not 255");
        Self { exp, log }
    }
}

/// The tables, for use in other `const` items only (a `static` below serves run time).
const GF_TABLES: GfTables = GfTables::build();

/// The full multiplication table: `mul[a][b] = a · b`.
const fn build_mul_table(tables: &GfTables) -> [[u8; GF_ELEMENT_COUNT]; GF_ELEMENT_COUNT] {
    let mut mul = [[0u8; GF_ELEMENT_COUNT]; GF_ELEMENT_COUNT];
    let mut a = 1;
    while a < GF_ELEMENT_COUNT {
        let log_a = tables.log[a] as usize;
        let mut b = 1;
        while b < GF_ELEMENT_COUNT {
            mul[a][b] = tables.exp[log_a + tables.log[b] as usize];
            b += 1;
        }
        a += 1;
    }
    mul
}

// Immutable statics with compile-time initialisers: one copy in read-only memory, no lazy
// initialisation, no lock (a `const` array indexed at run time may be copied per use).
static GF_EXP: [u8; 2 * GF_GROUP_ORDER] = GF_TABLES.exp;
static GF_LOG: [u8; GF_ELEMENT_COUNT] = GF_TABLES.log;
static GF_MUL: [[u8; GF_ELEMENT_COUNT]; GF_ELEMENT_COUNT] = build_mul_table(&GF_TABLES);

const _: () = assert!(GF_ELEMENT_COUNT == 256 && GF_TABLES.exp[0] == 1);
const _: () = assert!(GF_TABLES.exp[1] == GF_GENERATOR && GF_TABLES.exp[8] == 0x1d);

fn gf_mul(a: u8, b: u8) -> u8 {
    GF_MUL[a as usize][b as usize]
}

/// The multiplicative inverse of a non-zero element.
fn gf_inv(a: u8) -> u8 {
    assert_ne!(a, 0, "zero has no inverse");
    GF_EXP[GF_GROUP_ORDER - GF_LOG[a as usize] as usize]
}

/// `a / b` for b ≠ 0.
fn gf_div(a: u8, b: u8) -> u8 {
    gf_mul(a, gf_inv(b))
}

/// `target[i] += coefficient · source[i]` for every byte.
fn mul_add(coefficient: u8, source: &[u8], target: &mut [u8]) {
    assert_eq!(source.len(), target.len());
    match coefficient {
        0 => {}
        1 => {
            for (to, from) in target.iter_mut().zip(source) {
                *to ^= from;
            }
        }
        _ => {
            let row = &GF_MUL[coefficient as usize];
            for (to, from) in target.iter_mut().zip(source) {
                *to ^= row[*from as usize];
            }
        }
    }
}

// -------------------------------------------------------------------------------------------
// The code: generator rows and their inverses
// -------------------------------------------------------------------------------------------

/// P[i][j] for N data stripes: (x₀ + yⱼ) / (xᵢ + yⱼ), xᵢ = N + i, yⱼ = j.
fn parity_coefficient(data_stripe_count: usize, parity_index: usize, data_index: usize) -> u8 {
    assert!(data_index < data_stripe_count);
    assert!(data_stripe_count + parity_index < GF_ELEMENT_COUNT);
    // Both fit a byte: N + i < 256 (asserted) and j < N.
    let x_first = data_stripe_count as u8;
    let x_row = (data_stripe_count + parity_index) as u8;
    let y_column = data_index as u8;
    // x ≠ y because every x is at least N and every y below N.
    gf_div(x_first ^ y_column, x_row ^ y_column)
}

/// Row `stripe_index` of the systematic generator [I; P]: which combination of the data
/// stripes that stripe is.
fn generator_row(data_stripe_count: usize, stripe_index: usize) -> Vec<u8> {
    if stripe_index < data_stripe_count {
        let mut row = vec![0u8; data_stripe_count];
        row[stripe_index] = 1;
        row
    } else {
        let parity_index = stripe_index - data_stripe_count;
        (0..data_stripe_count)
            .map(|data_index| parity_coefficient(data_stripe_count, parity_index, data_index))
            .collect()
    }
}

/// The inverse of a square matrix (rows of equal length) by Gauss–Jordan elimination, or
/// `None` when it is singular.
fn invert(matrix: &[Vec<u8>]) -> Option<Vec<Vec<u8>>> {
    let size = matrix.len();
    assert!(matrix.iter().all(|row| row.len() == size));
    let mut left: Vec<Vec<u8>> = matrix.to_vec();
    let mut right: Vec<Vec<u8>> = (0..size)
        .map(|index| {
            let mut row = vec![0u8; size];
            row[index] = 1;
            row
        })
        .collect();
    for column in 0..size {
        let pivot = (column..size).find(|&row| left[row][column] != 0)?;
        left.swap(column, pivot);
        right.swap(column, pivot);
        let scale = gf_inv(left[column][column]);
        for cell in left[column].iter_mut().chain(right[column].iter_mut()) {
            *cell = gf_mul(*cell, scale);
        }
        for row in 0..size {
            let factor = left[row][column];
            if row == column || factor == 0 {
                continue;
            }
            let (pivot_left, pivot_right) = (left[column].clone(), right[column].clone());
            mul_add(factor, &pivot_left, &mut left[row]);
            mul_add(factor, &pivot_right, &mut right[row]);
        }
    }
    Some(right)
}

// -------------------------------------------------------------------------------------------
// Stripe-level encode and reconstruct
// -------------------------------------------------------------------------------------------

/// The k parity stripes of N equally long data stripes (stripe indexes N..N + k).
///
/// # Panics
///
/// When the shape is invalid (see [`check_shape`]) or the data stripes differ in length: the
/// sender builds both, so either is a caller bug. [`stripe_rs`] is the checked entry point.
pub fn rs_encode<S: AsRef<[u8]>>(data_stripes: &[S], parity_count: usize) -> Vec<Vec<u8>> {
    let data_stripe_count = data_stripes.len();
    if let Err(error) = check_shape(data_stripe_count, parity_count) {
        panic!("rs_encode: {error}");
    }
    let stripe_size = data_stripes[0].as_ref().len();
    assert!(
        data_stripes
            .iter()
            .all(|stripe| stripe.as_ref().len() == stripe_size),
        "rs_encode: data stripes differ in length"
    );
    let parity: Vec<Vec<u8>> = (0..parity_count)
        .map(|parity_index| {
            let mut stripe = vec![0u8; stripe_size];
            for (data_index, data) in data_stripes.iter().enumerate() {
                let coefficient = parity_coefficient(data_stripe_count, parity_index, data_index);
                mul_add(coefficient, data.as_ref(), &mut stripe);
            }
            stripe
        })
        .collect();
    assert!(parity.iter().all(|stripe| stripe.len() == stripe_size));
    parity
}

/// Rebuilds every missing stripe of a set of N data stripes then k parity stripes, in place.
///
/// Up to k stripes may be `None`; more is [`RsError::TooManyMissing`] and leaves `stripes`
/// untouched. Present stripes must be equally long. The rebuild uses the first N present
/// stripes and does not check any surplus ones; [`rs_verify`] or [`reassemble_rs`] do.
pub fn rs_reconstruct(
    stripes: &mut [Option<Vec<u8>>],
    data_count: usize,
    parity_count: usize,
) -> Result<(), RsError> {
    check_shape(data_count, parity_count)?;
    let stripe_count_expected = data_count + parity_count;
    if stripes.len() != stripe_count_expected {
        return Err(RsError::StripeCountMismatch {
            stripe_count: stripes.len(),
            stripe_count_expected,
        });
    }
    let stripe_size = equal_stripe_size(stripes, None)?;
    let missing_indexes: Vec<usize> = (0..stripes.len())
        .filter(|&index| stripes[index].is_none())
        .collect();
    if missing_indexes.len() > parity_count {
        return Err(RsError::TooManyMissing { missing_indexes });
    }
    if missing_indexes.is_empty() {
        return Ok(());
    }
    let data = recover_data(stripes, data_count, &missing_indexes, stripe_size);
    let parity = rs_encode(&data, parity_count);
    for &missing_index in &missing_indexes {
        let rebuilt = if missing_index < data_count {
            &data[missing_index]
        } else {
            &parity[missing_index - data_count]
        };
        stripes[missing_index] = Some(rebuilt.clone());
    }
    assert!(stripes.iter().all(|stripe| stripe
        .as_ref()
        .is_some_and(|stripe| stripe.len() == stripe_size)));
    Ok(())
}

/// Checks a full stripe set: the parity stripes must be those of the data stripes. The error
/// lists the parity stripes that disagree.
pub fn rs_verify<S: AsRef<[u8]>>(
    stripes: &[S],
    data_count: usize,
    parity_count: usize,
) -> Result<(), RsError> {
    check_shape(data_count, parity_count)?;
    let stripe_count_expected = data_count + parity_count;
    if stripes.len() != stripe_count_expected {
        return Err(RsError::StripeCountMismatch {
            stripe_count: stripes.len(),
            stripe_count_expected,
        });
    }
    let present: Vec<Option<&[u8]>> = stripes.iter().map(|s| Some(s.as_ref())).collect();
    equal_stripe_size(&present, None)?;
    let (data, parity) = stripes.split_at(data_count);
    let stripe_indexes = disagreeing_parity(data, parity.iter().map(|s| Some(s.as_ref())));
    if stripe_indexes.is_empty() {
        Ok(())
    } else {
        Err(RsError::ParityMismatch { stripe_indexes })
    }
}

/// The common length of the present stripes, which must equal `size_bytes_expected` when
/// given (else the first present stripe's length). 0 when none is present.
fn equal_stripe_size<S: AsRef<[u8]>>(
    stripes: &[Option<S>],
    size_bytes_expected: Option<usize>,
) -> Result<usize, RsError> {
    let mut present = stripes
        .iter()
        .enumerate()
        .filter_map(|(index, stripe)| stripe.as_ref().map(|stripe| (index, stripe.as_ref())));
    let expected = match size_bytes_expected {
        Some(expected) => expected,
        None => match present.clone().next() {
            Some((_, first)) => first.len(),
            None => return Ok(0),
        },
    };
    match present.find(|(_, stripe)| stripe.len() != expected) {
        Some((stripe_index, stripe)) => Err(RsError::StripeSizeMismatch {
            stripe_index,
            size_bytes: stripe.len() as u64,
            size_bytes_expected: expected as u64,
        }),
        None => Ok(expected),
    }
}

/// The N data stripes, rebuilt from the first N present stripes. The caller has checked the
/// shape, that at most k are missing and that the present ones are `stripe_size` long.
fn recover_data<S: AsRef<[u8]>>(
    stripes: &[Option<S>],
    data_count: usize,
    missing_indexes: &[usize],
    stripe_size: usize,
) -> Vec<Vec<u8>> {
    let chosen: Vec<(usize, &[u8])> = stripes
        .iter()
        .enumerate()
        .filter_map(|(index, stripe)| stripe.as_ref().map(|stripe| (index, stripe.as_ref())))
        .take(data_count)
        .collect();
    assert_eq!(chosen.len(), data_count, "at most k stripes are missing");
    let missing_data = missing_indexes.iter().any(|&index| index < data_count);
    let decoder = if missing_data {
        let rows: Vec<Vec<u8>> = chosen
            .iter()
            .map(|&(index, _)| generator_row(data_count, index))
            .collect();
        // Any N rows of [I; P] are invertible (module doc), so this cannot fail on input.
        invert(&rows).expect("every N rows of a Cauchy-based systematic generator invert")
    } else {
        Vec::new()
    };
    (0..data_count)
        .map(|data_index| match stripes[data_index].as_ref() {
            Some(stripe) => stripe.as_ref().to_vec(),
            None => {
                let mut rebuilt = vec![0u8; stripe_size];
                for (&coefficient, &(_, source)) in decoder[data_index].iter().zip(&chosen) {
                    mul_add(coefficient, source, &mut rebuilt);
                }
                rebuilt
            }
        })
        .collect()
}

/// Stripe indexes (N + i) of the given parity stripes that differ from the parity of `data`.
fn disagreeing_parity<'a, S: AsRef<[u8]>>(
    data: &[S],
    parity: impl ExactSizeIterator<Item = Option<&'a [u8]>>,
) -> Vec<usize> {
    let data_count = data.len();
    let expected = rs_encode(data, parity.len());
    parity
        .zip(&expected)
        .enumerate()
        .filter(|(_, (given, expected))| given.is_some_and(|given| given != expected.as_slice()))
        .map(|(parity_index, _)| data_count + parity_index)
        .collect()
}

// -------------------------------------------------------------------------------------------
// File level
// -------------------------------------------------------------------------------------------

/// One file cut into N data stripes and k Reed–Solomon parity stripes, all equally long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StripeSetRs {
    /// The N data stripes, stripe indexes 0..N: byte-identical to `parity_algo` 0's.
    pub data: Vec<Vec<u8>>,
    /// The k parity stripes, stripe indexes N..N + k. Parity stripe 0 is the XOR parity.
    pub parity: Vec<Vec<u8>>,
    /// Length of the file before striping: reassembly trims the padding to it.
    pub original_size_bytes: u64,
}

impl StripeSetRs {
    /// The stripe at `stripe_index`: data stripes 0..N, then parity stripes.
    pub fn stripe(&self, stripe_index: usize) -> Option<&[u8]> {
        match stripe_index.checked_sub(self.data.len()) {
            None => self.data.get(stripe_index).map(Vec::as_slice),
            Some(parity_index) => self.parity.get(parity_index).map(Vec::as_slice),
        }
    }

    /// N + k, the tell's `stripe_count` for this file.
    pub fn stripe_count(&self) -> usize {
        self.data.len() + self.parity.len()
    }

    /// All stripes in stripe index order, as [`reassemble_rs`] takes them.
    pub fn into_stripes(self) -> Vec<Option<Vec<u8>>> {
        self.data.into_iter().chain(self.parity).map(Some).collect()
    }
}

/// Cuts `file` into N data stripes (the bit interleaving of `parity_algo` 0) and k
/// Reed–Solomon parity stripes.
pub fn stripe_rs(
    file: &[u8],
    data_stripe_count: DataStripeCount,
    parity_stripe_count: usize,
) -> Result<StripeSetRs, RsError> {
    check_shape(data_stripe_count.get(), parity_stripe_count)?;
    let xor_set = stripe::stripe(file, data_stripe_count)?;
    let parity = rs_encode(&xor_set.data, parity_stripe_count);
    assert_eq!(parity.first(), Some(&xor_set.parity));
    Ok(StripeSetRs {
        data: xor_set.data,
        parity,
        original_size_bytes: xor_set.original_size_bytes,
    })
}

/// Rebuilds a file from its N + k stripes (`None` for one that could not be fetched).
///
/// Up to k missing stripes are rebuilt. Every stripe given must be `ceil(L / N)` bytes. When
/// more than N stripes are given, the surplus is checked against the rebuilt data and any
/// disagreement is [`RsError::ParityMismatch`]: the result is never a guess.
pub fn reassemble_rs<S: AsRef<[u8]>>(
    stripes: &[Option<S>],
    data_stripe_count: DataStripeCount,
    parity_stripe_count: usize,
    original_size_bytes: u64,
) -> Result<Vec<u8>, RsError> {
    reassemble_rs_verified(
        stripes,
        data_stripe_count,
        parity_stripe_count,
        original_size_bytes,
        None,
    )
}

/// As [`reassemble_rs`], then checks the file against `crc32_expected` (the manifest's
/// CRC-32, when its `crc32_present` flag is set).
pub fn reassemble_rs_verified<S: AsRef<[u8]>>(
    stripes: &[Option<S>],
    data_stripe_count: DataStripeCount,
    parity_stripe_count: usize,
    original_size_bytes: u64,
    crc32_expected: Option<u32>,
) -> Result<Vec<u8>, RsError> {
    let data_count = data_stripe_count.get();
    check_shape(data_count, parity_stripe_count)?;
    let stripe_count_expected = data_count + parity_stripe_count;
    if stripes.len() != stripe_count_expected {
        return Err(RsError::StripeCountMismatch {
            stripe_count: stripes.len(),
            stripe_count_expected,
        });
    }
    let stripe_size = usize::try_from(stripe_size_bytes(original_size_bytes, data_stripe_count))
        .map_err(|_| RsError::OriginalSizeInvalid {
            original_size_bytes,
        })?;
    equal_stripe_size(stripes, Some(stripe_size))?;
    let missing_indexes: Vec<usize> = (0..stripes.len())
        .filter(|&index| stripes[index].is_none())
        .collect();
    if missing_indexes.len() > parity_stripe_count {
        return Err(RsError::TooManyMissing { missing_indexes });
    }
    let data = recover_data(stripes, data_count, &missing_indexes, stripe_size);
    // Every present data stripe was used as is, and so were the first present parity stripes
    // (as many as data stripes were missing); the parity stripes given beyond those are the
    // surplus, and each must match the parity of the rebuilt data.
    let given_parity = stripes[data_count..]
        .iter()
        .map(|stripe| stripe.as_ref().map(AsRef::as_ref));
    let stripe_indexes = disagreeing_parity(&data, given_parity);
    if !stripe_indexes.is_empty() {
        return Err(RsError::ParityMismatch { stripe_indexes });
    }
    let file = unstripe(data, data_stripe_count, original_size_bytes)?;
    if let Some(crc32_expected) = crc32_expected {
        let crc32_found = file_crc32(&file);
        if crc32_found != crc32_expected {
            return Err(RsError::Crc32Mismatch {
                crc32_expected,
                crc32_found,
            });
        }
    }
    Ok(file)
}

/// The file from its N data stripes, through `parity_algo` 0's un-interleaving (handed the
/// data stripes with the XOR parity stripe marked missing, which it does not need).
fn unstripe(
    data: Vec<Vec<u8>>,
    data_stripe_count: DataStripeCount,
    original_size_bytes: u64,
) -> Result<Vec<u8>, RsError> {
    let mut stripes: Vec<Option<Vec<u8>>> = data.into_iter().map(Some).collect();
    stripes.push(None);
    let file = stripe::reassemble(&stripes, data_stripe_count, original_size_bytes)?;
    assert_eq!(file.len() as u64, original_size_bytes);
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::{Rng, RngCore, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn count(data_stripe_count: usize) -> DataStripeCount {
        DataStripeCount::new(data_stripe_count).expect("test uses a valid data stripe count")
    }

    #[test]
    fn mul_table_matches_shift_and_reduce() {
        for a in 0..=u8::MAX {
            for b in 0..=u8::MAX {
                assert_eq!(gf_mul(a, b), gf_mul_slow(a, b), "{a} · {b}");
            }
        }
        // Known products in GF(2^8)/0x11d.
        assert_eq!(gf_mul(2, 0x80), 0x1d);
        assert_eq!(gf_mul(0x53, 0xCA), gf_mul_slow(0x53, 0xCA));
        assert_eq!(GF_EXP[255], 1);
    }

    #[test]
    fn field_axioms() {
        let mut rng = ChaCha8Rng::seed_from_u64(0x6766_3238);
        for a in 0..=u8::MAX {
            assert_eq!(gf_mul(a, 1), a);
            assert_eq!(gf_mul(a, 0), 0);
            assert_eq!(a ^ a, 0);
            if a != 0 {
                assert_eq!(gf_mul(a, gf_inv(a)), 1, "inverse of {a}");
                assert_eq!(gf_div(a, a), 1);
            }
            for b in 0..=u8::MAX {
                assert_eq!(gf_mul(a, b), gf_mul(b, a));
                if a != 0 && b != 0 {
                    assert_ne!(gf_mul(a, b), 0, "no zero divisors");
                    assert_eq!(gf_mul(gf_div(a, b), b), a);
                }
            }
        }
        for _ in 0..20_000 {
            let [a, b, c]: [u8; 3] = rng.random();
            assert_eq!(gf_mul(gf_mul(a, b), c), gf_mul(a, gf_mul(b, c)));
            assert_eq!(gf_mul(a, b ^ c), gf_mul(a, b) ^ gf_mul(a, c));
        }
    }

    #[test]
    fn first_parity_row_is_xor_and_coefficients_are_non_zero() {
        for data_stripe_count in 1..=DATA_STRIPE_COUNT_MAX {
            for parity_index in 0..RS_STRIPE_COUNT_MAX - data_stripe_count {
                let row = generator_row(data_stripe_count, data_stripe_count + parity_index);
                assert!(row.iter().all(|&coefficient| coefficient != 0));
                if parity_index == 0 {
                    assert!(row.iter().all(|&coefficient| coefficient == 1));
                }
            }
        }
    }

    /// For every shape with N + k ≤ 12, every choice of N surviving rows inverts, and the
    /// inverse is one.
    #[test]
    fn every_n_rows_invert_for_small_shapes() {
        for stripe_count in 2..=12usize {
            for data_count in 1..stripe_count {
                for survivors in 0u32..1 << stripe_count {
                    if survivors.count_ones() as usize != data_count {
                        continue;
                    }
                    let rows: Vec<Vec<u8>> = (0..stripe_count)
                        .filter(|index| survivors & (1 << index) != 0)
                        .map(|index| generator_row(data_count, index))
                        .collect();
                    let inverse = invert(&rows).expect("MDS");
                    assert_eq!(invert(&inverse).as_ref(), Some(&rows));
                }
            }
        }
    }

    #[test]
    fn invert_refuses_a_singular_matrix() {
        assert_eq!(invert(&[vec![1, 2], vec![2, 4]]), None);
        assert_eq!(invert(&[vec![0]]), None);
        assert_eq!(invert(&[]), Some(vec![]));
    }

    fn random_stripes(rng: &mut ChaCha8Rng, data_count: usize, size: usize) -> Vec<Vec<u8>> {
        (0..data_count)
            .map(|_| {
                let mut stripe = vec![0u8; size];
                rng.fill_bytes(&mut stripe);
                stripe
            })
            .collect()
    }

    /// Shapes outside the proptest's range: the widest sets, the most parity.
    #[test]
    fn wide_shapes_rebuild_any_k_lost() {
        let mut rng = ChaCha8Rng::seed_from_u64(0x7273);
        for (data_count, parity_count) in [(31, 1), (25, 7), (16, 16), (1, 31), (20, 12)] {
            let data = random_stripes(&mut rng, data_count, 37);
            let parity = rs_encode(&data, parity_count);
            let full: Vec<Vec<u8>> = data.iter().chain(&parity).cloned().collect();
            for _ in 0..8 {
                let lost = rand::seq::index::sample(&mut rng, full.len(), parity_count);
                let mut stripes: Vec<Option<Vec<u8>>> = full.iter().cloned().map(Some).collect();
                for index in lost.iter() {
                    stripes[index] = None;
                }
                rs_reconstruct(&mut stripes, data_count, parity_count).unwrap();
                let rebuilt: Vec<Vec<u8>> = stripes.into_iter().flatten().collect();
                assert_eq!(
                    rebuilt, full,
                    "N {data_count} k {parity_count} lost {lost:?}"
                );
            }
            assert_eq!(rs_verify(&full, data_count, parity_count), Ok(()));
        }
    }

    #[test]
    fn shapes_are_checked() {
        for (data_count, parity_count) in [(0, 1), (1, 0), (31, 2), (32, 0), (2, 31), (1, 32)] {
            let error = Err(RsError::ShapeInvalid {
                data_stripe_count: data_count,
                parity_stripe_count: parity_count,
            });
            assert_eq!(check_shape(data_count, parity_count), error);
            let mut stripes = vec![None; data_count + parity_count];
            assert_eq!(
                rs_reconstruct(&mut stripes, data_count, parity_count),
                error
            );
        }
        assert!(check_shape(usize::MAX, usize::MAX).is_err());
        check_shape(31, 1).unwrap();
        check_shape(1, 31).unwrap();
        assert_eq!(
            stripe_rs(b"x", count(31), 2),
            Err(RsError::ShapeInvalid {
                data_stripe_count: 31,
                parity_stripe_count: 2
            })
        );
        assert!(RsError::ShapeInvalid {
            data_stripe_count: 31,
            parity_stripe_count: 2
        }
        .to_string()
        .contains("at most 32 in all"));
    }

    #[test]
    fn malformed_stripe_sets_are_typed_errors() {
        let file: Vec<u8> = (0..100u8).collect();
        let set = stripe_rs(&file, count(4), 2).unwrap();
        let mut stripes = set.clone().into_stripes();
        assert_eq!(
            reassemble_rs(&stripes[..5], count(4), 2, 100),
            Err(RsError::StripeCountMismatch {
                stripe_count: 5,
                stripe_count_expected: 6
            })
        );
        assert_eq!(
            reassemble_rs(&stripes, count(4), 2, 101),
            Err(RsError::StripeSizeMismatch {
                stripe_index: 0,
                size_bytes: 25,
                size_bytes_expected: 26
            })
        );
        if let Some(stripe) = stripes[5].as_mut() {
            stripe.pop();
        }
        let mut raw = stripes.clone();
        for missing in [None, Some(0)] {
            if let Some(index) = missing {
                raw[index] = None;
            }
            assert_eq!(
                rs_reconstruct(&mut raw, 4, 2),
                Err(RsError::StripeSizeMismatch {
                    stripe_index: 5,
                    size_bytes: 24,
                    size_bytes_expected: 25
                })
            );
        }
        assert_eq!(
            reassemble_rs(&stripes, count(4), 2, 100),
            Err(RsError::StripeSizeMismatch {
                stripe_index: 5,
                size_bytes: 24,
                size_bytes_expected: 25
            })
        );
        let none: Vec<Option<Vec<u8>>> = vec![None; 6];
        assert_eq!(
            reassemble_rs(&none, count(4), 2, 100),
            Err(RsError::TooManyMissing {
                missing_indexes: (0..6).collect()
            })
        );
        assert_eq!(
            reassemble_rs(&set.into_stripes(), count(4), 2, u64::MAX),
            if usize::BITS < 64 {
                Err(RsError::OriginalSizeInvalid {
                    original_size_bytes: u64::MAX,
                })
            } else {
                Err(RsError::StripeSizeMismatch {
                    stripe_index: 0,
                    size_bytes: 25,
                    size_bytes_expected: u64::MAX.div_ceil(4),
                })
            }
        );
    }

    #[test]
    fn corrupt_stripes_with_surplus_are_detected_and_crc_is_checked() {
        let file: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let set = stripe_rs(&file, count(5), 3).unwrap();
        let crc = file_crc32(&file);
        for corrupt_index in 0..8 {
            let mut stripes = set.clone().into_stripes();
            if let Some(stripe) = stripes[corrupt_index].as_mut() {
                stripe[17] ^= 0x40;
            }
            // Drop up to two other stripes: at least one surplus stripe remains.
            for missing_count in 0..=2 {
                let mut damaged = stripes.clone();
                for index in (0..8).filter(|&i| i != corrupt_index).take(missing_count) {
                    damaged[index] = None;
                }
                assert!(
                    matches!(
                        reassemble_rs(&damaged, count(5), 3, 1000),
                        Err(RsError::ParityMismatch { .. })
                    ),
                    "corrupt {corrupt_index}, {missing_count} missing"
                );
            }
            let full: Vec<Vec<u8>> = stripes.iter().flatten().cloned().collect();
            assert!(matches!(
                rs_verify(&full, 5, 3),
                Err(RsError::ParityMismatch { .. })
            ));
        }
        assert_eq!(
            reassemble_rs_verified(&set.clone().into_stripes(), count(5), 3, 1000, Some(crc)),
            Ok(file.clone())
        );
        assert_eq!(
            reassemble_rs_verified(&set.into_stripes(), count(5), 3, 1000, Some(crc ^ 1)),
            Err(RsError::Crc32Mismatch {
                crc32_expected: crc ^ 1,
                crc32_found: crc
            })
        );
    }

    #[test]
    fn too_large_file_is_the_stripe_error() {
        let file = vec![0u8; 65_448];
        assert!(matches!(
            stripe_rs(&file, count(1), 1),
            Err(RsError::Stripe(StripeError::FileTooLarge { .. }))
        ));
    }

    #[test]
    fn one_parity_stripe_is_parity_algo_0() {
        let file: Vec<u8> = (0..777u32).map(|i| (i * 31 % 251) as u8).collect();
        for data_stripe_count in [1, 7, 31] {
            let rs_set = stripe_rs(&file, count(data_stripe_count), 1).unwrap();
            let xor_set = stripe::stripe(&file, count(data_stripe_count)).unwrap();
            assert_eq!(rs_set.parity, std::slice::from_ref(&xor_set.parity));
            assert_eq!(rs_set.into_stripes(), xor_set.into_stripes());
        }
    }

    /// N data stripes of `size` bytes, a parity count, and N for the shape.
    fn shape_and_data() -> impl Strategy<Value = (Vec<Vec<u8>>, usize)> {
        (1usize..=12, 1usize..=4, 0usize..=256).prop_flat_map(|(data_count, parity_count, size)| {
            (
                prop::collection::vec(prop::collection::vec(any::<u8>(), size), data_count),
                Just(parity_count),
            )
        })
    }

    /// As [`shape_and_data`], plus `parity_count + extra_lost_count` distinct stripe indexes,
    /// ascending, to lose.
    fn shape_data_and_lost(
        extra_lost_count: usize,
    ) -> impl Strategy<Value = (Vec<Vec<u8>>, usize, Vec<usize>)> {
        shape_and_data().prop_flat_map(move |(data, parity_count)| {
            let stripe_indexes: Vec<usize> = (0..data.len() + parity_count).collect();
            let lost = prop::sample::subsequence(stripe_indexes, parity_count + extra_lost_count);
            (Just(data), Just(parity_count), lost)
        })
    }

    fn with_lost(data: &[Vec<u8>], parity: &[Vec<u8>], lost: &[usize]) -> Vec<Option<Vec<u8>>> {
        let mut stripes: Vec<Option<Vec<u8>>> =
            data.iter().chain(parity).cloned().map(Some).collect();
        for &index in lost {
            stripes[index] = None;
        }
        stripes
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_k_lost_stripes_are_rebuilt(
            (data, parity_count, lost) in shape_data_and_lost(0),
        ) {
            let parity = rs_encode(&data, parity_count);
            prop_assert_eq!(parity.len(), parity_count);
            let mut stripes = with_lost(&data, &parity, &lost);
            rs_reconstruct(&mut stripes, data.len(), parity_count).unwrap();
            prop_assert_eq!(stripes, with_lost(&data, &parity, &[]));
        }

        #[test]
        fn k_plus_one_lost_is_an_error(
            (data, parity_count, lost) in shape_data_and_lost(1),
        ) {
            let parity = rs_encode(&data, parity_count);
            let mut stripes = with_lost(&data, &parity, &lost);
            let before = stripes.clone();
            prop_assert_eq!(
                rs_reconstruct(&mut stripes, data.len(), parity_count),
                Err(RsError::TooManyMissing { missing_indexes: lost.clone() })
            );
            prop_assert_eq!(&stripes, &before);
            let file_level = reassemble_rs(
                &stripes, count(data.len()), parity_count, (data[0].len() * data.len()) as u64,
            );
            prop_assert_eq!(file_level, Err(RsError::TooManyMissing { missing_indexes: lost }));
        }

        #[test]
        fn file_round_trip_with_any_k_lost(
            (file, data_count, parity_count, lost) in
                (prop::collection::vec(any::<u8>(), 0..=2048), 1usize..=12, 1usize..=4)
                    .prop_flat_map(|(file, data_count, parity_count)| {
                        let stripe_count = data_count + parity_count;
                        let lost = prop::sample::subsequence(
                            (0..stripe_count).collect::<Vec<_>>(), 0..=parity_count,
                        );
                        (Just(file), Just(data_count), Just(parity_count), lost)
                    }),
        ) {
            let set = stripe_rs(&file, count(data_count), parity_count).unwrap();
            prop_assert_eq!(set.stripe_count(), data_count + parity_count);
            let xor_set = stripe::stripe(&file, count(data_count)).unwrap();
            prop_assert_eq!(&set.data, &xor_set.data);
            prop_assert_eq!(&set.parity[0], &xor_set.parity);
            let mut stripes = set.clone().into_stripes();
            for &index in &lost {
                stripes[index] = None;
            }
            let size = file.len() as u64;
            let crc = Some(file_crc32(&file));
            prop_assert_eq!(
                reassemble_rs_verified(&stripes, count(data_count), parity_count, size, crc),
                Ok(file)
            );
            for (index, stripe) in stripes.iter().enumerate() {
                if let Some(stripe) = stripe {
                    prop_assert_eq!(Some(stripe.as_slice()), set.stripe(index));
                }
            }
        }
    }
}
