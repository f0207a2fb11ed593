//! Striping: one file into N data stripes plus one XOR parity stripe, and back again.
//!
//! This is `parity_algo` 0 of the tell file header, as DECISIONS.md ("Striping (client side)")
//! fixes it. For a file of L bytes over N data stripes (1 ≤ N ≤ 31):
//!
//! - read the file's bits in byte order, least significant bit first; bit `i` goes to data
//!   stripe `i mod N`, at bit position `i / N` of that stripe; each stripe packs its bits least
//!   significant bit first;
//! - every data stripe and the parity stripe are `ceil(ceil(8L / N) / 8)` = `ceil(L / N)`
//!   bytes; bits past the end of the file are 0;
//! - the parity stripe is the XOR of the N data stripes, so any one lost stripe is the XOR of
//!   the other N.
//!
//! There is no checksum per stripe. The manifest may carry a CRC-32 of the original file
//! ([`file_crc32`]); [`reassemble_verified`] uses it to find and replace one corrupted stripe.
//!
//! # How the transform runs
//!
//! Bit position `p` of stripe `s` holds file bit `N·p + s`: read as a matrix of rows of N bits,
//! the file is row-major and the stripes are its columns. So striping is the transpose of a
//! tall (8L/N)×N bit matrix. The kernels take 64 rows at a time (8N file bytes, 8 bytes of
//! every stripe) and transpose them with word-wide delta swaps (Hacker's Delight §7-3),
//! never bit by bit:
//!
//! - N ≤ 8 ("narrow"): each group of N file bytes holds 8 rows; a 3-step spread moves those
//!   8 N-bit rows into the 8 byte lanes of a u64. An 8×8 byte transpose across the 8 groups
//!   followed by an 8×8 bit transpose inside every byte lane leaves stripe `s`'s 8 bytes in
//!   word `s`.
//! - N > 8 ("wide"): the 64 rows are shifted out one by one into 16- or 32-bit lanes (`lane
//!   bits` ≥ N), then one `lane bits`×`lane bits` transpose inside each lane position leaves
//!   stripe `s`'s 8 bytes in word `s`.
//!
//! Both are their own inverse when run backwards, which is how [`reassemble`] un-stripes.
//! Every kernel is instantiated once per N (const generics), so all shifts and masks are
//! constants. A bit-by-bit reference implementation in the tests is the oracle for both.

use std::fmt;

use crate::limits::{
    DATA_STRIPE_COUNT_DEFAULT, DATA_STRIPE_COUNT_MAX, DATA_STRIPE_COUNT_MIN, FILE_SIZE_BYTES_MAX,
    PARITY_STRIPE_COUNT, STRIPE_SIZE_BYTES_MAX,
};

/// Calls `$function::<N>(args)` with N the value of a [`DataStripeCount`], so that every
/// kernel is compiled once per N with its shifts and masks as constants.
macro_rules! dispatch {
    ($data_stripe_count:expr, $function:ident ( $($argument:expr),* )) => {
        match $data_stripe_count.get() {
            1 => $function::<1>($($argument),*),
            2 => $function::<2>($($argument),*),
            3 => $function::<3>($($argument),*),
            4 => $function::<4>($($argument),*),
            5 => $function::<5>($($argument),*),
            6 => $function::<6>($($argument),*),
            7 => $function::<7>($($argument),*),
            8 => $function::<8>($($argument),*),
            9 => $function::<9>($($argument),*),
            10 => $function::<10>($($argument),*),
            11 => $function::<11>($($argument),*),
            12 => $function::<12>($($argument),*),
            13 => $function::<13>($($argument),*),
            14 => $function::<14>($($argument),*),
            15 => $function::<15>($($argument),*),
            16 => $function::<16>($($argument),*),
            17 => $function::<17>($($argument),*),
            18 => $function::<18>($($argument),*),
            19 => $function::<19>($($argument),*),
            20 => $function::<20>($($argument),*),
            21 => $function::<21>($($argument),*),
            22 => $function::<22>($($argument),*),
            23 => $function::<23>($($argument),*),
            24 => $function::<24>($($argument),*),
            25 => $function::<25>($($argument),*),
            26 => $function::<26>($($argument),*),
            27 => $function::<27>($($argument),*),
            28 => $function::<28>($($argument),*),
            29 => $function::<29>($($argument),*),
            30 => $function::<30>($($argument),*),
            31 => $function::<31>($($argument),*),
            other => unreachable!("DataStripeCount holds 1..=31, not {other}"),
        }
    };
}

// The dispatch arms above list exactly the data stripe counts a DataStripeCount can hold.
const _: () = assert!(DATA_STRIPE_COUNT_MIN == 1 && DATA_STRIPE_COUNT_MAX == 31);

/// The tell file header's `parity_algo` for this module's scheme: RAID-5 XOR, one parity
/// stripe.
pub const PARITY_ALGO_XOR: u8 = 0;

/// Rows (stripe bit positions) one kernel call transposes: 8 bytes of every stripe.
const BLOCK_ROW_COUNT: usize = 64;

/// Bytes of every stripe one kernel call produces or consumes.
const BLOCK_STRIPE_SIZE_BYTES: usize = BLOCK_ROW_COUNT / 8;

/// Largest file block one kernel call reads (8 rows per stripe byte, N bits per row).
const BLOCK_SIZE_BYTES_MAX: usize = DATA_STRIPE_COUNT_MAX * BLOCK_STRIPE_SIZE_BYTES;

/// Kernels read and write whole u64 words at unaligned offsets; a block buffer carries this
/// much slack past the block's last byte so that the last word stays in bounds.
const BLOCK_SLACK_BYTES: usize = 8;

/// Words a kernel works on: one per lane row, at most 32 (the widest lane).
const KERNEL_WORD_COUNT: usize = 32;

const _: () = assert!(DATA_STRIPE_COUNT_MAX <= KERNEL_WORD_COUNT);
const _: () = assert!(BLOCK_ROW_COUNT == 64);

/// A number of data stripes that the striping math supports: 1..=31.
///
/// Holding one of these is the proof that N was checked, so every function below that takes
/// it is infallible in N.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DataStripeCount(u8);

// The `as u8` casts below are exact: limits.rs asserts DATA_STRIPE_COUNT_MAX <= u8::MAX.
impl DataStripeCount {
    /// One data stripe (the parity stripe is then a copy of it).
    pub const MIN: Self = Self(DATA_STRIPE_COUNT_MIN as u8);
    /// The usual 7 data stripes (8 servers).
    pub const DEFAULT: Self = Self(DATA_STRIPE_COUNT_DEFAULT as u8);
    /// The widest stripe set: 31 data stripes and the parity stripe make the tell's 32.
    pub const MAX: Self = Self(DATA_STRIPE_COUNT_MAX as u8);

    /// Checks that `data_stripe_count` is in 1..=31.
    pub fn new(data_stripe_count: usize) -> Result<Self, StripeError> {
        if (DATA_STRIPE_COUNT_MIN..=DATA_STRIPE_COUNT_MAX).contains(&data_stripe_count) {
            Ok(Self(data_stripe_count as u8))
        } else {
            Err(StripeError::DataStripeCountInvalid { data_stripe_count })
        }
    }

