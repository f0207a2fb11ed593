//! The simulated RAIDA hosts: a real `raida-server` on turmoil's clock, disk and network.
//!
//! Each RAIDA is a turmoil host (`sim.host`, so `Sim::bounce` restarts it) whose software
//! builds an [`Env::sim`] from:
//! - a [`SimClock`]: the host's [`HostClock`] (offset, drift, steps) read at turmoil's
//!   simulated time; file mtimes (un-skewed simulated time) are read through the same clock;
//! - a [`SimStepHook`]: the [`CrashPlan`] shared with the harness, which arms it and polls
//!   it, and the host's yield points ([`crate::faults::interleave`]);
//! - a [`SimObserver`] turning the server's events into history events (requests handled,
//!   tells handled, accepted, skipped, read and deleted, pings parked, woken and timed out)
//!   and telling the harness about stored stripes;
//! - when the run records file-system steps, a [`RecordingStepHook`] in front of the step
//!   hook, recording each named step as it completes;
//! - a [`PublishStepHook`] that reserves a tell's `TellAccepted` in the history at the
//!   rename that makes it visible ([`PendingPublishes`]): the server reports the publish
//!   after its remaining steps (the inbox fsync), and with interleaving on a poll can read
//!   and even deliver the tell in between; the event must not come after its own delivery;
//! - the scenario's server settings and this RAIDA's coins, lockers and inbox fees;
//!
//! and then serves `raida_server::front::serve` on a turmoil `TcpListener`. Beside it runs a
//! small disk-maintenance task that takes commands from the harness (lose or corrupt one
//! stored stripe) and carries them out on the host's simulated disk through `SimFs`: that is
//! how stripe faults act, without any special server code.
//!
//! Request numbers in the history are `boot << 40 | request_id`: the server numbers requests
//! from 1 on every boot, and a restarted beacon must not pair its new requests with the old
//! boot's acknowledgements.
//!
//! A server request is tied to the client attempt that sent it through its connection: the
//! listener is wrapped ([`SimListener`]) so each accepted stream remembers its peer and, on
//! its first read, tells the boot's [`Connections`] which task serves it. The observer runs
//! inline in that task, so `tokio::task::try_id` names the connection, its peer names the
//! client attempt (registered by the client's connector, see [`super::net`]). Task ids are
//! only looked up, never recorded, so they do not reach the trace.

use std::collections::hash_map::DefaultHasher;
#[allow(clippy::disallowed_types)] // Lookups only, unkeyed hasher: see `PeerMap`.
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::hash::BuildHasherDefault;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use qmail_client::stripe::DataStripeCount;
use qmail_wire::header::Command;
use raida_server::clock::system_time_to_unix_us;
use raida_server::coins::{CoinTable, InboxFees, LockerLedger};
use raida_server::env::Env;
use raida_server::env::EnvParts;
use raida_server::fs::{BoxFuture, CrashPlan, Fs, SimFs, Step, StepHook};
use raida_server::observer::{Observer, RecipientRefusal, RequestOutcome, ServerEvent};
use raida_server::settings::Settings;
use raida_server::store::inbox::{DeleteFate, InboxItem};
use raida_server::store::stripes::StripeStore;
use raida_server::store::{Guid, Mailbox};

use super::net::RAIDA_PORT;
use super::recorder::{Recorder, Reservation, StoredStripe};
use crate::clock::HostClock;
use crate::extensions::ExtensionsConfig;
use crate::faults::interleave::{SimStepHook, YieldPoints};
use crate::faults::storage::{DiskFaults, StorageFs};
use crate::faults::stripes::{apply_maintenance, MaintenanceCommand};
use crate::history::{
    EmailId, EventKind, Host, MailboxId, PollKind, ServerOutcome, TellRef, WireCommand,
};
use crate::limits::{
    EDIT_SEQUENCE_OFFSET, EXPIRY_AUDIT_MARGIN_S, MAINTENANCE_POLL_MS, SIM_STORAGE_DURATION,
};
use crate::seed::splitmix64;

/// Where a simulated RAIDA keeps its data (each host has its own disk).
pub const RAIDA_DATA_ROOT: &str = "/raida";

/// Bits the request id keeps below the boot number in history request numbers.
const REQUEST_ID_BITS: u32 = 40;

/// A host's wall clock over turmoil's simulated time. Implements the server's and the
/// client's clock traits, so a RAIDA and a client host read time the same way.
#[derive(Clone, Debug)]
pub struct SimClock {
    clock: HostClock,
}

