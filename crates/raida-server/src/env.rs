//! The environment a RAIDA server runs in: everything its command handlers may touch.
//!
//! Handlers are plain async functions over an [`Env`]. The real `raida` daemon fills it with
//! the machine clock, the real disk and a no-op step hook ([`Env::real`]); the simulator fills
//! it with a skewed per-host clock, turmoil's simulated disk and a crash hook (`Env::sim`,
//! only with the cargo feature `sim`).
//! Nothing a handler does reaches time, randomness or files any other way, so one seed gives
//! one trace.
//!
//! The locker ledger and the RNG change while requests run; they sit behind `std` mutexes
//! that are only ever taken inside the closures of [`Env::with_lockers`] / [`Env::with_rng`],
//! so a lock can never be held across an `.await`.
//!
//! What must outlive the process besides inboxes and stripes — the ledger (what uploads
//! spent) and the active extensions' state — is written to `{data}/state/` through the same
//! [`Fs`] ([`crate::store::state`]): [`Env::persist_ledger`] and [`Env::persist_extensions`]
//! make the current state durable before the reply that follows a change, and
//! [`Env::prepare`] loads it back at start. [`Env::sweep_temp_files`] removes the temp files
//! a killed server left behind (the daemon calls it once at start).
//!
//! The command handlers also find here the inbox watch that wakes parked pings
//! ([`Env::watch`]), the per-coin rate limiter ([`Env::rate_limiter`]), the observer that
//! records what they decide ([`Env::observer`], a no-op unless [`Env::with_observer`] installs
//! one) and the request counter ([`Env::next_request_id`]).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::clock::{Clock, SystemClock};
use crate::coins::{CoinTable, InboxFees, LockerLedger};
use crate::extension::Extensions;
use crate::fs::{Fs, NoopHook, RealFs, StepHook};
use crate::limits;
use crate::observer::{NullObserver, Observer};
use crate::rate_limit::RateLimiter;
use crate::settings::{Settings, SettingsError};
use crate::store::cleanup::{sweep_temp_files, SweptDir};
use crate::store::inbox::InboxStore;
use crate::store::state::{LedgerChanges, StateStore, STATE_DIR};
use crate::store::stripes::StripeStore;
use crate::store::{StoreError, StoreIo};
use crate::watch::InboxWatch;

/// Why an environment could not be built.
#[derive(Debug)]
pub enum EnvError {
    /// The settings are invalid.
    Settings(SettingsError),
    /// The RAIDA id is outside 0…24.
    RaidaIdOutOfRange {
        /// The id given.
        raida_id: u8,
    },
    /// The data directory is not an absolute path.
    RootNotAbsolute {
        /// The path given.
        root: PathBuf,
    },
    /// A storage root setting names the state directory, which the server keeps for itself.
    RootIsStateDir {
        /// The setting (`mailbox_root` or `stripe_root`).
        key: &'static str,
        /// Its value.
        value: String,
    },
}

impl fmt::Display for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvError::Settings(error) => write!(f, "invalid settings: {error}"),
            EnvError::RaidaIdOutOfRange { raida_id } => {
                write!(
                    f,
                    "RAIDA id {raida_id} is outside 0..={}",
                    limits::RAIDA_COUNT - 1
                )
            }
            EnvError::RootNotAbsolute { root } => {
                write!(f, "data directory {} is not absolute", root.display())
            }
            EnvError::RootIsStateDir { key, value } => write!(
                f,
                "setting `{key}` = {value:?}: `{STATE_DIR}` below the data directory is the \
                 server's own (ledger and extension state)"
            ),
        }
    }
}

impl std::error::Error for EnvError {}

/// Everything [`Env::new`] needs.
#[derive(Debug)]
pub struct EnvParts {
    /// The server clock.
    pub clock: Arc<dyn Clock>,
    /// The file system.
    pub fs: Arc<dyn Fs>,
    /// The step hook.
    pub hook: Arc<dyn StepHook>,
    /// Seed of the server's RNG.
    pub rng_seed: u64,
    /// The data directory (absolute host path); the stores live below it.
    pub root: PathBuf,
    /// This RAIDA's index, 0…24.
    pub raida_id: u8,
    /// Number used in temp-file names: the PID for the real daemon, a per-boot number in the
    /// simulator.
    pub process_id: u32,
    /// Validated settings.
    pub settings: Settings,
    /// This RAIDA's coins.
    pub coins: CoinTable,
    /// This RAIDA's lockers.
    pub lockers: LockerLedger,
    /// This RAIDA's inbox fees.
    pub inbox_fees: InboxFees,
}