    /// The data stripe count of a stripe set of `stripe_count` stripes in all (the tell's
    /// `stripe_count`, parity included): `stripe_count` must be in 2..=32.
    pub fn from_stripe_count(stripe_count: usize) -> Result<Self, StripeError> {
        match stripe_count.checked_sub(PARITY_STRIPE_COUNT) {
            Some(data_stripe_count) => Self::new(data_stripe_count),
            None => Err(StripeError::StripeCountInvalid { stripe_count }),
        }
    }

    /// N, the number of data stripes.
    pub const fn get(self) -> usize {
        self.0 as usize
    }

    /// N + 1, the number of stripes in the set, parity included.
    pub const fn stripe_count(self) -> usize {
        self.get() + PARITY_STRIPE_COUNT
    }

    /// Index of the parity stripe in a stripe set: it comes after the N data stripes.
    pub const fn parity_stripe_index(self) -> usize {
        self.get()
    }
}

impl Default for DataStripeCount {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl TryFrom<usize> for DataStripeCount {
    type Error = StripeError;

    fn try_from(data_stripe_count: usize) -> Result<Self, StripeError> {
        Self::new(data_stripe_count)
    }
}

impl fmt::Display for DataStripeCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.get())
    }
}

/// Everything that can go wrong while striping or reassembling. Bad input always lands here;
/// nothing in this module panics on input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StripeError {
    /// The data stripe count is outside 1..=31.
    DataStripeCountInvalid { data_stripe_count: usize },
    /// The stripe count (data plus parity) is outside 2..=32.
    StripeCountInvalid { stripe_count: usize },
    /// The file does not fit N stripes of at most `STRIPE_SIZE_BYTES_MAX` bytes.
    FileTooLarge {
        size_bytes: u64,
        /// Largest file N data stripes can carry.
        size_bytes_max: u64,
        data_stripe_count: usize,
        /// Fewest data stripes (at most 31) that would carry the file; `None` when none do.
        data_stripe_count_fit: Option<usize>,
    },
    /// Reassembly was given a stripe set of the wrong length (it must be N data + 1 parity).
    StripeCountMismatch {
        stripe_count: usize,
        stripe_count_expected: usize,
    },
    /// A stripe's length is not `stripe_size_bytes(original_size_bytes, N)`.
    StripeSizeMismatch {
        stripe_index: usize,
        size_bytes: u64,
        size_bytes_expected: u64,
    },
    /// Two or more stripes are missing: XOR parity rebuilds only one.
    TooManyMissing { missing_indexes: Vec<usize> },
    /// All stripes are present but the parity stripe is not the XOR of the data stripes, and
    /// no CRC-32 says which stripe is wrong.
    ParityMismatch,
    /// No reassembly (from the data stripes, or with any one stripe rebuilt from the others)
    /// matches the expected CRC-32. `crc32_found` is that of the first reassembly tried.
    Crc32Mismatch {
        crc32_expected: u32,
        crc32_found: u32,
    },
    /// The original size does not fit this machine's address space.
    OriginalSizeInvalid { original_size_bytes: u64 },
}

impl fmt::Display for StripeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DataStripeCountInvalid { data_stripe_count } => write!(
                f,
                "{data_stripe_count} data stripes: must be \
                 {DATA_STRIPE_COUNT_MIN} to {DATA_STRIPE_COUNT_MAX}"
            ),
            Self::StripeCountInvalid { stripe_count } => write!(
                f,
                "{stripe_count} stripes: must be {} to {} (data plus parity)",
                DATA_STRIPE_COUNT_MIN + PARITY_STRIPE_COUNT,
                DATA_STRIPE_COUNT_MAX + PARITY_STRIPE_COUNT
            ),
            Self::FileTooLarge {
                size_bytes,
                size_bytes_max,
                data_stripe_count,
                data_stripe_count_fit,
            } => {
                write!(
                    f,
                    "file of {size_bytes} bytes is too large for {data_stripe_count} data \
                     stripes: they carry at most {size_bytes_max} bytes \
                     ({STRIPE_SIZE_BYTES_MAX} bytes per stripe); "
                )?;
                match data_stripe_count_fit {
                    Some(fit) => write!(f, "{fit} data stripes would fit it"),
                    None => write!(
                        f,
                        "no stripe width fits it (at most {FILE_SIZE_BYTES_MAX} bytes with \
                         {DATA_STRIPE_COUNT_MAX} data stripes)"
                    ),
                }
            }
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
                "stripes {} are missing: one parity stripe rebuilds only one",
                index_list(missing_indexes)
            ),
            Self::ParityMismatch => write!(
                f,
                "parity stripe is not the XOR of the data stripes and no CRC-32 says which \
                 stripe is corrupt"
            ),
            Self::Crc32Mismatch {
                crc32_expected,
                crc32_found,
            } => write!(
                f,
                "CRC-32 {crc32_found:#010x} does not match the expected {crc32_expected:#010x}, \
                 and no single-stripe rebuild matches it either"
            ),
            Self::OriginalSizeInvalid {
                original_size_bytes,
            } => write!(
                f,
                "original size {original_size_bytes} bytes does not fit this machine"
            ),
        }
    }
}

impl std::error::Error for StripeError {}

/// One file cut into N data stripes and one parity stripe, all `stripe_size_bytes` long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StripeSet {
    /// The N data stripes, stripe index 0..N.
    pub data: Vec<Vec<u8>>,
    /// The parity stripe, stripe index N: the XOR of the data stripes.
    pub parity: Vec<u8>,
    /// Length of the file before striping: reassembly trims the padding to it.
    pub original_size_bytes: u64,
}

impl StripeSet {
    /// The stripe at `stripe_index`: data stripes 0..N, then the parity stripe at N.
    pub fn stripe(&self, stripe_index: usize) -> Option<&[u8]> {
        if stripe_index == self.data.len() {
            Some(&self.parity)
        } else {
            self.data.get(stripe_index).map(Vec::as_slice)
        }
    }

    /// Number of stripes, parity included (N + 1).
    pub fn stripe_count(&self) -> usize {
        self.data.len() + PARITY_STRIPE_COUNT
    }

    /// All stripes in stripe index order, parity last, as [`reassemble`] takes them.
    pub fn into_stripes(self) -> Vec<Option<Vec<u8>>> {
        let mut stripes: Vec<Option<Vec<u8>>> = self.data.into_iter().map(Some).collect();
        stripes.push(Some(self.parity));
        stripes
    }
}

/// Which stripe reassembly did without, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StripeFault {
    /// The stripe was not given; it was rebuilt from the others.
    Missing { stripe_index: usize },
    /// The stripe was given but wrong: the file matched its CRC-32 only without it (or, for
    /// the parity stripe, the data stripes matched the CRC-32 but the parity did not match
    /// them; damage confined to a data stripe's padding bits also shows up this way).
    Corrupt { stripe_index: usize },
}

/// Stripe indexes as a person reads them: `0, 3 and 5`.
pub fn index_list(indexes: &[usize]) -> String {
    let texts: Vec<String> = indexes.iter().map(usize::to_string).collect();
    match texts.split_last() {
        None => "none".to_string(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

impl fmt::Display for StripeFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { stripe_index } => write!(f, "stripe {stripe_index} was missing"),
            Self::Corrupt { stripe_index } => write!(f, "stripe {stripe_index} was corrupt"),
        }
    }
}