impl SimClock {
    /// A clock reading `clock`.
    pub fn new(clock: HostClock) -> SimClock {
        SimClock { clock }
    }

    /// The underlying host clock.
    pub fn host_clock(&self) -> &HostClock {
        &self.clock
    }

    /// Simulated microseconds elapsed now (inside a turmoil host).
    fn elapsed_us() -> u64 {
        let elapsed = turmoil::sim_elapsed().expect("a simulated clock is read inside a host");
        u64::try_from(elapsed.as_micros()).expect("simulated time fits u64 microseconds")
    }

    /// This host's wall clock now, Unix microseconds (never before 1970).
    pub fn now_unix_us(&self) -> u64 {
        u64::try_from(self.clock.unix_us_at(Self::elapsed_us())).unwrap_or(0)
    }

    /// This host's wall clock now, whole Unix seconds.
    pub fn now_unix_s(&self) -> i64 {
        self.clock.unix_s_at(Self::elapsed_us())
    }
}

impl raida_server::clock::Clock for SimClock {
    fn now_unix_us(&self) -> u64 {
        SimClock::now_unix_us(self)
    }

    fn fs_time_to_unix_us(&self, fs_time: SystemTime) -> u64 {
        let fs_unix_us = i64::try_from(system_time_to_unix_us(fs_time)).unwrap_or(i64::MAX);
        u64::try_from(self.clock.fs_time_to_host_unix_us(fs_unix_us)).unwrap_or(0)
    }
}

impl qmail_client::clock::Clock for SimClock {
    fn now_unix_s(&self) -> u64 {
        u64::try_from(SimClock::now_unix_s(self)).unwrap_or(0)
    }
}

/// Everything one RAIDA host needs to boot, shared by all its boots and the harness.
#[derive(Debug)]
pub struct RaidaHost {
    index: u8,
    clock: SimClock,
    settings: Settings,
    coins: CoinTable,
    lockers: LockerLedger,
    inbox_fees: InboxFees,
    rng_seed: u64,
    data_stripes: DataStripeCount,
    crash_plan: Arc<Mutex<CrashPlan>>,
    yields: Arc<Mutex<YieldPoints>>,
    boots: AtomicU32,
    recorder: Recorder,
    maintenance: Mutex<VecDeque<MaintenanceCommand>>,
    extensions: ExtensionsConfig,
    disk: Option<Arc<DiskFaults>>,
    audit: Mutex<AuditState>,
    publishes: Arc<PendingPublishes>,
}

/// Where a RAIDA's end-of-run disk audit stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditState {
    /// Not asked for.
    Idle,
    /// The harness asked; the maintenance task has not finished it.
    Requested,
    /// Done: every stripe the RAIDA acknowledged was read back.
    Done,
}

/// The parts of a [`RaidaHost`] drawn from the seed and the scenario.
#[derive(Debug)]
pub struct RaidaHostParts {
    /// RAIDA index.
    pub index: u8,
    /// Its clock.
    pub clock: HostClock,
    /// Server settings.
    pub settings: Settings,
    /// Coins (every mailbox's AN on this RAIDA).
    pub coins: CoinTable,
    /// Lockers.
    pub lockers: LockerLedger,
    /// Inbox fees.
    pub inbox_fees: InboxFees,
    /// Seed of the server RNG (mixed with the boot number).
    pub rng_seed: u64,
    /// The senders' stripe width (to name a damaged stripe by its index).
    pub data_stripes: DataStripeCount,
    /// Where its handlers may yield.
    pub yields: YieldPoints,
    /// Its storage faults, when its file-system calls can fail or flip bytes.
    pub disk: Option<Arc<DiskFaults>>,
}

impl RaidaHost {
    /// A host description; `recorder` receives its events.
    pub fn new(parts: RaidaHostParts, recorder: Recorder) -> RaidaHost {
        RaidaHost {
            index: parts.index,
            clock: SimClock::new(parts.clock),
            settings: parts.settings,
            coins: parts.coins,
            lockers: parts.lockers,
            inbox_fees: parts.inbox_fees,
            rng_seed: parts.rng_seed,
            data_stripes: parts.data_stripes,
            crash_plan: Arc::new(Mutex::new(CrashPlan::new())),
            yields: Arc::new(Mutex::new(parts.yields)),
            boots: AtomicU32::new(0),
            recorder,
            maintenance: Mutex::new(VecDeque::new()),
            extensions: ExtensionsConfig::default(),
            disk: parts.disk,
            audit: Mutex::new(AuditState::Idle),
            publishes: Arc::new(PendingPublishes::default()),
        }
    }