/// The environment of one running RAIDA server.
#[derive(Debug)]
pub struct Env {
    clock: Arc<dyn Clock>,
    fs: Arc<dyn Fs>,
    hook: Arc<dyn StepHook>,
    rng: Mutex<ChaCha8Rng>,
    root: PathBuf,
    raida_id: u8,
    settings: Settings,
    coins: CoinTable,
    lockers: Mutex<Ledger>,
    /// The balances provisioning gave (the ledger snapshot keeps only what differs): the live
    /// ledger's baseline (see [`LockerLedger::differing`]), kept to check it against.
    provisioned_lockers: LockerLedger,
    inbox_fees: InboxFees,
    inbox: InboxStore,
    stripes: StripeStore,
    state: StateStore,
    store_io: Arc<StoreIo>,
    watch: InboxWatch,
    rate_limiter: RateLimiter,
    observer: Arc<dyn Observer>,
    extensions: Extensions,
    request_seq: AtomicU64,
}

/// The live ledger and its generation: bumped by every [`Env::with_lockers`], so a persist
/// can tell whether what it would write is already durable.
#[derive(Debug)]
struct Ledger {
    lockers: LockerLedger,
    generation: u64,
}

/// What [`Env::prepare`] found on the disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrepareReport {
    /// Lockers the ledger's snapshot and journal set to a balance other than provisioning's.
    pub lockers_restored_count: usize,
    /// Extensions whose state came from their state file.
    pub extensions_restored_count: usize,
}