impl StripeFault {
    /// Index of the stripe that was missing or corrupt.
    pub fn stripe_index(self) -> usize {
        match self {
            Self::Missing { stripe_index } | Self::Corrupt { stripe_index } => stripe_index,
        }
    }
}

/// A reassembled file and the one stripe, if any, it was rebuilt without.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reassembled {
    /// The file, `original_size_bytes` long.
    pub file: Vec<u8>,
    /// The stripe that was missing or found corrupt; `None` when all agreed.
    pub fault: Option<StripeFault>,
}

/// Size of every stripe (data and parity) of a file of `original_size_bytes` bytes:
/// `ceil(ceil(8L / N) / 8)`, which equals `ceil(L / N)`.
pub fn stripe_size_bytes(original_size_bytes: u64, data_stripe_count: DataStripeCount) -> u64 {
    original_size_bytes.div_ceil(data_stripe_count.get() as u64)
}

/// Largest file that N data stripes carry, each stripe at most `STRIPE_SIZE_BYTES_MAX` bytes.
pub fn max_file_size_bytes(data_stripe_count: DataStripeCount) -> u64 {
    data_stripe_count.get() as u64 * STRIPE_SIZE_BYTES_MAX
}

/// Fewest data stripes that carry a file of `size_bytes` bytes, or `None` when even 31 do not.
pub fn data_stripe_count_min_for(size_bytes: u64) -> Option<DataStripeCount> {
    let stripe_count_needed = size_bytes.div_ceil(STRIPE_SIZE_BYTES_MAX).max(1);
    usize::try_from(stripe_count_needed)
        .ok()
        .and_then(|count| DataStripeCount::new(count).ok())
}

/// Checks that a file of `size_bytes` bytes fits N data stripes; the error names the limit
/// and the stripe width that would fit, if any.
pub fn check_file_size(
    size_bytes: u64,
    data_stripe_count: DataStripeCount,
) -> Result<(), StripeError> {
    let size_bytes_max = max_file_size_bytes(data_stripe_count);
    if size_bytes <= size_bytes_max {
        return Ok(());
    }
    Err(StripeError::FileTooLarge {
        size_bytes,
        size_bytes_max,
        data_stripe_count: data_stripe_count.get(),
        data_stripe_count_fit: data_stripe_count_min_for(size_bytes).map(DataStripeCount::get),
    })
}

/// The manifest's CRC-32 of a file: IEEE, as zlib computes it.
pub fn file_crc32(file: &[u8]) -> u32 {
    crc32fast::hash(file)
}

/// Cuts `file` into N data stripes and one parity stripe.
///
/// Fails only when the file is larger than N stripes of `STRIPE_SIZE_BYTES_MAX` can carry.
pub fn stripe(file: &[u8], data_stripe_count: DataStripeCount) -> Result<StripeSet, StripeError> {
    let original_size_bytes = file.len() as u64;
    check_file_size(original_size_bytes, data_stripe_count)?;
    let stripe_set = dispatch!(data_stripe_count, stripe_with(file));
    debug_assert_eq!(stripe_set.stripe_count(), data_stripe_count.stripe_count());
    Ok(stripe_set)
}

/// Rebuilds a file from its stripes: `stripes` holds the N data stripes then the parity
/// stripe, `None` for a stripe that could not be fetched.
///
/// One missing stripe is rebuilt from the others. Two or more missing, stripes of the wrong
/// length, or a parity stripe that disagrees with a full set of data stripes are errors; the
/// result is never a guess. Use [`reassemble_verified`] when the manifest carries a CRC-32.
pub fn reassemble<S: AsRef<[u8]>>(
    stripes: &[Option<S>],
    data_stripe_count: DataStripeCount,
    original_size_bytes: u64,
) -> Result<Vec<u8>, StripeError> {
    reassemble_verified(stripes, data_stripe_count, original_size_bytes, None)
        .map(|reassembled| reassembled.file)
}

/// Rebuilds a file from its stripes, as [`reassemble`], and checks it against
/// `crc32_expected` (the manifest's CRC-32, when its `crc32_present` flag is set).
///
/// With all N+1 stripes given and a CRC-32 that the data stripes do not match, it tries
/// each "drop stripe i, rebuild it from the others" in turn and returns the first that
/// matches, naming the stripe it found corrupt. One stripe missing: the rebuilt file must
/// match the CRC-32; there is nothing left to try if it does not.
pub fn reassemble_verified<S: AsRef<[u8]>>(
    stripes: &[Option<S>],
    data_stripe_count: DataStripeCount,
    original_size_bytes: u64,
    crc32_expected: Option<u32>,
) -> Result<Reassembled, StripeError> {
    let stripe_count_expected = data_stripe_count.stripe_count();
    if stripes.len() != stripe_count_expected {
        return Err(StripeError::StripeCountMismatch {
            stripe_count: stripes.len(),
            stripe_count_expected,
        });
    }
    let original_size =
        usize::try_from(original_size_bytes).map_err(|_| StripeError::OriginalSizeInvalid {
            original_size_bytes,
        })?;
    let size_bytes_expected = stripe_size_bytes(original_size_bytes, data_stripe_count);
    let mut missing_indexes = Vec::new();
    for (stripe_index, stripe) in stripes.iter().enumerate() {
        match stripe {
            None => missing_indexes.push(stripe_index),
            Some(stripe) => {
                let size_bytes = stripe.as_ref().len() as u64;
                if size_bytes != size_bytes_expected {
                    return Err(StripeError::StripeSizeMismatch {
                        stripe_index,
                        size_bytes,
                        size_bytes_expected,
                    });
                }
            }
        }
    }
    let reassembly = Reassembly {
        data_stripe_count,
        original_size,
    };
    match missing_indexes.as_slice() {
        [] => {
            let present: Vec<&[u8]> = stripes
                .iter()
                .flatten()
                .map(|stripe| stripe.as_ref())
                .collect();
            reassembly.with_all(&present, crc32_expected)
        }
        [missing_index] => {
            let missing_index = *missing_index;
            let present: Vec<Option<&[u8]>> = stripes
                .iter()
                .map(|stripe| stripe.as_ref().map(|stripe| stripe.as_ref()))
                .collect();
            reassembly.without(&present, missing_index, crc32_expected)
        }
        _ => Err(StripeError::TooManyMissing { missing_indexes }),
    }
}

/// The shape of one reassembly, once the stripe set has been checked.
struct Reassembly {
    data_stripe_count: DataStripeCount,
    /// Checked to fit usize; every stripe is `ceil(original_size / N)` bytes.
    original_size: usize,
}