    /// Asks the maintenance task to audit the disk (the harness, at the end of a run).
    pub fn request_audit(&self) {
        *self.audit.lock().expect("audit lock poisoned") = AuditState::Requested;
    }

    /// Where the audit stands.
    pub fn audit_state(&self) -> AuditState {
        *self.audit.lock().expect("audit lock poisoned")
    }

    /// Its storage faults, if any (the world heals them for the healed phase).
    pub fn disk(&self) -> Option<&DiskFaults> {
        self.disk.as_deref()
    }

    /// This host with the scenario's extension assignment; each boot builds its own set
    /// from it (none by default: the unchanged protocol).
    pub fn with_extensions(mut self, extensions: ExtensionsConfig) -> RaidaHost {
        self.extensions = extensions;
        self
    }

    /// The RAIDA index.
    pub fn index(&self) -> u8 {
        self.index
    }

    /// The host's clock.
    pub fn clock(&self) -> &SimClock {
        &self.clock
    }

    /// The crash plan shared with the host's step hook.
    pub fn crash_plan(&self) -> MutexGuard<'_, CrashPlan> {
        // Poisoned: a host panicked while counting a step; the run is already lost.
        self.crash_plan.lock().expect("crash plan lock poisoned")
    }

    /// The file-system steps after which this host's handlers may yield.
    pub fn yield_steps(&self) -> Vec<raida_server::fs::Step> {
        self.yields
            .lock()
            .expect("yield points lock poisoned")
            .steps
            .clone()
    }

    /// The host lost power: the publishes renamed but not yet reported never will be.
    pub(crate) fn cancel_pending_publishes(&self) {
        self.publishes.cancel_all(&self.recorder);
    }

    /// How often the software has started.
    pub fn boot_count(&self) -> u32 {
        self.boots.load(Ordering::SeqCst)
    }

    /// Queues a maintenance command (the harness).
    pub fn push_maintenance(&self, command: MaintenanceCommand) {
        self.queue().push_back(command);
    }

    fn queue(&self) -> MutexGuard<'_, VecDeque<MaintenanceCommand>> {
        self.maintenance
            .lock()
            .expect("maintenance queue lock poisoned")
    }
}

/// One boot of a RAIDA host's software: build the environment, start maintenance, serve.
pub async fn run_raida(host: Arc<RaidaHost>) -> turmoil::Result {
    let mut failed_boot_count = 0u32;
    let (env, connections) = loop {
        match boot(&host).await {
            Ok(booted) => break booted,
            // With storage faults a start can fail on an injected error: the supervisor
            // (systemd's Restart=on-failure) starts the daemon again after a pause.
            Err(error) if host.disk.is_some() && failed_boot_count < BOOT_ATTEMPTS_MAX => {
                failed_boot_count += 1;
                tracing::warn!(raida = host.index, %error, "start failed; restarting");
                tokio::time::sleep(Duration::from_millis(RESTART_PAUSE_MS)).await;
            }
            Err(error) => return Err(error),
        }
    };
    tokio::spawn(maintain(env.clone(), host.clone()));
    let listener =
        turmoil::net::TcpListener::bind((IpAddr::V4(Ipv4Addr::UNSPECIFIED), RAIDA_PORT)).await?;
    let listener = SimListener {
        inner: listener,
        connections,
    };
    raida_server::front::serve(listener, env).await?;
    Ok(())
}

/// Starts of the software a storage-faulted RAIDA may fail in a row before its host fails.
const BOOT_ATTEMPTS_MAX: u32 = 20;
/// The supervisor's pause before starting a failed RAIDA again, milliseconds.
const RESTART_PAUSE_MS: u64 = 1_000;

