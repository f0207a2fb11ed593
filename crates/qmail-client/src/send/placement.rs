//! Placement: which RAIDA holds each stripe index of every file of one email.
//!
//! The M stripes (M = N+1 for XOR, N+k for Reed–Solomon) of every file of one email go to the
//! same M distinct RAIDAs, so one set of server entries describes every file (the tell has
//! `stripe_count` entries, not one per file), and no RAIDA holds two stripes of one
//! (GUID, file_type) (it keeps only one). Which RAIDAs, by rendezvous hashing: rank every
//! RAIDA index `r` in 0..25 by [`placement_rank`]`(GUID, r)` (FNV-1a-64 over `GUID ‖ r`, then
//! the SplitMix64 finaliser; not CRC-32, whose linearity gave only 32 distinct 8-RAIDA sets),
//! ties by `r`; stripe index `i` goes to the RAIDA ranked `i` (so the parity stripes, indexes
//! N.., to the ones ranked N..). Anyone holding the GUID can recompute it
//! ([`Placement::from_guid_with_parity`]), and emails spread evenly over the RAIDAs. A
//! Reed–Solomon placement extends the XOR one of the same GUID and width: its first N + 1
//! RAIDAs are the same.

use crate::config::Parity;
use crate::error::ClientError;
use crate::identity::Guid;
use crate::limits::RAIDA_COUNT;
use crate::rs;
use crate::stripe::DataStripeCount;

/// Which RAIDA holds each stripe index of every file of one email. See the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    raidas: Vec<u8>,
    parity: Parity,
}