impl Reassembly {
    /// All N+1 stripes present (each of the checked size).
    fn with_all(
        &self,
        stripes: &[&[u8]],
        crc32_expected: Option<u32>,
    ) -> Result<Reassembled, StripeError> {
        let data_stripe_count = self.data_stripe_count.get();
        assert_eq!(stripes.len(), self.data_stripe_count.stripe_count());
        let file = self.unstripe(&stripes[..data_stripe_count]);
        let syndrome = xor_all(stripes);
        let parity_consistent = syndrome.iter().all(|&byte| byte == 0);
        let Some(crc32_expected) = crc32_expected else {
            if !parity_consistent {
                return Err(StripeError::ParityMismatch);
            }
            return Ok(Reassembled { file, fault: None });
        };
        let crc32_found = file_crc32(&file);
        if crc32_found == crc32_expected {
            let fault = (!parity_consistent).then_some(StripeFault::Corrupt {
                stripe_index: self.data_stripe_count.parity_stripe_index(),
            });
            return Ok(Reassembled { file, fault });
        }
        // Any one corrupted stripe leaves a non-zero syndrome; a zero one means the damage
        // (if the CRC-32 is right) spans several stripes, which one parity cannot undo.
        if !parity_consistent {
            for stripe_index in 0..data_stripe_count {
                // The XOR of every stripe but i is stripe i XOR the syndrome.
                let rebuilt = xor_pair(stripes[stripe_index], &syndrome);
                let mut data: Vec<&[u8]> = stripes[..data_stripe_count].to_vec();
                data[stripe_index] = &rebuilt;
                let candidate = self.unstripe(&data);
                if file_crc32(&candidate) == crc32_expected {
                    let fault = Some(StripeFault::Corrupt { stripe_index });
                    return Ok(Reassembled {
                        file: candidate,
                        fault,
                    });
                }
            }
        }
        Err(StripeError::Crc32Mismatch {
            crc32_expected,
            crc32_found,
        })
    }

    /// Exactly the stripe at `missing_index` absent (the others of the checked size).
    fn without(
        &self,
        stripes: &[Option<&[u8]>],
        missing_index: usize,
        crc32_expected: Option<u32>,
    ) -> Result<Reassembled, StripeError> {
        let data_stripe_count = self.data_stripe_count.get();
        assert_eq!(stripes.len(), self.data_stripe_count.stripe_count());
        let present: Vec<&[u8]> = stripes.iter().flatten().copied().collect();
        assert_eq!(present.len(), data_stripe_count);
        let rebuilt = xor_all(&present);
        let data: Vec<&[u8]> = stripes[..data_stripe_count]
            .iter()
            .map(|stripe| stripe.unwrap_or(&rebuilt))
            .collect();
        let file = self.unstripe(&data);
        if let Some(crc32_expected) = crc32_expected {
            let crc32_found = file_crc32(&file);
            if crc32_found != crc32_expected {
                return Err(StripeError::Crc32Mismatch {
                    crc32_expected,
                    crc32_found,
                });
            }
        }
        Ok(Reassembled {
            file,
            fault: Some(StripeFault::Missing {
                stripe_index: missing_index,
            }),
        })
    }

    fn unstripe(&self, data: &[&[u8]]) -> Vec<u8> {
        assert_eq!(data.len(), self.data_stripe_count.get());
        let file = dispatch!(
            self.data_stripe_count,
            unstripe_with(data, self.original_size)
        );
        assert_eq!(file.len(), self.original_size);
        file
    }
}

/// XOR of equally long stripes.
fn xor_all(stripes: &[&[u8]]) -> Vec<u8> {
    let (first, rest) = stripes
        .split_first()
        .expect("a stripe set has at least two stripes");
    let mut sum = first.to_vec();
    for stripe in rest {
        assert_eq!(stripe.len(), sum.len());
        for (sum_byte, byte) in sum.iter_mut().zip(stripe.iter()) {
            *sum_byte ^= byte;
        }
    }
    sum
}