/// One start of the RAIDA's software: build the environment, load the state, sweep temp
/// files (as the daemon does at start).
async fn boot(
    host: &Arc<RaidaHost>,
) -> Result<(Arc<Env>, Connections), Box<dyn std::error::Error>> {
    let boot = host.boots.fetch_add(1, Ordering::SeqCst) + 1;
    let connections = Connections::default();
    let observer = SimObserver {
        raida: host.index,
        boot,
        recorder: host.recorder.clone(),
        connections: connections.clone(),
        publishes: host.publishes.clone(),
    };
    let step_hook: Arc<dyn StepHook> = Arc::new(PublishStepHook {
        publishes: host.publishes.clone(),
        recorder: host.recorder.clone(),
        inner: SimStepHook::new(host.crash_plan.clone(), host.yields.clone()),
    });
    let step_hook: Arc<dyn StepHook> = if host.recorder.options().fs_steps {
        Arc::new(RecordingStepHook {
            raida: host.index,
            recorder: host.recorder.clone(),
            inner: step_hook,
        })
    } else {
        step_hook
    };
    let fs: Arc<dyn Fs> = match &host.disk {
        Some(disk) => Arc::new(StorageFs::new(disk.clone())),
        None => Arc::new(SimFs),
    };
    let env = Env::new(EnvParts {
        clock: Arc::new(host.clock.clone()),
        fs,
        hook: step_hook,
        rng_seed: splitmix64(host.rng_seed ^ u64::from(boot)),
        root: PathBuf::from(RAIDA_DATA_ROOT),
        raida_id: host.index,
        process_id: boot,
        settings: host.settings.clone(),
        coins: host.coins.clone(),
        lockers: host.lockers.clone(),
        inbox_fees: host.inbox_fees.clone(),
    })?
    .with_observer(Arc::new(observer))
    .with_extensions(host.extensions.server_set(host.index));
    env.prepare().await?;
    env.sweep_temp_files().await?;
    Ok((Arc::new(env), connections))
}

/// The maintenance task: carries out the harness's stripe commands on this host's disk.
async fn maintain(env: Arc<Env>, host: Arc<RaidaHost>) {
    loop {
        if host.audit_state() == AuditState::Requested {
            audit_stripes(&env, host.index, &host.recorder).await;
            *host.audit.lock().expect("audit lock poisoned") = AuditState::Done;
        }
        let next = host.queue().pop_front();
        match next {
            Some(command) => {
                let (raida, stripes) = (host.index, host.data_stripes);
                apply_maintenance(&env, raida, stripes, &host.recorder, command).await;
            }
            None => tokio::time::sleep(Duration::from_millis(u64::from(MAINTENANCE_POLL_MS))).await,
        }
    }
}

/// Audits every stripe `raida` acknowledged in this run through its stripe store (the
/// storage faults are healed by now) and records each one that is damaged (missing,
/// corrupt, unreadable) or does not expire as the upload page says.
async fn audit_stripes(env: &Env, raida: u8, recorder: &Recorder) {
    let now_s = env.clock().now_unix_s();
    for stripe in recorder.acked_stripes_of(raida) {
        let guid = Guid(stripe.email_id.0);
        let (email_id, file_type) = (stripe.email_id, stripe.file_type);
        let kind = match audit_stripe(env.stripes(), env.fs(), guid, file_type, now_s).await {
            None => continue,
            Some(AuditFinding::Damaged(outcome)) => EventKind::StripeAudited {
                raida,
                email_id,
                file_type,
                outcome,
            },
            Some(AuditFinding::Expiry(outcome)) => EventKind::StripeExpiryAudited {
                raida,
                email_id,
                file_type,
                outcome,
            },
        };
        recorder.record(Host::Raida(raida), kind);
    }
}

/// What the audit found wrong with one acknowledged stripe.
#[derive(Debug, PartialEq, Eq)]
enum AuditFinding {
    /// Not intact on the disk: missing, corrupt or unreadable (the `durable` checker's).
    Damaged(String),
    /// On the disk and intact, but not served and removed when its storage duration says
    /// (the `expiry` checker's).
    Expiry(String),
}

