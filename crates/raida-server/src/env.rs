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
use crate::store::inbox::InboxStore;
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
}

impl fmt::Display for EnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvError::Settings(error) => write!(f, "invalid settings: {error}"),
            EnvError::RaidaIdOutOfRange { raida_id } => {
                write!(
                    f,
                    "RAIDA id {raida_id} is outside 0..{}",
                    limits::RAIDA_COUNT
                )
            }
            EnvError::RootNotAbsolute { root } => {
                write!(f, "data directory {} is not absolute", root.display())
            }
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
    lockers: Mutex<LockerLedger>,
    inbox_fees: InboxFees,
    inbox: InboxStore,
    stripes: StripeStore,
    watch: InboxWatch,
    rate_limiter: RateLimiter,
    observer: Arc<dyn Observer>,
    extensions: Extensions,
    request_seq: AtomicU64,
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
            io,
            parts.root.join(&parts.settings.stripe_root),
            parts.settings.stripe_dir_fsync,
        );
        let rate_limiter = RateLimiter::new(parts.settings.rate_limit);
        Ok(Env {
            clock: parts.clock,
            fs: parts.fs,
            hook: parts.hook,
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(parts.rng_seed)),
            root: parts.root,
            raida_id: parts.raida_id,
            settings: parts.settings,
            coins: parts.coins,
            lockers: Mutex::new(parts.lockers),
            inbox_fees: parts.inbox_fees,
            inbox,
            stripes,
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

    /// Creates the storage roots (durably where the fsync settings ask). Call once at start.
    pub async fn prepare(&self) -> Result<(), StoreError> {
        self.inbox.init().await?;
        self.stripes.init().await
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

    /// Runs `f` on the locker ledger (the lock is released when `f` returns).
    pub fn with_lockers<R>(&self, f: impl FnOnce(&mut LockerLedger) -> R) -> R {
        // A poisoned lock means a handler panicked mid-update: a bug, not an input.
        let mut lockers = self.lockers.lock().expect("locker ledger lock poisoned");
        f(&mut lockers)
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