fn xor_pair(a: &[u8], b: &[u8]) -> Vec<u8> {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// Stripes a whole file with N data stripes (N a constant).
fn stripe_with<const N: usize>(file: &[u8]) -> StripeSet {
    let stripe_size = file.len().div_ceil(N);
    let block_count = stripe_size.div_ceil(BLOCK_STRIPE_SIZE_BYTES);
    let block_full_count = stripe_size / BLOCK_STRIPE_SIZE_BYTES;
    let block_size = Geometry::<N>::BLOCK_SIZE_BYTES;
    // Stripes grow by appending, so they are allocated once, at their final size, and never
    // zero-filled first.
    let mut data: Vec<Vec<u8>> = (0..N).map(|_| Vec::with_capacity(stripe_size)).collect();
    let mut parity = Vec::with_capacity(stripe_size);
    let mut columns = [0u64; KERNEL_WORD_COUNT];
    for block_index in 0..block_count {
        let block_offset = block_size * block_index;
        match file.get(block_offset..block_offset + block_size + BLOCK_SLACK_BYTES) {
            Some(block) => stripe_block::<N>(block, &mut columns),
            None => {
                // The last block or two: copy into a zeroed buffer, so bits past the end are 0.
                let mut buffer = [0u8; BLOCK_SIZE_BYTES_MAX + BLOCK_SLACK_BYTES];
                let tail = file.get(block_offset..).unwrap_or_default();
                for (to, from) in buffer.iter_mut().zip(tail) {
                    *to = *from;
                }
                stripe_block::<N>(&buffer, &mut columns);
            }
        }
        let parity_column = columns[..N]
            .iter()
            .fold(0, |parity, column| parity ^ column);
        if block_index < block_full_count {
            for (stripe, column) in data.iter_mut().zip(&columns[..N]) {
                stripe.extend_from_slice(&column.to_le_bytes());
            }
            parity.extend_from_slice(&parity_column.to_le_bytes());
        } else {
            let kept = stripe_size % BLOCK_STRIPE_SIZE_BYTES;
            for (stripe, column) in data.iter_mut().zip(&columns[..N]) {
                stripe.extend_from_slice(&column.to_le_bytes()[..kept]);
            }
            parity.extend_from_slice(&parity_column.to_le_bytes()[..kept]);
        }
    }
    assert!(data
        .iter()
        .chain([&parity])
        .all(|stripe| stripe.len() == stripe_size));
    StripeSet {
        data,
        parity,
        original_size_bytes: file.len() as u64,
    }
}

/// Rebuilds a whole file of `original_size` bytes from its N data stripes (N a constant).
fn unstripe_with<const N: usize>(data: &[&[u8]], original_size: usize) -> Vec<u8> {
    assert_eq!(data.len(), N);
    let stripe_size = original_size.div_ceil(N);
    assert!(data.iter().all(|stripe| stripe.len() == stripe_size));
    let block_count = stripe_size.div_ceil(BLOCK_STRIPE_SIZE_BYTES);
    let block_size = Geometry::<N>::BLOCK_SIZE_BYTES;
    let mut file = vec![0u8; block_count * block_size + BLOCK_SLACK_BYTES];
    let mut columns = [0u64; KERNEL_WORD_COUNT];
    for block_index in 0..block_count {
        let stripe_offset = block_index * BLOCK_STRIPE_SIZE_BYTES;
        for (column, stripe) in columns.iter_mut().zip(data) {
            *column = read_u64_le_padded(stripe, stripe_offset);
        }
        let block_offset = block_index * block_size;
        let block = &mut file[block_offset..block_offset + block_size + BLOCK_SLACK_BYTES];
        unstripe_block::<N>(&mut columns, block);
    }
    file.truncate(original_size);
    file
}

/// Constants of the kernels for N data stripes.
struct Geometry<const N: usize>;

impl<const N: usize> Geometry<N> {
    /// File bytes per kernel call: 64 rows of N bits.
    const BLOCK_SIZE_BYTES: usize = N * BLOCK_STRIPE_SIZE_BYTES;
    /// Low N bits: one row.
    const ROW_MASK: u64 = low_bits_mask(N as u32);
    /// Width of the lane a row is moved into for the transpose: 8, 16 or 32 bits.
    const LANE_BITS: usize = if N <= 8 {
        8
    } else if N <= 16 {
        16
    } else {
        32
    };

    // The narrow (N <= 8) spread: 8 rows of N bits, packed in the N bytes of a group, move to
    // the 8 byte lanes of a u64 in three steps (halves, quarters, eighths). For N > 8 the
    // narrow kernel never runs; its constants are computed for 8 there so they stay defined.
    const NARROW_ROW_BITS: u32 = if N <= 8 { N as u32 } else { 8 };
    /// Where rows 4..8 start in a packed group: 4N.
    const SPREAD_HALF_OFFSET: u32 = 4 * Self::NARROW_ROW_BITS;
    /// Step 1: rows 4..8 move from bit 4N to bit 32.
    const SPREAD_HALF_SHIFT: u32 = 32 - Self::SPREAD_HALF_OFFSET;
    const SPREAD_HALF_KEEP: u64 = low_bits_mask(Self::SPREAD_HALF_OFFSET);
    /// Rows 4..8: this mask also drops the next group's bits a u64 load brings along.
    const SPREAD_HALF_MOVE: u64 =
        low_bits_mask(8 * Self::NARROW_ROW_BITS) & !low_bits_mask(Self::SPREAD_HALF_OFFSET);
    /// Step 2: in each 32-bit half, rows 2..4 move from bit 2N to bit 16.
    const SPREAD_QUARTER_SHIFT: u32 = 16 - 2 * Self::NARROW_ROW_BITS;
    const SPREAD_QUARTER_KEEP: u64 = low_bits_mask(2 * Self::NARROW_ROW_BITS) * REPEAT_EVERY_32;
    const SPREAD_QUARTER_MOVE: u64 = (low_bits_mask(4 * Self::NARROW_ROW_BITS)
        & !low_bits_mask(2 * Self::NARROW_ROW_BITS))
        * REPEAT_EVERY_32;
    /// Step 3: in each 16-bit quarter, the odd row moves from bit N to bit 8.
    const SPREAD_EIGHTH_SHIFT: u32 = 8 - Self::NARROW_ROW_BITS;
    const SPREAD_EIGHTH_KEEP: u64 = low_bits_mask(Self::NARROW_ROW_BITS) * REPEAT_EVERY_16;
    const SPREAD_EIGHTH_MOVE: u64 = (low_bits_mask(2 * Self::NARROW_ROW_BITS)
        & !low_bits_mask(Self::NARROW_ROW_BITS))
        * REPEAT_EVERY_16;
}

const REPEAT_EVERY_32: u64 = 0x0000_0001_0000_0001;
const REPEAT_EVERY_16: u64 = 0x0001_0001_0001_0001;

/// A u64 with its low `bit_count` bits set (all 64 when `bit_count >= 64`).
const fn low_bits_mask(bit_count: u32) -> u64 {
    if bit_count >= 64 {
        u64::MAX
    } else {
        (1u64 << bit_count) - 1
    }
}

/// For a swap distance of `2^k` bits, the mask of the bits whose `2^k` place is 0.
const SWAP_MASKS: [u64; 6] = [
    0x5555_5555_5555_5555,
    0x3333_3333_3333_3333,
    0x0F0F_0F0F_0F0F_0F0F,
    0x00FF_00FF_00FF_00FF,
    0x0000_FFFF_0000_FFFF,
    0x0000_0000_FFFF_FFFF,
];

/// Square transposes by delta swaps, all lanes at once. Each of `words[..row_count]` is cut
/// into lanes of `row_count` elements of `2^element_bits_log2` bits; for every lane position,
/// element `c` of that lane in `words[r]` swaps with element `r` of it in `words[c]`.
///
/// `row_count` is 8, 16 or 32 and `row_count << element_bits_log2` divides 64: (8, 3) is an
/// 8×8 byte transpose, (8, 0) an 8×8 bit transpose in each byte lane, (16, 0) and (32, 0)
/// bit transposes in 16- and 32-bit lanes.
#[inline(always)]
fn transpose_square(
    words: &mut [u64; KERNEL_WORD_COUNT],
    row_count: usize,
    element_bits_log2: u32,
) {
    debug_assert!(matches!(row_count, 8 | 16 | 32));
    debug_assert!(row_count << element_bits_log2 <= 64);
    let mut distance = row_count / 2;
    while distance > 0 {
        let shift_log2 = distance.trailing_zeros() + element_bits_log2;
        let shift = 1u32 << shift_log2;
        let mask = SWAP_MASKS[shift_log2 as usize];
        let mut base = 0;
        while base < row_count {
            for low in base..base + distance {
                let high = low + distance;
                let swapped = ((words[low] >> shift) ^ words[high]) & mask;
                words[high] ^= swapped;
                words[low] ^= swapped << shift;
            }
            base += 2 * distance;
        }
        distance /= 2;
    }
}

/// Reads the 8 little-endian bytes at `offset`; the caller guarantees they are in bounds.
#[inline(always)]
fn read_u64_le(bytes: &[u8], offset: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[offset..offset + 8]);
    u64::from_le_bytes(word)
}

/// Reads up to 8 little-endian bytes at `offset`; bytes past the end read as 0.
#[inline(always)]
fn read_u64_le_padded(bytes: &[u8], offset: usize) -> u64 {
    match bytes.get(offset..offset + 8) {
        Some(full) => read_u64_le(full, 0),
        None => {
            let mut word = [0u8; 8];
            let tail = bytes.get(offset..).unwrap_or_default();
            for (to, from) in word.iter_mut().zip(tail) {
                *to = *from;
            }
            u64::from_le_bytes(word)
        }
    }
}

/// Transposes one block: 8N file bytes (plus 8 readable slack bytes) into 8 bytes of every
/// stripe, stripe `s`'s as the little-endian `columns[s]`.
#[inline(always)]
fn stripe_block<const N: usize>(block: &[u8], columns: &mut [u64; KERNEL_WORD_COUNT]) {
    let block = &block[..Geometry::<N>::BLOCK_SIZE_BYTES + BLOCK_SLACK_BYTES];
    if N <= 8 {
        stripe_block_narrow::<N>(block, columns);
    } else {
        stripe_block_wide::<N>(block, columns);
    }
}

/// The inverse of [`stripe_block`]: `columns[..N]` (the rest ignored) into 8N file bytes.
/// Writes `block[..8N + 8]`; the 8 slack bytes get zeros the next block overwrites.
#[inline(always)]
fn unstripe_block<const N: usize>(columns: &mut [u64; KERNEL_WORD_COUNT], block: &mut [u8]) {
    let block = &mut block[..Geometry::<N>::BLOCK_SIZE_BYTES + BLOCK_SLACK_BYTES];
    for column in &mut columns[N..] {
        *column = 0;
    }
    if N <= 8 {
        unstripe_block_narrow::<N>(columns, block);
    } else {
        unstripe_block_wide::<N>(columns, block);
    }
}

/// N <= 8: group `g` (file bytes `N·g..N·(g+1)`) holds rows `8g..8g+8`.
#[inline(always)]
fn stripe_block_narrow<const N: usize>(block: &[u8], columns: &mut [u64; KERNEL_WORD_COUNT]) {
    for (group_index, column) in columns[..8].iter_mut().enumerate() {
        // The load brings 8 - N bytes of the next group along; `spread` drops them.
        let group = read_u64_le(block, N * group_index);
        // Word g, byte j: row j of group g.
        *column = spread::<N>(group);
    }
    // Word j, byte g: row j of group g.
    transpose_square(columns, 8, 3);
    // Word s, byte g, bit j: bit s of row j of group g, which is stripe s's bit 8g + j.
    transpose_square(columns, 8, 0);
}

