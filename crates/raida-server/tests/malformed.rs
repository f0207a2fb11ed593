//! Malformed packets through `handle_request`: a proptest that mutated and arbitrary packets
//! never panic and never touch stored data or locker balances.

mod common;

use common::*;

/// Every file and directory under the data directory, with file contents.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("list") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                out.insert(path.clone(), None);
                stack.push(path);
            } else {
                out.insert(path.clone(), Some(std::fs::read(&path).expect("read")));
            }
        }
    }
    out
}

fn lockers(env: &Env) -> Vec<(Vec<u8>, u64)> {
    env.with_lockers(|lockers| {
        lockers
            .iter()
            .map(|(code, balance)| (code.to_vec(), balance))
            .collect()
    })
}

mod malformed {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    /// Valid requests of every command, keyed so that they all pass.
    fn valid_packets(f: &Fixture) -> Vec<Vec<u8>> {
        let tell = tell_body(guid(90), vec![recipient(RECIPIENT, "PAY")], 1);
        let upload = upload_body(guid(91), 1, vec![9; 33], "PAY");
        let echo = EchoBody {
            challenge: Challenge::from_random([1; 12]),
        };
        [
            f.packet(Command::Echo, SENDER, &echo.to_bytes()).0,
            f.packet(Command::Upload, SENDER, &upload.to_bytes()).0,
            f.packet(Command::Tell, SENDER, &tell.to_bytes()).0,
            f.packet(Command::Ping, RECIPIENT, &ping_body(RECIPIENT).to_bytes())
                .0,
            f.packet(
                Command::Peek,
                RECIPIENT,
                &peek_body(RECIPIENT, 0).to_bytes(),
            )
            .0,
            f.packet(
                Command::Download,
                RECIPIENT,
                &download_body(guid(92), 1, 0).to_bytes(),
            )
            .0,
        ]
        .to_vec()
    }

    #[derive(Clone, Debug)]
    enum Mutation {
        Flip { index: usize, mask: u8 },
        Set { index: usize, value: u8 },
        Truncate { len: usize },
        Append { bytes: Vec<u8> },
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            (any::<usize>(), 1..=255u8).prop_map(|(index, mask)| Mutation::Flip { index, mask }),
            (any::<usize>(), any::<u8>()).prop_map(|(index, value)| Mutation::Set { index, value }),
            any::<usize>().prop_map(|len| Mutation::Truncate { len }),
            proptest::collection::vec(any::<u8>(), 1..8)
                .prop_map(|bytes| Mutation::Append { bytes }),
        ]
    }

    fn apply(packet: &mut Vec<u8>, mutation: &Mutation) {
        match mutation {
            Mutation::Flip { index, mask } => {
                let len = packet.len();
                packet[index % len] ^= mask;
            }
            Mutation::Set { index, value } => {
                let len = packet.len();
                packet[index % len] = *value;
            }
            Mutation::Truncate { len } => packet.truncate(len % packet.len()),
            Mutation::Append { bytes } => packet.extend_from_slice(bytes),
        }
    }

    #[derive(Clone, Debug)]
    enum Input {
        Arbitrary(Vec<u8>),
        Mutated {
            which: usize,
            mutations: Vec<Mutation>,
        },
    }

    fn input() -> impl Strategy<Value = Input> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..160).prop_map(Input::Arbitrary),
            // Arbitrary bytes behind a plausible header prefix get past the first checks.
            proptest::collection::vec(any::<u8>(), 0..120).prop_map(|tail| {
                let mut bytes = vec![1, 0, RAIDA, 3, 6, 73, 0, 6];
                bytes.extend(tail);
                Input::Arbitrary(bytes)
            }),
            (0..6usize, proptest::collection::vec(mutation(), 1..4))
                .prop_map(|(which, mutations)| Input::Mutated { which, mutations }),
        ]
    }

    #[test]
    fn malformed_packets_never_panic_nor_touch_stored_data() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let f = runtime.block_on(async {
            let f = fixture().await;
            deliver(&f, guid(93), 1).await;
            deliver(&f, guid(94), 1).await;
            upload(&f, guid(92), 1, vec![5; 100]).await;
            f
        });
        let valid = valid_packets(&f);
        let mut runner = TestRunner::new(Config {
            cases: 96,
            failure_persistence: None,
            ..Config::default()
        });
        let rejected_count = Cell::new(0u32);
        runner
            .run(&input(), |input| {
                let packet = match &input {
                    Input::Arbitrary(bytes) => bytes.clone(),
                    Input::Mutated { which, mutations } => {
                        let mut packet = valid[*which].clone();
                        for mutation in mutations {
                            if !packet.is_empty() {
                                apply(&mut packet, mutation);
                            }
                        }
                        packet
                    }
                };
                let files_before = snapshot(f.root());
                let lockers_before = lockers(&f.env);
                let outcome = runtime.block_on(handle_request(&f.env, &packet));
                let status = match &outcome {
                    Outcome::Reply(reply) => {
                        let header = ResponseHeader::from_bytes(&reply.bytes[..32])
                            .map_err(|error| TestCaseError::fail(error.to_string()))?;
                        Some(header.status)
                    }
                    Outcome::Park(_) => None,
                    Outcome::Close => return Err(TestCaseError::fail("rate limit is off")),
                };
                if let Outcome::Reply(reply) = outcome {
                    if let Some(deferred) = reply.deferred {
                        runtime.block_on(after_reply_written(&f.env, deferred));
                    }
                }
                if status.is_some_and(|status| status != Status::Success.code()) {
                    rejected_count.set(rejected_count.get() + 1);
                    prop_assert_eq!(snapshot(f.root()), files_before, "rejected: {:?}", status);
                    prop_assert_eq!(lockers(&f.env), lockers_before);
                }
                Ok(())
            })
            .expect("no malformed packet panics or changes stored data");
        let rejected_count = rejected_count.get();
        assert!(
            rejected_count > 48,
            "most inputs are rejected: {rejected_count}"
        );
    }
}