/// `None` when the stripe is on the disk, is served intact [`EXPIRY_AUDIT_MARGIN_S`] before
/// its storage duration ([`SIM_STORAGE_DURATION`]) runs out, is absent that long after, and
/// that read removed its file. Else what went wrong. The last read removes the stripe: the
/// audit is the last thing a run does.
///
/// The first read is the intactness check too: a stripe that is not on the disk is missing,
/// one that does not decode is corrupt, and one that is on the disk, decodes and is not
/// served is an expiry failure, wherever its expiry went wrong (even before now), so no
/// fault that can destroy a stripe ever excuses it. One existence check and two reads.
async fn audit_stripe(
    stripes: &StripeStore,
    fs: &dyn Fs,
    guid: Guid,
    file_type: u8,
    now_s: u64,
) -> Option<AuditFinding> {
    let path = stripes.stripe_path(guid, file_type);
    match fs.metadata(&path).await {
        Ok(_) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Some(AuditFinding::Damaged("missing".to_string()))
        }
        Err(error) => return Some(AuditFinding::Damaged(format!("unreadable: {error}"))),
    }
    let duration_s = SIM_STORAGE_DURATION
        .duration_s()
        .expect("the simulated clients store stripes for a limited time");
    let before_s = now_s + duration_s - EXPIRY_AUDIT_MARGIN_S;
    let after_s = now_s + duration_s + EXPIRY_AUDIT_MARGIN_S;
    match stripes.get(guid, file_type, before_s).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return Some(AuditFinding::Expiry(format!(
                "gone at now + {}s, before its expiry",
                before_s - now_s
            )))
        }
        Err(raida_server::store::StoreError::CorruptStripe { reason, .. }) => {
            return Some(AuditFinding::Damaged(format!("corrupt: {reason}")))
        }
        Err(error) => return Some(AuditFinding::Damaged(format!("unreadable: {error}"))),
    }
    let expired = match stripes.get(guid, file_type, after_s).await {
        Ok(None) => fs.metadata(&path).await,
        Ok(Some(_)) => {
            return Some(AuditFinding::Expiry(format!(
                "served at now + {}s, after its expiry",
                after_s - now_s
            )))
        }
        Err(error) => {
            return Some(AuditFinding::Expiry(format!(
                "unreadable after its expiry: {error}"
            )))
        }
    };
    match expired {
        Err(error) if error.kind() == io::ErrorKind::NotFound => None,
        Ok(_) => Some(AuditFinding::Expiry(
            "still on disk after a read found it expired".to_string(),
        )),
        Err(error) => Some(AuditFinding::Expiry(format!(
            "cannot stat after its expiry: {error}"
        ))),
    }
}

/// The step hook of a run that records file-system steps: records the step, then runs the
/// simulator's hook (crash plan, yield points).
#[derive(Debug)]
struct RecordingStepHook {
    raida: u8,
    recorder: Recorder,
    inner: Arc<dyn StepHook>,
}

impl StepHook for RecordingStepHook {
    fn reached<'a>(&'a self, step: Step, host_path: &'a Path) -> BoxFuture<'a, ()> {
        self.recorder.record(
            Host::Raida(self.raida),
            EventKind::FsStep {
                raida: self.raida,
                step: step.name().to_string(),
            },
        );
        self.inner.reached(step, host_path)
    }
}

/// The step hook's publish watch: at `TellRenamed`, reserves the tell's `TellAccepted`, then
/// runs the simulator's hook (crash plan, yield points).
#[derive(Debug)]
struct PublishStepHook {
    publishes: Arc<PendingPublishes>,
    recorder: Recorder,
    inner: SimStepHook,
}

impl StepHook for PublishStepHook {
    fn reached<'a>(&'a self, step: Step, host_path: &'a Path) -> BoxFuture<'a, ()> {
        if step == Step::TellRenamed {
            self.publishes.renamed(&self.recorder, host_path);
        }
        self.inner.reached(step, host_path)
    }
}

/// The key of one published tell: (denomination, serial number, GUID).
type PublishKey = (i8, u32, [u8; 16]);

/// Tells renamed into an inbox whose `TellAccepted` the server has not reported yet, each
/// holding the history slot reserved at its rename (FIFO per inbox file). Every rename ends
/// in a report (`TellPublished`: the slot is filled), a failed publish (`RecipientRefused`
/// for the file system: cancelled) or a power loss (every slot of the host cancelled).
#[derive(Debug, Default)]
pub(crate) struct PendingPublishes {
    slots: Mutex<BTreeMap<PublishKey, VecDeque<Reservation>>>,
}

impl PendingPublishes {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<PublishKey, VecDeque<Reservation>>> {
        self.slots.lock().expect("pending publishes lock poisoned")
    }

    /// A tell was renamed to `host_path`: reserve its event's place now.
    fn renamed(&self, recorder: &Recorder, host_path: &Path) {
        let Some(key) = publish_key(host_path) else {
            return;
        };
        let reservation = recorder.reserve();
        self.lock().entry(key).or_default().push_back(reservation);
    }

    /// The slot of the oldest unreported rename of `key`, if any.
    fn take(&self, key: PublishKey) -> Option<Reservation> {
        let mut slots = self.lock();
        let queue = slots.get_mut(&key)?;
        let reservation = queue.pop_front();
        if queue.is_empty() {
            slots.remove(&key);
        }
        reservation
    }

    /// A publish of `key` failed: its slot (if it got one) stays empty.
    fn cancel(&self, recorder: &Recorder, key: PublishKey) {
        if let Some(reservation) = self.take(key) {
            recorder.cancel(reservation);
        }
    }