#[inline(always)]
fn unstripe_block_narrow<const N: usize>(columns: &mut [u64; KERNEL_WORD_COUNT], block: &mut [u8]) {
    transpose_square(columns, 8, 0);
    transpose_square(columns, 8, 3);
    for (group_index, column) in columns[..8].iter().enumerate() {
        let group = unspread::<N>(*column);
        let offset = N * group_index;
        block[offset..offset + 8].copy_from_slice(&group.to_le_bytes());
    }
}

/// Moves the 8 rows of N bits packed in the low 8N bits of `group` into the 8 byte lanes
/// (N <= 8); bits above 8N are dropped.
#[inline(always)]
fn spread<const N: usize>(group: u64) -> u64 {
    let halves = (group & Geometry::<N>::SPREAD_HALF_KEEP)
        | ((group & Geometry::<N>::SPREAD_HALF_MOVE) << Geometry::<N>::SPREAD_HALF_SHIFT);
    let quarters = (halves & Geometry::<N>::SPREAD_QUARTER_KEEP)
        | ((halves & Geometry::<N>::SPREAD_QUARTER_MOVE) << Geometry::<N>::SPREAD_QUARTER_SHIFT);
    (quarters & Geometry::<N>::SPREAD_EIGHTH_KEEP)
        | ((quarters & Geometry::<N>::SPREAD_EIGHTH_MOVE) << Geometry::<N>::SPREAD_EIGHTH_SHIFT)
}

/// The inverse of [`spread`]: 8 byte lanes, each with only its low N bits set, back into
/// one packed group of 8N bits.
#[inline(always)]
fn unspread<const N: usize>(lanes: u64) -> u64 {
    let quarters = (lanes & Geometry::<N>::SPREAD_EIGHTH_KEEP)
        | ((lanes >> Geometry::<N>::SPREAD_EIGHTH_SHIFT) & Geometry::<N>::SPREAD_EIGHTH_MOVE);
    let halves = (quarters & Geometry::<N>::SPREAD_QUARTER_KEEP)
        | ((quarters >> Geometry::<N>::SPREAD_QUARTER_SHIFT) & Geometry::<N>::SPREAD_QUARTER_MOVE);
    (halves & 0xFFFF_FFFF) | ((halves >> 32) << Geometry::<N>::SPREAD_HALF_OFFSET)
}

/// N > 8: row `q` (bits `N·q..N·(q+1)` of the block) goes to lane `q / lane_bits` of word
/// `q % lane_bits`; one lane transpose then gives word `s` = stripe `s`.
#[inline(always)]
fn stripe_block_wide<const N: usize>(block: &[u8], columns: &mut [u64; KERNEL_WORD_COUNT]) {
    let lane_bits = Geometry::<N>::LANE_BITS;
    *columns = [0; KERNEL_WORD_COUNT];
    for row_index in 0..BLOCK_ROW_COUNT {
        let bit_offset = N * row_index;
        let row =
            (read_u64_le(block, bit_offset / 8) >> (bit_offset % 8)) & Geometry::<N>::ROW_MASK;
        columns[row_index % lane_bits] |= row << (lane_bits * (row_index / lane_bits));
    }
    transpose_square(columns, lane_bits, 0);
}