/// The rendezvous-hash rank of RAIDA `raida_index` for `guid`: FNV-1a-64 over the 16 GUID
/// bytes and the index byte, then the SplitMix64 finaliser so every output bit depends
/// non-linearly on every input bit.
pub fn placement_rank(guid: &Guid, raida_index: u8) -> u64 {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    let fnv = guid
        .iter()
        .chain(std::iter::once(&raida_index))
        .fold(FNV_OFFSET, |hash, &byte| {
            (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
        });
    let mut z = fnv.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Placement {
    /// The rendezvous-hash placement of the module docs: N+1 distinct RAIDAs for `guid`, XOR
    /// parity.
    pub fn from_guid(guid: &Guid, data_stripe_count: DataStripeCount) -> Result<Self, ClientError> {
        Self::from_guid_with_parity(guid, data_stripe_count, Parity::Xor)
    }

    /// The rendezvous-hash placement of the module docs for `parity`: N plus the parity
    /// stripes, on as many distinct RAIDAs (refused when they exceed the 25 RAIDAs).
    pub fn from_guid_with_parity(
        guid: &Guid,
        data_stripe_count: DataStripeCount,
        parity: Parity,
    ) -> Result<Self, ClientError> {
        let stripe_count = parity.stripe_count(data_stripe_count);
        if stripe_count > RAIDA_COUNT {
            return Err(ClientError::InvalidInput {
                reason: format!(
                    "{stripe_count} stripes per file do not fit {RAIDA_COUNT} distinct RAIDAs"
                ),
            });
        }
        let mut ranked: Vec<(u64, u8)> = (0..RAIDA_COUNT as u8)
            .map(|raida_index| (placement_rank(guid, raida_index), raida_index))
            .collect();
        ranked.sort_unstable();
        let raidas = ranked
            .into_iter()
            .take(stripe_count)
            .map(|(_, raida_index)| raida_index)
            .collect();
        Self::with_parity(raidas, parity)
    }

    /// An explicit placement: `raidas[i]` holds stripe `i`; 2 to 25 distinct RAIDA indexes,
    /// XOR parity.
    pub fn new(raidas: Vec<u8>) -> Result<Self, ClientError> {
        Self::with_parity(raidas, Parity::Xor)
    }

    /// An explicit placement for `parity`: `raidas[i]` holds stripe `i`, the parity stripes
    /// last; 2 to 25 distinct RAIDA indexes, at least one data stripe.
    pub fn with_parity(raidas: Vec<u8>, parity: Parity) -> Result<Self, ClientError> {
        let invalid = |reason: String| Err(ClientError::InvalidInput { reason });
        let parity_stripe_count = parity.parity_stripe_count();
        if let Parity::ReedSolomon { parity_count } = parity {
            let data_count = raidas.len().saturating_sub(parity_stripe_count);
            if let Err(shape) = rs::check_shape(data_count, usize::from(parity_count)) {
                return invalid(format!("a Reed-Solomon placement: {shape}"));
            }
        }
        if !(2..=RAIDA_COUNT).contains(&raidas.len()) {
            return invalid(format!(
                "a placement names 2..={RAIDA_COUNT} RAIDAs, not {}",
                raidas.len()
            ));
        }
        let mut seen = [false; RAIDA_COUNT];
        for &raida_index in &raidas {
            match seen.get_mut(usize::from(raida_index)) {
                None => return invalid(format!("RAIDA index {raida_index} is outside 0..=24")),
                Some(true) => return invalid(format!("RAIDA {raida_index} is placed twice")),
                Some(slot) => *slot = true,
            }
        }
        assert!(raidas.len() > parity_stripe_count);
        Ok(Self { raidas, parity })
    }

    /// The RAIDA of each stripe index, parity last.
    pub fn raidas(&self) -> &[u8] {
        &self.raidas
    }

    /// The parity scheme the stripes were cut with.
    pub fn parity(&self) -> Parity {
        self.parity
    }

    /// N, the data stripes this placement serves.
    pub fn data_stripe_count(&self) -> DataStripeCount {
        DataStripeCount::new(self.raidas.len() - self.parity.parity_stripe_count())
            .expect("a placement has 1..=24 data stripes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_is_deterministic_distinct_and_spread() {
        let n = DataStripeCount::DEFAULT;
        let a = Placement::from_guid(&[1; 16], n).expect("fits");
        assert_eq!(a, Placement::from_guid(&[1; 16], n).expect("fits"));
        assert_eq!(a.raidas().len(), 8);
        let mut sorted = a.raidas().to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 8);
        assert!(sorted.iter().all(|r| usize::from(*r) < RAIDA_COUNT));
        assert_eq!(a.data_stripe_count(), n);
        // Over many GUIDs every RAIDA gets used.
        let mut used = [0usize; RAIDA_COUNT];
        for seed in 0..200u8 {
            let mut guid = [0u8; 16];
            guid[0] = seed;
            guid[15] = seed.wrapping_mul(31);
            for raida in Placement::from_guid(&guid, n).expect("fits").raidas() {
                used[usize::from(*raida)] += 1;
            }
        }
        assert!(used.iter().all(|count| *count > 20), "{used:?}");
        // The widest placeable width uses every RAIDA.
        let all =
            Placement::from_guid(&[9; 16], DataStripeCount::new(24).expect("valid")).expect("fits");
        assert_eq!(all.raidas().len(), 25);
    }

    #[test]
    fn placement_rule_matches_the_docs() {
        let guid = [0x5A; 16];
        let placement =
            Placement::from_guid(&guid, DataStripeCount::new(2).expect("valid")).expect("fits");
        let mut ranked: Vec<(u64, u8)> = (0..25u8).map(|r| (placement_rank(&guid, r), r)).collect();
        ranked.sort();
        let expected: Vec<u8> = ranked.iter().take(3).map(|(_, r)| *r).collect();
        assert_eq!(placement.raidas(), expected.as_slice());
    }

    #[test]
    fn placements_spread_over_many_raida_sets() {
        // CRC-32 ranking gave only 32 distinct 8-RAIDA sets over 20,000 GUIDs; a
        // non-linear rank must give thousands.
        let sets: std::collections::BTreeSet<Vec<u8>> = (0u32..2_000)
            .map(|i| {
                let mut guid = [0u8; 16];
                guid[..4].copy_from_slice(&i.to_be_bytes());
                let placement =
                    Placement::from_guid(&guid, DataStripeCount::new(7).expect("valid"))
                        .expect("fits");
                let mut raidas = placement.raidas().to_vec();
                raidas.sort_unstable();
                raidas
            })
            .collect();
        assert!(sets.len() > 1_000, "only {} distinct sets", sets.len());
    }

    #[test]
    fn reed_solomon_placement_extends_the_xor_one() {
        let n = DataStripeCount::DEFAULT;
        let guid = [0x33; 16];
        let xor = Placement::from_guid(&guid, n).expect("fits");
        let rs =
            Placement::from_guid_with_parity(&guid, n, Parity::ReedSolomon { parity_count: 3 })
                .expect("fits");
        assert_eq!(rs.raidas().len(), 10);
        assert_eq!(&rs.raidas()[..8], xor.raidas());
        assert_eq!(rs.data_stripe_count(), n);
        assert_eq!(rs.parity().parity_algo(), 1);
        let too_wide = Placement::from_guid_with_parity(
            &guid,
            DataStripeCount::new(23).expect("valid"),
            Parity::ReedSolomon { parity_count: 3 },
        );
        assert!(too_wide.is_err());
        assert!(
            Placement::with_parity(vec![0, 1], Parity::ReedSolomon { parity_count: 2 }).is_err()
        );
        assert!(
            Placement::with_parity(vec![0, 1, 2], Parity::ReedSolomon { parity_count: 2 }).is_ok()
        );
    }

    #[test]
    fn explicit_placement_checks() {
        assert!(Placement::new(vec![0, 1]).is_ok());
        assert!(Placement::new(vec![0]).is_err());
        assert!(Placement::new(vec![0, 0]).is_err());
        assert!(Placement::new(vec![0, 25]).is_err());
        assert!(Placement::new((0..26).collect()).is_err());
    }
}