    /// Every slot of the host stays empty.
    fn cancel_all(&self, recorder: &Recorder) {
        let slots = std::mem::take(&mut *self.lock());
        for reservation in slots.into_values().flatten() {
            recorder.cancel(reservation);
        }
    }
}

/// The (mailbox, GUID) of a tell's path: `…/{denomination as 2 hex digits}/{serial
/// number}/inbox/00000000{GUID}.tell`; `None` for any other path.
fn publish_key(host_path: &Path) -> Option<PublishKey> {
    let name = host_path.file_name()?.to_str()?;
    let guid = raida_server::store::inbox::parse_tell_file_name(name)?;
    let inbox = host_path.parent()?;
    let serial = inbox.parent()?;
    let denomination = serial.parent()?;
    let serial_number: u32 = serial.file_name()?.to_str()?.parse().ok()?;
    let denomination = u8::from_str_radix(denomination.file_name()?.to_str()?, 16).ok()?;
    Some((i8::from_ne_bytes([denomination]), serial_number, guid.0))
}

fn mailbox_key(mailbox: Mailbox, guid: raida_server::store::Guid) -> PublishKey {
    (mailbox.denomination, mailbox.serial_number, guid.0)
}

/// The task serving each open connection → its peer. Only looked up, never iterated, so the
/// map's order cannot reach the trace; its hasher is unkeyed, so it is the same every run.
#[allow(clippy::disallowed_types)]
type PeerMap = HashMap<tokio::task::Id, SocketAddr, BuildHasherDefault<DefaultHasher>>;

/// One boot's open connections: the task serving each → its peer (the client's address).
#[derive(Clone, Debug, Default)]
struct Connections {
    peers: Arc<Mutex<PeerMap>>,
}

impl Connections {
    fn lock(&self) -> MutexGuard<'_, PeerMap> {
        self.peers.lock().expect("connections lock poisoned")
    }

    /// The peer of the connection the current task serves.
    fn current_peer(&self) -> Option<SocketAddr> {
        let task = tokio::task::try_id()?;
        self.lock().get(&task).copied()
    }
}

/// turmoil's listener, handing out streams that name their task's peer ([`Connections`]).
struct SimListener {
    inner: turmoil::net::TcpListener,
    connections: Connections,
}