#[inline(always)]
fn unstripe_block_wide<const N: usize>(columns: &mut [u64; KERNEL_WORD_COUNT], block: &mut [u8]) {
    let lane_bits = Geometry::<N>::LANE_BITS;
    transpose_square(columns, lane_bits, 0);
    // N words of output, and a spare so that `word_index + 1` below is in bounds for every N
    // (no row of the block actually spills past word N - 1).
    let mut words = [0u64; DATA_STRIPE_COUNT_MAX + 1];
    for row_index in 0..BLOCK_ROW_COUNT {
        let row = (columns[row_index % lane_bits] >> (lane_bits * (row_index / lane_bits)))
            & Geometry::<N>::ROW_MASK;
        let bit_offset = N * row_index;
        let word_index = bit_offset / 64;
        let shift = bit_offset % 64;
        words[word_index] |= row << shift;
        if shift + N > 64 {
            words[word_index + 1] |= row >> (64 - shift);
        }
    }
    for (word_index, word) in words[..N].iter().enumerate() {
        block[8 * word_index..8 * word_index + 8].copy_from_slice(&word.to_le_bytes());
    }
    block[8 * N..8 * N + 8].fill(0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn count(data_stripe_count: usize) -> DataStripeCount {
        DataStripeCount::new(data_stripe_count).expect("test uses a valid data stripe count")
    }

    /// The oracle: DECISIONS.md's rule, one bit at a time.
    fn stripe_oracle(file: &[u8], data_stripe_count: usize) -> (Vec<Vec<u8>>, Vec<u8>) {
        let stripe_size = (file.len() * 8).div_ceil(data_stripe_count).div_ceil(8);
        let mut data = vec![vec![0u8; stripe_size]; data_stripe_count];
        for bit_index in 0..file.len() * 8 {
            let bit = (file[bit_index / 8] >> (bit_index % 8)) & 1;
            let stripe_index = bit_index % data_stripe_count;
            let position = bit_index / data_stripe_count;
            data[stripe_index][position / 8] |= bit << (position % 8);
        }
        let mut parity = vec![0u8; stripe_size];
        for stripe in &data {
            for (parity_byte, byte) in parity.iter_mut().zip(stripe) {
                *parity_byte ^= byte;
            }
        }
        (data, parity)
    }

    /// The oracle's inverse, one bit at a time.
    fn unstripe_oracle(data: &[Vec<u8>], original_size: usize) -> Vec<u8> {
        let mut file = vec![0u8; original_size];
        for bit_index in 0..original_size * 8 {
            let stripe_index = bit_index % data.len();
            let position = bit_index / data.len();
            let bit = (data[stripe_index][position / 8] >> (position % 8)) & 1;
            file[bit_index / 8] |= bit << (bit_index % 8);
        }
        file
    }

    fn all_present(stripe_set: &StripeSet) -> Vec<Option<Vec<u8>>> {
        stripe_set.clone().into_stripes()
    }

    fn file_of(size: usize, seed: u8) -> Vec<u8> {
        (0..size)
            .map(|index| (index as u8).wrapping_mul(167).wrapping_add(seed) ^ 0x5A)
            .collect()
    }

    #[test]
    fn one_byte_over_seven_stripes() {
        let stripe_set = stripe(&[0b1010_1010], count(7)).unwrap();
        // Bits 0..7 go to stripes 0..7 at position 0; bit 7 (a 1) to stripe 0 at position 1.
        let data: Vec<u8> = stripe_set.data.iter().map(|stripe| stripe[0]).collect();
        assert_eq!(data, [0b10, 1, 0, 1, 0, 1, 0]);
        assert_eq!(stripe_set.parity, [0b11]);
        assert_eq!(stripe_set.original_size_bytes, 1);
    }

    #[test]
    fn two_bytes_over_three_stripes() {
        let stripe_set = stripe(&[0xFF, 0x00], count(3)).unwrap();
        // Stripe 0 takes bits 0,3,6,9,12,15; stripe 1 bits 1,4,7,10,13; stripe 2 bits 2,5,8,11,14.
        assert_eq!(stripe_set.data, [vec![0b111], vec![0b111], vec![0b011]]);
        assert_eq!(stripe_set.parity, [0b011]);
    }

    #[test]
    fn one_data_stripe_is_the_file_and_parity_its_copy() {
        let file = file_of(100, 3);
        let stripe_set = stripe(&file, count(1)).unwrap();
        assert_eq!(stripe_set.data, std::slice::from_ref(&file));
        assert_eq!(stripe_set.parity, file);
    }

    #[test]
    fn eight_stripes_take_one_bit_of_each_byte() {
        let stripe_set = stripe(&[0x01; 8], count(8)).unwrap();
        assert_eq!(stripe_set.data[0], [0xFF]);
        assert!(stripe_set.data[1..].iter().all(|stripe| stripe == &[0]));
        assert_eq!(stripe_set.parity, [0xFF]);
    }

    #[test]
    fn empty_file_gives_empty_stripes_and_comes_back() {
        let stripe_set = stripe(&[], count(7)).unwrap();
        assert!(stripe_set.data.iter().all(Vec::is_empty));
        assert!(stripe_set.parity.is_empty());
        let file = reassemble(&all_present(&stripe_set), count(7), 0).unwrap();
        assert!(file.is_empty());
    }

    #[test]
    fn every_width_and_every_short_length_matches_the_oracle() {
        // Every length up to two blocks and a bit, so every kernel sees full blocks, partial
        // blocks and the copy-to-buffer tail path.
        for data_stripe_count in 1..=DATA_STRIPE_COUNT_MAX {
            for size in 0..=16 * data_stripe_count + 17 {
                let file = file_of(size, data_stripe_count as u8);
                let stripe_set = stripe(&file, count(data_stripe_count)).unwrap();
                let (data, parity) = stripe_oracle(&file, data_stripe_count);
                assert_eq!(stripe_set.data, data, "N={data_stripe_count} L={size}");
                assert_eq!(stripe_set.parity, parity, "N={data_stripe_count} L={size}");
                let back = reassemble(
                    &all_present(&stripe_set),
                    count(data_stripe_count),
                    size as u64,
                );
                assert_eq!(back.unwrap(), file, "N={data_stripe_count} L={size}");
            }
        }
    }

    #[test]
    fn stripe_size_is_ceil_of_size_over_count() {
        let cases = [
            (0, 7, 0),
            (1, 7, 1),
            (7, 7, 1),
            (8, 7, 2),
            (56, 7, 8),
            (57, 7, 9),
            (5, 1, 5),
        ];
        for (original_size_bytes, data_stripe_count, expected) in cases {
            assert_eq!(
                stripe_size_bytes(original_size_bytes, count(data_stripe_count)),
                expected
            );
        }
        // ceil(ceil(8L/N)/8) == ceil(L/N), the form DECISIONS.md writes.
        for data_stripe_count in 1..=31u64 {
            for size in 0..200u64 {
                let expected = (8 * size).div_ceil(data_stripe_count).div_ceil(8);
                assert_eq!(
                    stripe_size_bytes(size, count(data_stripe_count as usize)),
                    expected
                );
            }
        }
    }

    #[test]
    fn data_stripe_count_bounds() {
        assert!(DataStripeCount::new(0).is_err());
        assert!(DataStripeCount::new(32).is_err());
        assert_eq!(DataStripeCount::new(31).unwrap(), DataStripeCount::MAX);
        assert_eq!(DataStripeCount::default().get(), 7);
        assert_eq!(DataStripeCount::from_stripe_count(8).unwrap().get(), 7);
        assert_eq!(
            DataStripeCount::from_stripe_count(0),
            Err(StripeError::StripeCountInvalid { stripe_count: 0 })
        );
        assert_eq!(
            DataStripeCount::from_stripe_count(1),
            Err(StripeError::DataStripeCountInvalid {
                data_stripe_count: 0
            })
        );
        assert!(DataStripeCount::from_stripe_count(33).is_err());
        assert_eq!(DataStripeCount::DEFAULT.parity_stripe_index(), 7);
        assert_eq!(DataStripeCount::DEFAULT.stripe_count(), 8);
    }

    #[test]
    fn file_size_limits() {
        assert_eq!(max_file_size_bytes(count(7)), 458_129);
        assert_eq!(
            max_file_size_bytes(DataStripeCount::MAX),
            FILE_SIZE_BYTES_MAX
        );
        assert_eq!(data_stripe_count_min_for(0), Some(count(1)));
        assert_eq!(data_stripe_count_min_for(65_447), Some(count(1)));
        assert_eq!(data_stripe_count_min_for(65_448), Some(count(2)));
        assert_eq!(
            data_stripe_count_min_for(FILE_SIZE_BYTES_MAX),
            Some(DataStripeCount::MAX)
        );
        assert_eq!(data_stripe_count_min_for(FILE_SIZE_BYTES_MAX + 1), None);
        assert_eq!(data_stripe_count_min_for(u64::MAX), None);
        assert_eq!(check_file_size(458_129, count(7)), Ok(()));
    }

    #[test]
    fn too_large_names_the_limit_and_the_width_that_fits() {
        let error = check_file_size(500_000, count(7)).unwrap_err();
        assert_eq!(
            error,
            StripeError::FileTooLarge {
                size_bytes: 500_000,
                size_bytes_max: 458_129,
                data_stripe_count: 7,
                data_stripe_count_fit: Some(8),
            }
        );
        let text = error.to_string();
        assert!(
            text.contains("458129") && text.contains("8 data stripes would fit"),
            "{text}"
        );

        let error = check_file_size(FILE_SIZE_BYTES_MAX + 1, count(7)).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("no stripe width fits") && text.contains("2028857"),
            "{text}"
        );
    }

    #[test]
    fn stripe_refuses_a_file_one_byte_too_large_and_takes_the_largest() {
        let largest = file_of(458_129, 1);
        let stripe_set = stripe(&largest, count(7)).unwrap();
        assert!(stripe_set
            .data
            .iter()
            .all(|stripe| stripe.len() as u64 == STRIPE_SIZE_BYTES_MAX));
        let too_large = file_of(458_130, 1);
        assert!(matches!(
            stripe(&too_large, count(7)),
            Err(StripeError::FileTooLarge {
                data_stripe_count_fit: Some(8),
                ..
            })
        ));
    }

    #[test]
    fn wrong_shapes_are_typed_errors() {
        let file = file_of(50, 9);
        let stripe_set = stripe(&file, count(7)).unwrap();
        let mut stripes = all_present(&stripe_set);
        assert_eq!(
            reassemble(&stripes[..7], count(7), 50),
            Err(StripeError::StripeCountMismatch {
                stripe_count: 7,
                stripe_count_expected: 8
            })
        );
        assert_eq!(
            reassemble(&stripes, count(7), 57),
            Err(StripeError::StripeSizeMismatch {
                stripe_index: 0,
                size_bytes: 8,
                size_bytes_expected: 9
            })
        );
        if let Some(stripe) = stripes[3].as_mut() {
            stripe.push(0);
        }
        assert_eq!(
            reassemble(&stripes, count(7), 50),
            Err(StripeError::StripeSizeMismatch {
                stripe_index: 3,
                size_bytes: 9,
                size_bytes_expected: 8
            })
        );
        let none: Vec<Option<Vec<u8>>> = vec![None; 8];
        assert_eq!(
            reassemble(&none, count(7), 50),
            Err(StripeError::TooManyMissing {
                missing_indexes: (0..8).collect()
            })
        );
    }

    #[test]
    fn corruption_without_a_crc_is_an_error_not_garbage() {
        let file = file_of(300, 4);
        let mut stripes = all_present(&stripe(&file, count(7)).unwrap());
        if let Some(stripe) = stripes[2].as_mut() {
            stripe[10] ^= 0x40;
        }
        assert_eq!(
            reassemble(&stripes, count(7), 300),
            Err(StripeError::ParityMismatch)
        );
    }

    #[test]
    fn corrupt_parity_is_named_when_the_data_matches_the_crc() {
        let file = file_of(300, 5);
        let crc32 = file_crc32(&file);
        let mut stripes = all_present(&stripe(&file, count(7)).unwrap());
        if let Some(stripe) = stripes[7].as_mut() {
            stripe[0] ^= 1;
        }
        let reassembled = reassemble_verified(&stripes, count(7), 300, Some(crc32)).unwrap();
        assert_eq!(reassembled.file, file);
        assert_eq!(
            reassembled.fault,
            Some(StripeFault::Corrupt { stripe_index: 7 })
        );
    }

    #[test]
    fn two_corrupt_stripes_fail_the_crc() {
        let file = file_of(300, 6);
        let crc32 = file_crc32(&file);
        let mut stripes = all_present(&stripe(&file, count(7)).unwrap());
        for stripe_index in [1, 4] {
            if let Some(stripe) = stripes[stripe_index].as_mut() {
                stripe[5] ^= 0x81;
            }
        }
        assert!(matches!(
            reassemble_verified(&stripes, count(7), 300, Some(crc32)),
            Err(StripeError::Crc32Mismatch { crc32_expected, .. }) if crc32_expected == crc32
        ));
    }

    #[test]
    fn a_wrong_crc_fails_even_when_the_stripes_agree() {
        let file = file_of(300, 7);
        let crc32 = file_crc32(&file) ^ 1;
        let mut stripes = all_present(&stripe(&file, count(7)).unwrap());
        assert!(matches!(
            reassemble_verified(&stripes, count(7), 300, Some(crc32)),
            Err(StripeError::Crc32Mismatch { .. })
        ));
        stripes[0] = None;
        assert!(matches!(
            reassemble_verified(&stripes, count(7), 300, Some(crc32)),
            Err(StripeError::Crc32Mismatch { .. })
        ));
    }

    #[test]
    fn stripe_set_accessors() {
        let stripe_set = stripe(&file_of(20, 8), count(3)).unwrap();
        assert_eq!(stripe_set.stripe_count(), 4);
        assert_eq!(stripe_set.stripe(3), Some(stripe_set.parity.as_slice()));
        assert_eq!(stripe_set.stripe(0), Some(stripe_set.data[0].as_slice()));
        assert_eq!(stripe_set.stripe(4), None);
    }

    fn file_and_count() -> impl Strategy<Value = (Vec<u8>, usize)> {
        (
            prop::collection::vec(any::<u8>(), 0..=4096),
            1..=DATA_STRIPE_COUNT_MAX,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn matches_the_oracle_and_round_trips((file, data_stripe_count) in file_and_count()) {
            let stripe_set = stripe(&file, count(data_stripe_count)).unwrap();
            let (data, parity) = stripe_oracle(&file, data_stripe_count);
            prop_assert_eq!(&stripe_set.data, &data);
            prop_assert_eq!(&stripe_set.parity, &parity);
            let size = file.len() as u64;
            let reassembled = reassemble_verified(
                &all_present(&stripe_set), count(data_stripe_count), size, Some(file_crc32(&file)),
            ).unwrap();
            prop_assert_eq!(&reassembled.file, &file);
            prop_assert_eq!(reassembled.fault, None);
            prop_assert_eq!(unstripe_oracle(&data, file.len()), file);
        }

        #[test]
        fn any_one_missing_stripe_is_rebuilt(
            (file, data_stripe_count) in file_and_count(),
            missing in any::<prop::sample::Index>(),
        ) {
            let stripe_set = stripe(&file, count(data_stripe_count)).unwrap();
            let missing_index = missing.index(data_stripe_count + 1);
            let mut stripes = all_present(&stripe_set);
            stripes[missing_index] = None;
            let reassembled =
                reassemble_verified(&stripes, count(data_stripe_count), file.len() as u64, None)
                    .unwrap();
            prop_assert_eq!(reassembled.file, file);
            prop_assert_eq!(reassembled.fault, Some(StripeFault::Missing { stripe_index: missing_index }));
        }

        #[test]
        fn two_missing_stripes_are_an_error(
            (file, data_stripe_count) in file_and_count(),
            first in any::<prop::sample::Index>(),
            second in any::<prop::sample::Index>(),
        ) {
            let stripe_count = data_stripe_count + 1;
            let first_index = first.index(stripe_count);
            // A second index distinct from the first.
            let second_index = (first_index + 1 + second.index(stripe_count - 1)) % stripe_count;
            let mut stripes = all_present(&stripe(&file, count(data_stripe_count)).unwrap());
            stripes[first_index] = None;
            stripes[second_index] = None;
            let missing_indexes =
                vec![first_index.min(second_index), first_index.max(second_index)];
            prop_assert_eq!(
                reassemble(&stripes, count(data_stripe_count), file.len() as u64),
                Err(StripeError::TooManyMissing { missing_indexes })
            );
        }

        #[test]
        fn one_corrupt_stripe_is_found_and_replaced(
            (file, data_stripe_count) in (prop::collection::vec(any::<u8>(), 1..=4096), 1..=DATA_STRIPE_COUNT_MAX),
            corrupt in any::<prop::sample::Index>(),
            position in any::<prop::sample::Index>(),
            flip in 1..=u8::MAX,
        ) {
            let stripe_set = stripe(&file, count(data_stripe_count)).unwrap();
            let corrupt_index = corrupt.index(data_stripe_count + 1);
            let mut stripes = all_present(&stripe_set);
            if let Some(stripe) = stripes[corrupt_index].as_mut() {
                let byte_index = position.index(stripe.len());
                stripe[byte_index] ^= flip;
            }
            // Damage confined to a data stripe's padding bits leaves the file intact, so the
            // data stripes match the CRC-32 and the parity stripe is the one that disagrees.
            let data: Vec<Vec<u8>> = stripes[..data_stripe_count].iter().flatten().cloned().collect();
            let file_intact = unstripe_oracle(&data, file.len()) == file;
            let blamed = if file_intact { data_stripe_count } else { corrupt_index };
            let reassembled = reassemble_verified(
                &stripes, count(data_stripe_count), file.len() as u64, Some(file_crc32(&file)),
            ).unwrap();
            prop_assert_eq!(&reassembled.file, &file);
            prop_assert_eq!(reassembled.fault, Some(StripeFault::Corrupt { stripe_index: blamed }));
            prop_assert_eq!(
                reassemble(&stripes, count(data_stripe_count), file.len() as u64),
                Err(StripeError::ParityMismatch)
            );
        }
    }
}
