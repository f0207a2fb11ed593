//! Throughput of striping and reassembly, next to a plain memcpy of the same bytes.
//!
//! Run with `cargo bench -p qmail-client --bench stripe`. Each group stripes one seeded random
//! file: the largest file 7 data stripes can send (7 × 65,447 bytes) and 1 MiB over 31 data
//! stripes. The target is to stay within 4× of memcpy. `stripe` and `reassemble` return fresh
//! vectors, so `memcpy_to_vec` (a copy into a fresh vector) is the like-for-like baseline;
//! `memcpy` copies into a buffer allocated once.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use qmail_client::stripe::{max_file_size_bytes, reassemble, stripe, DataStripeCount, StripeSet};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SEED: u64 = 0x5152_4149_4441;
const MIB_BYTES: usize = 1 << 20;

fn random_file(size_bytes: usize) -> Vec<u8> {
    let mut file = vec![0u8; size_bytes];
    ChaCha8Rng::seed_from_u64(SEED).fill_bytes(&mut file);
    file
}

fn bench_width(criterion: &mut Criterion, data_stripe_count: DataStripeCount, size_bytes: usize) {
    let file = random_file(size_bytes);
    let stripe_set: StripeSet = stripe(&file, data_stripe_count).expect("file fits the stripes");
    let original_size_bytes = stripe_set.original_size_bytes;
    let all_present = stripe_set.clone().into_stripes();
    let mut one_missing = all_present.clone();
    one_missing[0] = None;

    let mut group = criterion.benchmark_group(format!("n{data_stripe_count}_{size_bytes}B"));
    group.throughput(Throughput::Bytes(size_bytes as u64));
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    let mut copy = vec![0u8; size_bytes];
    group.bench_function("memcpy", |bencher| {
        bencher.iter(|| {
            copy.copy_from_slice(black_box(&file));
            black_box(&copy);
        })
    });
    group.bench_function("memcpy_to_vec", |bencher| {
        bencher.iter(|| black_box(&file).to_vec())
    });
    group.bench_function("stripe", |bencher| {
        bencher.iter(|| stripe(black_box(&file), data_stripe_count))
    });
    group.bench_function("reassemble", |bencher| {
        bencher.iter(|| {
            reassemble(
                black_box(&all_present),
                data_stripe_count,
                original_size_bytes,
            )
        })
    });
    group.bench_function("reassemble_one_missing", |bencher| {
        bencher.iter(|| {
            reassemble(
                black_box(&one_missing),
                data_stripe_count,
                original_size_bytes,
            )
        })
    });
    group.finish();
}

fn benches(criterion: &mut Criterion) {
    let seven = DataStripeCount::DEFAULT;
    let largest_for_seven = max_file_size_bytes(seven) as usize;
    bench_width(criterion, seven, largest_for_seven);
    bench_width(criterion, DataStripeCount::MAX, MIB_BYTES);
}

criterion_group!(stripe_benches, benches);
criterion_main!(stripe_benches);