impl raida_server::front::Listener for SimListener {
    type Stream = PeerStream;

    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send {
        let connections = self.connections.clone();
        let accept = self.inner.accept();
        async move {
            let (inner, peer) = accept.await?;
            let stream = PeerStream {
                inner,
                peer,
                connections,
                task: None,
            };
            Ok((stream, peer))
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// An accepted connection that registers the task reading it (its first read) under its
/// peer, and unregisters on drop.
#[derive(Debug)]
struct PeerStream {
    inner: turmoil::net::TcpStream,
    peer: SocketAddr,
    connections: Connections,
    task: Option<tokio::task::Id>,
}

impl tokio::io::AsyncRead for PeerStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.task.is_none() {
            if let Some(task) = tokio::task::try_id() {
                self.task = Some(task);
                let peer = self.peer;
                self.connections.lock().insert(task, peer);
            }
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for PeerStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Drop for PeerStream {
    fn drop(&mut self) {
        if let Some(task) = self.task {
            self.connections.lock().remove(&task);
        }
    }
}

/// Turns server events into history events.
#[derive(Debug)]
struct SimObserver {
    raida: u8,
    boot: u32,
    recorder: Recorder,
    connections: Connections,
    publishes: Arc<PendingPublishes>,
}

/// The keys of the records a reply carried.
fn tell_refs(tells: &[InboxItem]) -> Vec<TellRef> {
    tells
        .iter()
        .map(|tell| TellRef {
            email_id: EmailId(tell.guid.0),
            edit_sequence: tell.bytes.get(EDIT_SEQUENCE_OFFSET).copied().unwrap_or(0),
        })
        .collect()
}

fn poll_kind(command: Command) -> PollKind {
    match command {
        Command::Peek => PollKind::Peek,
        _ => PollKind::Ping,
    }
}

fn mailbox_id(mailbox: Mailbox) -> MailboxId {
    MailboxId {
        denom: mailbox.denomination,
        sn: mailbox.serial_number,
    }
}

impl SimObserver {
    fn request(&self, request_id: u64) -> u64 {
        assert!(request_id < 1 << REQUEST_ID_BITS, "request ids stay small");
        (u64::from(self.boot) << REQUEST_ID_BITS) | request_id
    }

    fn record(&self, kind: EventKind) {
        self.recorder.record(Host::Raida(self.raida), kind);
    }
}

impl Observer for SimObserver {
    fn observe(&self, event: &ServerEvent<'_>) {
        match *event {
            ServerEvent::TellHandled {
                request_id,
                email_id,
                edit_sequence,
                routing_timestamp_s,
                header_timestamp_s,
                server_clock_unix_s,
                status,
                rule,
                ..
            } => self.record(EventKind::TellHandled {
                beacon: self.raida,
                request: self.request(request_id),
                email_id: EmailId(email_id.0),
                edit_sequence,
                status,
                routing_timestamp_s,
                header_timestamp_s,
                beacon_clock_unix_s: i64::try_from(server_clock_unix_s).unwrap_or(i64::MAX),
                reason: rule.map(|rule| format!("{rule:?}")),
            }),
            ServerEvent::TellPublished {
                request_id,
                mailbox,
                guid,
                edit_sequence,
                stored,
                ..
            } => {
                let kind = EventKind::TellAccepted {
                    beacon: self.raida,
                    request: self.request(request_id),
                    mailbox: mailbox_id(mailbox),
                    email_id: EmailId(guid.0),
                    edit_sequence,
                    record: stored.to_vec().into(),
                };
                match self.publishes.take(mailbox_key(mailbox, guid)) {
                    Some(slot) => self.recorder.complete(slot, Host::Raida(self.raida), kind),
                    None => self.record(kind),
                }
            }
            ServerEvent::TellSkipped {
                request_id,
                mailbox,
                guid,
                incoming_edit_sequence,
                existing_edit_sequence,
                ..
            } => self.record(EventKind::TellSkipped {
                beacon: self.raida,
                request: self.request(request_id),
                mailbox: mailbox_id(mailbox),
                email_id: EmailId(guid.0),
                edit_sequence: incoming_edit_sequence,
                existing_edit_sequence,
            }),
            ServerEvent::TellsDeleted {
                request_id,
                mailbox,
                tells,
                fates,
                ..
            } => {
                for (tell, fate) in tells.iter().zip(fates) {
                    if *fate != DeleteFate::Removed {
                        continue;
                    }
                    self.record(EventKind::TellDeleted {
                        beacon: self.raida,
                        request: self.request(request_id),
                        mailbox: mailbox_id(mailbox),
                        email_id: EmailId(tell.guid.0),
                        edit_sequence: tell.bytes.get(EDIT_SEQUENCE_OFFSET).copied().unwrap_or(0),
                    });
                }
            }
            ServerEvent::StripeStored {
                guid, file_type, ..
            } => self.recorder.note_stripe_stored(StoredStripe {
                raida: self.raida,
                email_id: EmailId(guid.0),
                file_type,
            }),
            ServerEvent::RequestHandled {
                request_id,
                command,
                outcome,
                execution_time_us,
                ..
            } => self.record(self.request_handled(request_id, command, outcome, execution_time_us)),
            ServerEvent::TellsRead {
                request_id,
                command,
                mailbox,
                tells,
                ..
            } => self.record(EventKind::TellsRead {
                beacon: self.raida,
                request: self.request(request_id),
                mailbox: mailbox_id(mailbox),
                via: poll_kind(command),
                tells: tell_refs(tells),
            }),
            ServerEvent::PingParked {
                request_id,
                mailbox,
                ..
            } => self.record(EventKind::PingParked {
                beacon: self.raida,
                request: self.request(request_id),
                mailbox: mailbox_id(mailbox),
            }),
            ServerEvent::PingResumed {
                request_id,
                mailbox,
                status,
                ..
            } => self.record(EventKind::PingResumed {
                beacon: self.raida,
                request: self.request(request_id),
                mailbox: mailbox_id(mailbox),
                status,
            }),
            ServerEvent::PingTimedOut {
                request_id,
                mailbox,
                status,
                ..
            } => self.record(EventKind::PingTimedOut {
                beacon: self.raida,
                request: self.request(request_id),
                mailbox: mailbox_id(mailbox),
                status,
            }),
            ServerEvent::RecipientRefused {
                mailbox,
                guid,
                refusal: RecipientRefusal::Filesystem { .. },
                ..
            } => self
                .publishes
                .cancel(&self.recorder, mailbox_key(mailbox, guid)),
            ServerEvent::RecipientRefused { .. } => {}
        }
    }
}

impl SimObserver {
    /// The `ServerRequest` of one `RequestHandled`, naming the client attempt by the peer of
    /// the connection this task serves.
    fn request_handled(
        &self,
        request_id: u64,
        command: Option<Command>,
        outcome: RequestOutcome,
        execution_time_us: u32,
    ) -> EventKind {
        let client_request = self
            .connections
            .current_peer()
            .and_then(|peer| self.recorder.request_of_connection(peer));
        let (outcome, status) = match outcome {
            RequestOutcome::Replied { status } => (ServerOutcome::Replied, Some(status)),
            RequestOutcome::Parked => (ServerOutcome::Parked, None),
            RequestOutcome::Closed => (ServerOutcome::Closed, None),
        };
        EventKind::ServerRequest {
            raida: self.raida,
            request: self.request(request_id),
            client_request,
            command: command.map(WireCommand::from_wire),
            outcome,
            status,
            execution_us: execution_time_us,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The audit passes a stripe stored for [`SIM_STORAGE_DURATION`]; reports as expiry
    /// failures one that outlives it (what a server whose stripes never expire stores) and
    /// ones gone before it (a server that counts a shorter duration, or one already past);
    /// reports as damaged one never stored and one whose bytes changed on the disk.
    #[tokio::test]
    async fn the_audit_tells_damaged_stripes_from_wrong_expiries() {
        use raida_server::clock::ManualClock;
        use raida_server::fs::{NoopHook, RealFs};
        use raida_server::store::StoreIo;

        let dir = tempfile::tempdir().expect("tempdir");
        let io = StoreIo::new(
            Arc::new(RealFs),
            Arc::new(NoopHook),
            Arc::new(ManualClock::new(1)),
            7,
        );
        let stripes = StripeStore::new(Arc::new(io), dir.path().join("stripes"), false);
        stripes.init().await.expect("init");
        let now_s = 1_000_000;
        let duration_s = SIM_STORAGE_DURATION.duration_s().expect("limited");
        let expiry = |words: &'static str| Some((false, words));
        let damage = |words: &'static str| Some((true, words));
        // (stored with this expiry, or not stored; flip a stored byte; expected finding)
        let cases = [
            (Some(Some(now_s + duration_s)), false, None),
            (Some(None), false, expiry("after its expiry")),
            (
                Some(Some(now_s + 86_400)),
                false,
                expiry("before its expiry"),
            ),
            (Some(Some(now_s - 1)), false, expiry("before its expiry")),
            (None, false, damage("missing")),
            (Some(Some(now_s + duration_s)), true, damage("corrupt")),
        ];
        for (index, (stored, flip, expected)) in cases.into_iter().enumerate() {
            let guid = Guid([u8::try_from(index).expect("six cases"); 16]);
            if let Some(expires_at_unix_s) = stored {
                stripes
                    .put(guid, 1, b"stripe", expires_at_unix_s)
                    .await
                    .expect("put");
            }
            if flip {
                let path = stripes.stripe_path(guid, 1);
                let mut bytes = std::fs::read(&path).expect("stored");
                *bytes.last_mut().expect("not empty") ^= 0x01;
                std::fs::write(&path, bytes).expect("rewrite");
            }
            let found = audit_stripe(&stripes, &RealFs, guid, 1, now_s).await;
            let found_kind = found.as_ref().map(|finding| match finding {
                AuditFinding::Damaged(words) => (true, words.as_str()),
                AuditFinding::Expiry(words) => (false, words.as_str()),
            });
            match (expected, found_kind) {
                (None, found) => assert_eq!(found, None, "case {index}"),
                (Some((damaged, words)), Some((found_damaged, found_words))) => {
                    assert_eq!(damaged, found_damaged, "case {index}: {found:?}");
                    assert!(found_words.contains(words), "case {index}: {found:?}");
                }
                (Some(_), None) => panic!("case {index}: nothing found"),
            }
        }
        let kept = stripes.stripe_path(Guid([0; 16]), 1);
        assert!(!kept.exists(), "the expired read removed the file");
    }

    #[test]
    fn publish_keys_come_from_tell_paths() {
        let path = Path::new(
            "/raida/mailboxes/fd/1005/inbox/000000003920607fc06f9f9d894a5b8101c65b14.tell",
        );
        let (denomination, serial_number, guid) = publish_key(path).expect("a tell path");
        assert_eq!((denomination, serial_number), (-3, 1005));
        assert_eq!(guid[..2], [0x39, 0x20]);
        assert_eq!(
            publish_key(Path::new(
                "/raida/mailboxes/01/1001/inbox/.tmp.1.2.3.x.tell"
            )),
            None
        );
        assert_eq!(publish_key(Path::new("/raida/stripes/x.01.stripe")), None);
    }
}