impl Env {
    /// Builds an environment, checking the settings, the RAIDA id and the data directory.
    pub fn new(parts: EnvParts) -> Result<Env, EnvError> {
        parts.settings.validate().map_err(EnvError::Settings)?;
        if usize::from(parts.raida_id) >= limits::RAIDA_COUNT {
            return Err(EnvError::RaidaIdOutOfRange {
                raida_id: parts.raida_id,
            });
        }
        if !parts.root.is_absolute() {
            return Err(EnvError::RootNotAbsolute { root: parts.root });
        }
        for (key, value) in [
            ("mailbox_root", &parts.settings.mailbox_root),
            ("stripe_root", &parts.settings.stripe_root),
        ] {
            let first = Path::new(value).components().next();
            if first.is_some_and(|c| c.as_os_str() == STATE_DIR) {
                return Err(EnvError::RootIsStateDir {
                    key,
                    value: value.clone(),
                });
            }
        }
        let io = Arc::new(StoreIo::new(
            parts.fs.clone(),
            parts.hook.clone(),
            parts.clock.clone(),
            parts.process_id,
        ));
        let inbox = InboxStore::new(
            io.clone(),
            parts.root.join(&parts.settings.mailbox_root),
            parts.settings.inbox_dir_fsync,
        );
        let stripes = StripeStore::new(
            io.clone(),
            parts.root.join(&parts.settings.stripe_root),
            parts.settings.stripe_dir_fsync,
        );
        let state = StateStore::new(io.clone(), parts.root.join(STATE_DIR));
        let rate_limiter = RateLimiter::new(parts.settings.rate_limit);
        let mut provisioned_lockers = parts.lockers;
        provisioned_lockers.mark_baseline();
        Ok(Env {
            clock: parts.clock,
            fs: parts.fs,
            hook: parts.hook,
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(parts.rng_seed)),
            root: parts.root,
            raida_id: parts.raida_id,
            settings: parts.settings,
            coins: parts.coins,
            provisioned_lockers: provisioned_lockers.clone(),
            lockers: Mutex::new(Ledger {
                lockers: provisioned_lockers,
                generation: 0,
            }),
            inbox_fees: parts.inbox_fees,
            inbox,
            stripes,
            state,
            store_io: io,
            watch: InboxWatch::new(),
            rate_limiter,
            observer: Arc::new(NullObserver),
            extensions: Extensions::none(),
            request_seq: AtomicU64::new(0),
        })
    }

    /// This environment with `observer` receiving every server event (replaces the no-op
    /// default).
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Env {
        self.observer = observer;
        self
    }

    /// This environment with the protocol extensions `extensions` active (replaces the empty
    /// default, the unchanged protocol). The set was checked when it was built.
    pub fn with_extensions(mut self, extensions: Extensions) -> Env {
        self.extensions = extensions;
        self
    }

    /// The active protocol extensions (empty unless [`Env::with_extensions`] set some).
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// The real daemon's environment: machine clock, real disk, no step hook, this PID.
    pub fn real(
        root: PathBuf,
        raida_id: u8,
        settings: Settings,
        tables: (CoinTable, LockerLedger, InboxFees),
        rng_seed: u64,
    ) -> Result<Env, EnvError> {
        let (coins, lockers, inbox_fees) = tables;
        Env::new(EnvParts {
            clock: Arc::new(SystemClock),
            fs: Arc::new(RealFs),
            hook: Arc::new(NoopHook),
            rng_seed,
            root,
            raida_id,
            process_id: std::process::id(),
            settings,
            coins,
            lockers,
            inbox_fees,
        })
    }

    /// A simulated host's environment: the host's clock and step hook, turmoil's disk.
    /// `boot_count` stands in for the PID in temp-file names. Feature `sim` only.
    #[cfg(feature = "sim")]
    #[allow(clippy::too_many_arguments)]
    pub fn sim(
        clock: Arc<dyn Clock>,
        hook: Arc<dyn StepHook>,
        root: PathBuf,
        raida_id: u8,
        settings: Settings,
        tables: (CoinTable, LockerLedger, InboxFees),
        rng_seed: u64,
        boot_count: u32,
    ) -> Result<Env, EnvError> {
        let (coins, lockers, inbox_fees) = tables;
        Env::new(EnvParts {
            clock,
            fs: Arc::new(crate::fs::SimFs),
            hook,
            rng_seed,
            root,
            raida_id,
            process_id: boot_count,
            settings,
            coins,
            lockers,
            inbox_fees,
        })
    }

    /// Creates the storage roots (durably where the fsync settings ask) and the state
    /// directory, then loads the ledger (snapshot and journal, compacting the journal) and the
    /// active extensions' state files. Call once at start, before any request. A torn or
    /// foreign state file is an error naming it (a torn last journal append is dropped).
    pub async fn prepare(&self) -> Result<PrepareReport, StoreError> {
        self.inbox.init().await?;
        self.stripes.init().await?;
        self.state.init().await?;
        let mut lockers = self.with_lockers(|lockers| lockers.clone());
        let load = self.state.recover_ledger(&mut lockers).await?;
        // What was loaded is durable already: the journal's next batch starts empty.
        lockers.take_written();
        self.lockers
            .lock()
            .expect("locker ledger lock poisoned")
            .lockers = lockers;
        let extensions_restored_count = self.extensions.restore(&self.state).await?;
        if load.restored_count > 0 || extensions_restored_count > 0 {
            tracing::info!(
                raida = self.raida_id,
                lockers = load.restored_count,
                extensions = extensions_restored_count,
                "restored the ledger and extension state"
            );
        }
        Ok(PrepareReport {
            lockers_restored_count: load.restored_count,
            extensions_restored_count,
        })
    }

    /// Removes the `.tmp.*` files a killed server left in the stripe directory, the inboxes
    /// and the state directories, logging one INFO line per directory that had any. Call at
    /// start, after [`Env::prepare`] and before any request.
    pub async fn sweep_temp_files(&self) -> Result<Vec<SweptDir>, StoreError> {
        let dirs = [
            self.stripes.dir().to_path_buf(),
            self.state.dir().to_path_buf(),
            self.state.extensions_dir(),
        ];
        let swept = sweep_temp_files(&self.store_io, self.inbox.mailbox_root(), &dirs).await?;
        for dir in &swept {
            tracing::info!(
                raida = self.raida_id,
                dir = %dir.dir.display(),
                removed = dir.removed_count,
                "removed temp files left by an earlier run"
            );
        }
        Ok(swept)
    }

    /// Makes the ledger durable as it is now, unless it already is: the lockers written
    /// since the last persist are appended to `state/ledger.journal` and fsynced (and once
    /// the journal is long enough, the lockers whose balance differs from provisioning are
    /// compacted into `state/ledger.state`). Uploads call it before acknowledging. An error
    /// leaves what was durable in place. Costs the lockers written, not every locker that
    /// differs (except for a compaction).
    pub async fn persist_ledger(&self) -> Result<(), StoreError> {
        self.state
            .persist_ledger(|compact| {
                let mut ledger = self.lockers.lock().expect("locker ledger lock poisoned");
                let written = ledger.lockers.take_written();
                let differing = compact.then(|| {
                    let differing = ledger.lockers.differing();
                    debug_assert_eq!(
                        differing,
                        ledger.lockers.differing_from(&self.provisioned_lockers),
                        "the ledger's differing lockers went out of step with its balances"
                    );
                    differing
                });
                LedgerChanges {
                    generation: ledger.generation,
                    written,
                    differing,
                }
            })
            .await
            .map(|_| ())
    }

    /// Makes every active extension's changed state durable (nothing to do without
    /// extensions, or when no state changed). Polls call it before their reply goes out.
    pub async fn persist_extensions(&self) -> Result<(), StoreError> {
        self.extensions.persist(&self.state).await
    }

    /// The state store (ledger and extension state files).
    pub fn state(&self) -> &StateStore {
        &self.state
    }

    /// The server clock.
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// The file system.
    pub fn fs(&self) -> &dyn Fs {
        self.fs.as_ref()
    }

    /// The step hook.
    pub fn hook(&self) -> &dyn StepHook {
        self.hook.as_ref()
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// This RAIDA's index.
    pub fn raida_id(&self) -> u8 {
        self.raida_id
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// This RAIDA's coins.
    pub fn coins(&self) -> &CoinTable {
        &self.coins
    }

    /// This RAIDA's inbox fees.
    pub fn inbox_fees(&self) -> &InboxFees {
        &self.inbox_fees
    }

    /// The inboxes.
    pub fn inbox(&self) -> &InboxStore {
        &self.inbox
    }

    /// The stripes.
    pub fn stripes(&self) -> &StripeStore {
        &self.stripes
    }

    /// The inbox watch that wakes parked pings.
    pub fn watch(&self) -> &InboxWatch {
        &self.watch
    }

    /// The per-coin rate limiter (`rate_limit` setting).
    pub fn rate_limiter(&self) -> &RateLimiter {
        &self.rate_limiter
    }

    /// The observer of server events.
    pub fn observer(&self) -> &dyn Observer {
        self.observer.as_ref()
    }

    /// A fresh request id: 1, 2, 3, … in the order requests arrive.
    pub fn next_request_id(&self) -> u64 {
        self.request_seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Runs `f` on the locker ledger (the lock is released when `f` returns). Changes made
    /// here live in memory until [`Env::persist_ledger`].
    pub fn with_lockers<R>(&self, f: impl FnOnce(&mut LockerLedger) -> R) -> R {
        // A poisoned lock means a handler panicked mid-update: a bug, not an input.
        let mut ledger = self.lockers.lock().expect("locker ledger lock poisoned");
        ledger.generation += 1;
        f(&mut ledger.lockers)
    }

    /// Runs `f` on the server RNG (the lock is released when `f` returns).
    pub fn with_rng<R>(&self, f: impl FnOnce(&mut ChaCha8Rng) -> R) -> R {
        let mut rng = self.rng.lock().expect("rng lock poisoned");
        f(&mut rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::coins::locker_code_from_ascii;
    use crate::store::{Guid, Mailbox};
    use rand_chacha::rand_core::RngCore;

    fn parts(root: PathBuf) -> EnvParts {
        let mut lockers = LockerLedger::new();
        lockers.insert(locker_code_from_ascii("L").expect("code"), 3);
        EnvParts {
            clock: Arc::new(ManualClock::new(10_000_000)),
            fs: Arc::new(RealFs),
            hook: Arc::new(NoopHook),
            rng_seed: 9,
            root,
            raida_id: 4,
            process_id: 1,
            settings: Settings::default(),
            coins: CoinTable::new(),
            lockers,
            inbox_fees: InboxFees::new(),
        }
    }

    #[test]
    fn refuses_bad_ids_roots_and_settings() {
        let bad_id = Env::new(EnvParts {
            raida_id: 25,
            ..parts(PathBuf::from("/data"))
        });
        assert!(matches!(
            bad_id,
            Err(EnvError::RaidaIdOutOfRange { raida_id: 25 })
        ));
        let relative = Env::new(parts(PathBuf::from("data")));
        assert!(matches!(relative, Err(EnvError::RootNotAbsolute { .. })));
        let settings = Settings {
            max_tells_per_reply: 0,
            ..Settings::default()
        };
        let bad_settings = Env::new(EnvParts {
            settings,
            ..parts(PathBuf::from("/data"))
        });
        assert!(matches!(bad_settings, Err(EnvError::Settings(_))));
    }

    #[test]
    fn rng_is_seeded_and_lockers_are_shared() {
        let one = Env::new(parts(PathBuf::from("/data"))).expect("env");
        let two = Env::new(parts(PathBuf::from("/data"))).expect("env");
        let a = one.with_rng(|rng| rng.next_u64());
        let b = two.with_rng(|rng| rng.next_u64());
        assert_eq!(a, b, "same seed, same numbers");
        let code = locker_code_from_ascii("L").expect("code");
        one.with_lockers(|lockers| lockers.spend(&code, 2))
            .expect("spend");
        assert_eq!(one.with_lockers(|lockers| lockers.balance(&code)), Some(1));
        assert_eq!(one.raida_id(), 4);
        assert_eq!(one.clock().now_unix_s(), 10);
    }

    /// `parts` with lockers L = 3, M = 5 and N = 7.
    fn parts_of_three(root: PathBuf) -> EnvParts {
        let mut parts = parts(root);
        parts
            .lockers
            .insert(locker_code_from_ascii("M").expect("code"), 5);
        parts
            .lockers
            .insert(locker_code_from_ascii("N").expect("code"), 7);
        parts
    }

    /// The ledger files read back into the provisioned balances: (restored count, L, M, N).
    async fn ledger_file(env: &Env) -> (usize, Vec<Option<u64>>) {
        let mut ledger = parts_of_three(PathBuf::from("/unused")).lockers;
        let load = env.state().load_ledger(&mut ledger).await.expect("load");
        let balances = ["L", "M", "N"]
            .map(|text| ledger.balance(&locker_code_from_ascii(text).expect("code")))
            .to_vec();
        (load.restored_count, balances)
    }

    #[tokio::test]
    async fn persist_ledger_writes_what_differs_across_refunds_and_restarts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let [l, m, n] = ["L", "M", "N"].map(|text| locker_code_from_ascii(text).expect("code"));
        let env = Env::new(parts_of_three(dir.path().to_path_buf())).expect("env");
        env.prepare().await.expect("prepare");
        env.with_lockers(|lockers| lockers.spend(&l, 2))
            .expect("spend");
        env.with_lockers(|lockers| lockers.spend(&m, 1))
            .expect("spend");
        env.persist_ledger().await.expect("persist");
        assert_eq!(
            ledger_file(&env).await,
            (2, vec![Some(1), Some(4), Some(7)])
        );
        // A refund back to the provisioned balance: L leaves the file.
        assert!(env.with_lockers(|lockers| lockers.credit(&l, 2)));
        env.persist_ledger().await.expect("persist");
        assert_eq!(
            ledger_file(&env).await,
            (1, vec![Some(3), Some(4), Some(7)])
        );
        drop(env);
        // After a restart the restored M is still written, though only N changes.
        let env = Env::new(parts_of_three(dir.path().to_path_buf())).expect("env");
        let report = env.prepare().await.expect("prepare");
        assert_eq!(report.lockers_restored_count, 1);
        env.with_lockers(|lockers| lockers.spend(&n, 7))
            .expect("spend");
        env.persist_ledger().await.expect("persist");
        assert_eq!(
            ledger_file(&env).await,
            (2, vec![Some(3), Some(4), Some(0)])
        );
        // A restored locker refunded back to provisioning leaves the file too.
        assert!(env.with_lockers(|lockers| lockers.credit(&m, 1)));
        env.persist_ledger().await.expect("persist");
        assert_eq!(
            ledger_file(&env).await,
            (1, vec![Some(3), Some(5), Some(0)])
        );
    }

    #[tokio::test]
    async fn prepare_creates_the_roots_and_the_stores_work() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = Env::new(parts(dir.path().to_path_buf())).expect("env");
        env.prepare().await.expect("prepare");
        assert!(dir.path().join("mailboxes").is_dir());
        assert!(dir.path().join("stripes").is_dir());
        let mailbox = Mailbox {
            denomination: 0,
            serial_number: 1,
        };
        let guid = Guid([2; 16]);
        env.inbox()
            .publish_tell(mailbox, guid, &[0; 64])
            .await
            .expect("publish");
        env.stripes()
            .put(guid, 1, b"data", None)
            .await
            .expect("put");
        let now_s = env.clock().now_unix_s();
        assert_eq!(
            env.stripes()
                .get(guid, 1, now_s)
                .await
                .expect("get")
                .as_deref(),
            Some(&b"data"[..])
        );
    }
}
