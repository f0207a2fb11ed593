//! The `raida` binary's code: command line, settings and provisioning loading, and the real
//! runtime around [`crate::front`].
//!
//! ```text
//! raida serve --id N --listen ADDR --data DIR --provision FILE [--config FILE] [flags]
//! raida cluster --count 25 --base-port P --data DIR --provision FILE [--config FILE] [flags]
//! raida gen-provision --mailboxes K [--lockers L] --out FILE [--seed S]
//! ```
//!
//! `serve` runs one RAIDA; `cluster` runs `count` RAIDAs (ids 0…count−1) on
//! `HOST:P…P+count−1`, each with its own data directory `DIR/raida{N}`, all in this one process
//! on one multi-thread runtime. Both print one line `raida N listening on ADDR` per RAIDA on
//! stdout (with `--listen 127.0.0.1:0` that line tells the port), `cluster` then `cluster
//! ready`; both run until SIGINT or SIGTERM. `gen-provision` writes a provisioning file for a
//! 25-RAIDA cluster with random per-RAIDA ANs from a seeded `ChaCha8Rng`.
//!
//! Settings come from [`Settings::default`], then the `--config` TOML file, then the setting
//! flags (`--delete-on-read after_reply`, `--ping-timeout-s 5`, `--inbox-dir-fsync`, …; every
//! config key has a flag of the same name in kebab case, generated from the knob list by
//! [`SettingsOverrides`]), so a flag overrides the file. `--extension NAME` (repeatable) turns
//! on a server extension of [`crate::extension::NAMES`]; the set's byte claims are checked
//! before anything listens.
//!
//! Exit status: 0 after a signal, 2 for a command line that makes no sense (a bad flag value
//! names the flag and its rule, an unknown extension lists the known ones), 1 for everything
//! else ([`DaemonError::exit_code`]).
//!
//! Start-up, per RAIDA, before anything listens: the data directory is created if missing
//! (a path that is a file is refused by name); every directory the server writes (the data
//! directory, the mailbox and stripe roots, `state/`, `state/extensions/`) must take a probe
//! file (created and removed), else the daemon exits 1 naming it; the ledger and extension
//! state are loaded ([`Env::prepare`]); the `.tmp.*` files an earlier run left behind are
//! removed, one INFO line per directory ([`Env::sweep_temp_files`]). The front refuses a
//! peer address beyond `--max-connections-per-peer` open connections (default
//! [`PEER_CONNECTIONS_DEFAULT`]). Logs go to stderr, coloured only when it is a terminal.
//!
//! This module is the only place the crate reaches the machine: [`Env::real`] (machine clock,
//! real disk), the OS-seeded RNG seed ([`os_seed`]), the signal handlers and the inotify
//! watcher. Every failure is a [`DaemonError`] naming the file, line, key or address; nothing
//! here panics on bad input.

use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand};
use qmail_wire::extension::ClaimError;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::coins::{locker_code_from_ascii, An, Denomination, SerialNumber};
use crate::env::{Env, EnvError};
use crate::extension::{self, Extensions};
use crate::front::{Front, PEER_CONNECTIONS_DEFAULT};
use crate::limits;
use crate::observer::TracingObserver;
use crate::provision::{CoinAns, Provision, ProvisionError, ProvisionedCoin, ProvisionedLocker};
use crate::settings::{OverrideError, Settings, SettingsError, SettingsOverrides};
use crate::store::StoreError;

/// Most mailboxes `gen-provision` writes (keeps the file under the provisioning size limit).
pub const GEN_MAILBOXES_MAX: u32 = 40_000;

/// Most lockers `gen-provision` writes.
pub const GEN_LOCKERS_MAX: u32 = 100_000;

/// Upper bound of one generated coin's TOML text (25 ANs of 34 characters, keys, brackets).
const GEN_COIN_TEXT_SIZE_BYTES_MAX: usize = 1_200;

/// Upper bound of one generated locker's TOML text.
const GEN_LOCKER_TEXT_SIZE_BYTES_MAX: usize = 80;

const _: () = assert!(
    GEN_MAILBOXES_MAX as usize * GEN_COIN_TEXT_SIZE_BYTES_MAX
        + GEN_LOCKERS_MAX as usize * GEN_LOCKER_TEXT_SIZE_BYTES_MAX
        <= limits::PROVISION_FILE_SIZE_BYTES_MAX
);
const _: () = assert!(limits::RAIDA_COUNT <= u16::MAX as usize);

/// The `raida` command line.
#[derive(Debug, Parser)]
#[command(
    name = "raida",
    version,
    about = "A RAIDA QMail server (group 6: commands 70-74)"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one RAIDA.
    Serve(ServeArgs),
    /// Run a whole cluster of RAIDAs on consecutive ports in one process.
    Cluster(ClusterArgs),
    /// Write a provisioning file for a 25-RAIDA cluster.
    GenProvision(GenProvisionArgs),
}

/// The TCP front's own flags (not settings: the simulator's front has no per-peer limit).
#[derive(Clone, Copy, Debug, Args)]
pub struct FrontArgs {
    /// Most connections one peer address may hold open; more from it are refused while
    /// other peers are served.
    #[arg(long, default_value_t = PEER_CONNECTIONS_DEFAULT, value_parser = parse_peer_limit)]
    pub max_connections_per_peer: usize,
}

fn parse_peer_limit(text: &str) -> Result<usize, String> {
    let limit: usize = text
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number"))?;
    if limit == 0 || limit > limits::CONNECTIONS_MAX {
        return Err(format!(
            "{limit} is out of range 1..={}",
            limits::CONNECTIONS_MAX
        ));
    }
    Ok(limit)
}

/// `raida serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// This RAIDA's index, 0-24.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=limits::RAIDA_COUNT as i64 - 1))]
    pub id: u8,
    /// Address to listen on, e.g. 127.0.0.1:18000 (port 0: any free port, printed).
    #[arg(long)]
    pub listen: SocketAddr,
    /// Data directory (mailboxes and stripes live below it; created if missing).
    #[arg(long)]
    pub data: PathBuf,
    /// Provisioning file (coins, lockers, inbox fees).
    #[arg(long)]
    pub provision: PathBuf,
    /// Settings file (TOML, keys as in DECISIONS.md).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Seed of the server RNG (default: from the OS).
    #[arg(long)]
    pub rng_seed: Option<u64>,
    /// A server extension to turn on (repeatable).
    #[arg(long = "extension", value_name = "NAME", value_parser = PossibleValuesParser::new(extension::NAMES))]
    pub extensions: Vec<String>,
    /// Setting overrides.
    #[command(flatten)]
    pub settings: SettingsOverrides,
    /// The front's flags.
    #[command(flatten)]
    pub front: FrontArgs,
}

/// `raida cluster`.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// Number of RAIDAs (ids 0..count).
    #[arg(long, default_value_t = limits::RAIDA_COUNT as u8)]
    pub count: u8,
    /// Port of RAIDA 0; RAIDA N listens on base-port + N.
    #[arg(long)]
    pub base_port: u16,
    /// Address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub host: IpAddr,
    /// Data directory; RAIDA N uses DIR/raidaN.
    #[arg(long)]
    pub data: PathBuf,
    /// Provisioning file (one file for the whole cluster).
    #[arg(long)]
    pub provision: PathBuf,
    /// Settings file (TOML), the same for every RAIDA.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Seed of RAIDA 0's RNG; RAIDA N uses seed + N (default: from the OS).
    #[arg(long)]
    pub rng_seed: Option<u64>,
    /// A server extension to turn on in every RAIDA (repeatable).
    #[arg(long = "extension", value_name = "NAME", value_parser = PossibleValuesParser::new(extension::NAMES))]
    pub extensions: Vec<String>,
    /// Setting overrides, the same for every RAIDA.
    #[command(flatten)]
    pub settings: SettingsOverrides,
    /// The front's flags, the same for every RAIDA.
    #[command(flatten)]
    pub front: FrontArgs,
}

/// `raida gen-provision`.
#[derive(Debug, Args)]
pub struct GenProvisionArgs {
    /// Number of mailbox coins (serial numbers first-serial-number..+K).
    #[arg(long)]
    pub mailboxes: u32,
    /// Number of lockers (codes LOCKER000000, LOCKER000001, ...) [default: two per
    /// mailbox, an upload and a fee locker each].
    #[arg(long)]
    pub lockers: Option<u32>,
    /// File to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Seed of the AN generator: same seed, same file.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Denomination of every mailbox coin (-8..6).
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub denomination: i8,
    /// Serial number of the first mailbox coin.
    #[arg(long, default_value_t = 1000)]
    pub first_serial_number: u32,
    /// Starting balance of every locker.
    #[arg(long, default_value_t = 1_000_000)]
    pub locker_balance: u64,
}

/// Everything that stops the daemon, each naming what it was about.
#[derive(Debug)]
pub enum DaemonError {
    /// A file could not be read or written.
    File {
        /// What the file is (config, provisioning, output).
        role: &'static str,
        /// Its path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The settings are invalid (the config file's line and key, or a setting's key).
    Settings(SettingsError),
    /// A setting flag's value is refused (the flag and its rule).
    Overrides(OverrideError),
    /// The extensions asked for cannot run together, or one is unknown.
    Extensions(String),
    /// The provisioning file is invalid (file, line and key).
    Provision(ProvisionError),
    /// The environment could not be built.
    Env {
        /// The RAIDA.
        raida_id: u8,
        /// Why.
        source: EnvError,
    },
    /// The storage roots could not be prepared.
    Store {
        /// The RAIDA.
        raida_id: u8,
        /// Why.
        source: StoreError,
    },
    /// The data directory could not be created or resolved.
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The data directory path names a file.
    DataDirIsFile {
        /// The path.
        path: PathBuf,
    },
    /// A directory the server writes does not take a probe file.
    NotWritable {
        /// The RAIDA.
        raida_id: u8,
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A listening address could not be bound (port in use, no permission, …).
    Bind {
        /// The RAIDA.
        raida_id: u8,
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// A RAIDA's accept loop failed for good.
    Serve {
        /// The RAIDA.
        raida_id: u8,
        /// The last accept error.
        source: io::Error,
    },
    /// The runtime, signal handlers or stdout failed.
    Runtime(io::Error),
    /// The arguments do not make sense together.
    Usage(String),
}

impl fmt::Display for DaemonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DaemonError::File { role, path, source } => {
                write!(f, "{role} file {}: {source}", path.display())
            }
            DaemonError::Settings(error) => write!(f, "settings: {error}"),
            DaemonError::Overrides(error) => write!(f, "{error}"),
            DaemonError::Extensions(message) => write!(f, "extensions: {message}"),
            DaemonError::Provision(error) => write!(f, "provisioning: {error}"),
            DaemonError::Env { raida_id, source } => write!(f, "raida {raida_id}: {source}"),
            DaemonError::Store { raida_id, source } => {
                write!(f, "raida {raida_id}: preparing storage: {source}")
            }
            DaemonError::DataDir { path, source } => {
                write!(f, "data directory {}: {source}", path.display())
            }
            DaemonError::DataDirIsFile { path } => {
                write!(f, "data directory {} is a file", path.display())
            }
            DaemonError::NotWritable {
                raida_id,
                path,
                source,
            } => write!(
                f,
                "raida {raida_id}: directory {} is not writable: {source}",
                path.display()
            ),
            DaemonError::Bind {
                raida_id,
                addr,
                source,
            } => write!(f, "raida {raida_id}: cannot listen on {addr}: {source}"),
            DaemonError::Serve { raida_id, source } => {
                write!(
                    f,
                    "raida {raida_id}: accepting connections failed: {source}"
                )
            }
            DaemonError::Runtime(error) => write!(f, "runtime: {error}"),
            DaemonError::Usage(message) => write!(f, "{message}"),
        }
    }
}

impl std::error::Error for DaemonError {}

impl DaemonError {
    /// The process exit status: 2 for a command line that makes no sense, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            DaemonError::Usage(_) | DaemonError::Overrides(_) | DaemonError::Extensions(_) => 2,
            _ => 1,
        }
    }
}

/// Installs the log subscriber: `RUST_LOG` filters (default `info`), logs go to stderr so
/// stdout carries only the listening lines.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second init (tests) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .try_init();
}

/// Runs the command line on a new multi-thread runtime.
pub fn run(cli: Cli) -> Result<(), DaemonError> {
    match cli.command {
        Command::GenProvision(args) => gen_provision(&args),
        Command::Serve(args) => runtime()?.block_on(serve(args)),
        Command::Cluster(args) => runtime()?.block_on(cluster(args)),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, DaemonError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(DaemonError::Runtime)
}

/// A seed from the OS: std's hasher keys are drawn from the OS RNG once per process.
/// REAL DAEMON ONLY.
pub fn os_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(u64::from(std::process::id()));
    hasher.finish()
}

fn read_file(role: &'static str, path: &Path) -> Result<String, DaemonError> {
    std::fs::read_to_string(path).map_err(|source| DaemonError::File {
        role,
        path: path.to_path_buf(),
        source,
    })
}

/// Defaults, then the config file, then the flags; validated.
pub fn load_settings(
    config: Option<&Path>,
    flags: &SettingsOverrides,
) -> Result<Settings, DaemonError> {
    let mut settings = match config {
        Some(path) => {
            let text = read_file("config", path)?;
            Settings::from_toml(&text, &path.display().to_string())
                .map_err(DaemonError::Settings)?
        }
        None => Settings::default(),
    };
    flags.apply(&mut settings).map_err(DaemonError::Overrides)?;
    settings.validate().map_err(DaemonError::Settings)?;
    Ok(settings)
}

/// The extensions named, each a fresh instance, after the start-up check of their claims.
pub fn load_extensions(names: &[String]) -> Result<Extensions, DaemonError> {
    let mut list = Vec::with_capacity(names.len());
    for name in names {
        let extension = extension::by_name(name).ok_or_else(|| {
            DaemonError::Extensions(format!(
                "unknown extension `{name}`; known: {}",
                extension::names().join(", ")
            ))
        })?;
        list.push(extension);
    }
    Extensions::new(list).map_err(|error: ClaimError| DaemonError::Extensions(error.to_string()))
}

/// Reads and checks a provisioning file.
pub fn load_provision(path: &Path) -> Result<Provision, DaemonError> {
    let text = read_file("provisioning", path)?;
    Provision::parse(&text, &path.display().to_string()).map_err(DaemonError::Provision)
}

/// Creates (if needed) and resolves a data directory to an absolute path. A path that is a
/// file, or lies below one (`cluster --data FILE`), is refused naming the file.
fn data_dir(path: &Path) -> Result<PathBuf, DaemonError> {
    let existing = path.ancestors().find(|ancestor| ancestor.exists());
    if let Some(file) = existing.filter(|ancestor| ancestor.is_file()) {
        return Err(DaemonError::DataDirIsFile {
            path: file.to_path_buf(),
        });
    }
    let fail = |source| DaemonError::DataDir {
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(path).map_err(fail)?;
    std::fs::canonicalize(path).map_err(fail)
}

/// Name of the probe file [`check_writable`] creates and removes.
pub const WRITE_PROBE_FILE_NAME: &str = ".raida-write-probe";

/// Checks that every directory of `dirs` takes a new file: creates and removes
/// [`WRITE_PROBE_FILE_NAME`] in each. REAL DAEMON ONLY (the real disk, at start).
pub fn check_writable(raida_id: u8, dirs: &[PathBuf]) -> Result<(), DaemonError> {
    for dir in dirs {
        let probe = dir.join(WRITE_PROBE_FILE_NAME);
        let fail = |source| DaemonError::NotWritable {
            raida_id,
            path: dir.clone(),
            source,
        };
        // A probe left by a run killed right here is not an error.
        match std::fs::remove_file(&probe) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(fail(error)),
        }
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)
            .and_then(|mut file| file.write_all(b"probe"))
            .map_err(fail)?;
        std::fs::remove_file(&probe).map_err(fail)?;
    }
    Ok(())
}

/// The environment of RAIDA `raida_id`: machine clock, real disk, tracing observer, storage
/// roots prepared, no extension.
pub async fn real_env(
    raida_id: u8,
    data: &Path,
    settings: Settings,
    provision: &Provision,
    rng_seed: u64,
) -> Result<Arc<Env>, DaemonError> {
    real_env_with(
        raida_id,
        data,
        settings,
        provision,
        rng_seed,
        Extensions::none(),
    )
    .await
}

/// [`real_env`] with `extensions` active.
pub async fn real_env_with(
    raida_id: u8,
    data: &Path,
    settings: Settings,
    provision: &Provision,
    rng_seed: u64,
    extensions: Extensions,
) -> Result<Arc<Env>, DaemonError> {
    let root = data_dir(data)?;
    check_writable(raida_id, std::slice::from_ref(&root))?;
    let tables = provision
        .for_raida(raida_id)
        .map_err(DaemonError::Provision)?;
    let env = Env::real(root.clone(), raida_id, settings, tables, rng_seed)
        .map_err(|source| DaemonError::Env { raida_id, source })?
        .with_observer(Arc::new(TracingObserver))
        .with_extensions(extensions);
    let store_error = |source| DaemonError::Store { raida_id, source };
    env.prepare().await.map_err(store_error)?;
    check_writable(
        raida_id,
        &[
            env.inbox().mailbox_root().to_path_buf(),
            env.stripes().dir().to_path_buf(),
            env.state().dir().to_path_buf(),
            env.state().extensions_dir(),
        ],
    )?;
    env.sweep_temp_files().await.map_err(store_error)?;
    Ok(Arc::new(env))
}

/// A front over `env` with the inotify watcher armed for parked pings (Linux) and the
/// default per-peer connection limit; without inotify (other systems, or no instance left)
/// only this server's tells wake pings.
pub fn real_front(env: Arc<Env>) -> Front {
    real_front_with(env, PEER_CONNECTIONS_DEFAULT)
}

/// [`real_front`] refusing a peer beyond `max_connections_per_peer` open connections.
pub fn real_front_with(env: Arc<Env>, max_connections_per_peer: usize) -> Front {
    let front = Front::new(env.clone()).with_peer_connection_limit(max_connections_per_peer);
    #[cfg(target_os = "linux")]
    {
        match crate::inotify::InotifyWatcher::start(env.clone()) {
            Ok(watcher) => return front.with_inbox_armer(Arc::new(watcher)),
            Err(error) => tracing::warn!(
                raida = env.raida_id(),
                %error,
                "inotify unavailable: only this server's tells wake parked pings"
            ),
        }
    }
    front
}

async fn bind(raida_id: u8, addr: SocketAddr) -> Result<TcpListener, DaemonError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| DaemonError::Bind {
            raida_id,
            addr,
            source,
        })
}

fn announce(lines: &[String]) -> Result<(), DaemonError> {
    let mut stdout = io::stdout().lock();
    for line in lines {
        writeln!(stdout, "{line}").map_err(DaemonError::Runtime)?;
    }
    stdout.flush().map_err(DaemonError::Runtime)
}

/// Waits for SIGINT or SIGTERM.
async fn shutdown_signal() -> Result<(), DaemonError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut terminate = signal(SignalKind::terminate()).map_err(DaemonError::Runtime)?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.map_err(DaemonError::Runtime),
            _ = terminate.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map_err(DaemonError::Runtime)
    }
}

/// `raida serve`.
pub async fn serve(args: ServeArgs) -> Result<(), DaemonError> {
    let settings = load_settings(args.config.as_deref(), &args.settings)?;
    let extensions = load_extensions(&args.extensions)?;
    let provision = load_provision(&args.provision)?;
    let seed = args.rng_seed.unwrap_or_else(os_seed);
    let env = real_env_with(args.id, &args.data, settings, &provision, seed, extensions).await?;
    let listener = bind(args.id, args.listen).await?;
    let local_addr = listener.local_addr().map_err(|source| DaemonError::Bind {
        raida_id: args.id,
        addr: args.listen,
        source,
    })?;
    let front = real_front_with(env, args.front.max_connections_per_peer);
    announce(&[format!("raida {} listening on {local_addr}", args.id)])?;
    let raida_id = args.id;
    tokio::select! {
        result = front.serve(listener) => {
            result.map_err(|source| DaemonError::Serve { raida_id, source })
        }
        result = shutdown_signal() => {
            tracing::info!(raida = raida_id, "shutting down");
            result
        }
    }
}

/// `raida cluster`.
pub async fn cluster(args: ClusterArgs) -> Result<(), DaemonError> {
    let count = usize::from(args.count);
    if count == 0 || count > limits::RAIDA_COUNT {
        return Err(DaemonError::Usage(format!(
            "--count {count} is outside 1..={}",
            limits::RAIDA_COUNT
        )));
    }
    let last_port = u32::from(args.base_port) + u32::from(args.count) - 1;
    if args.base_port == 0 || last_port > u32::from(u16::MAX) {
        return Err(DaemonError::Usage(format!(
            "--base-port {} cannot hold {count} consecutive ports",
            args.base_port
        )));
    }
    let settings = load_settings(args.config.as_deref(), &args.settings)?;
    load_extensions(&args.extensions)?;
    let provision = load_provision(&args.provision)?;
    let seed = args.rng_seed.unwrap_or_else(os_seed);
    let mut servers = Vec::with_capacity(count);
    let mut lines = Vec::with_capacity(count + 1);
    for raida_id in 0..args.count {
        let data = args.data.join(format!("raida{raida_id}"));
        let env = real_env_with(
            raida_id,
            &data,
            settings.clone(),
            &provision,
            seed.wrapping_add(u64::from(raida_id)),
            load_extensions(&args.extensions)?,
        )
        .await?;
        let addr = SocketAddr::new(args.host, args.base_port + u16::from(raida_id));
        let listener = bind(raida_id, addr).await?;
        lines.push(format!("raida {raida_id} listening on {addr}"));
        let front = real_front_with(env, args.front.max_connections_per_peer);
        servers.push((raida_id, front, listener));
    }
    lines.push("cluster ready".to_string());
    announce(&lines)?;
    let mut tasks = JoinSet::new();
    for (raida_id, front, listener) in servers {
        tasks.spawn(async move { (raida_id, front.serve(listener).await) });
    }
    tokio::select! {
        Some(joined) = tasks.join_next() => match joined {
            Ok((raida_id, Err(source))) => Err(DaemonError::Serve { raida_id, source }),
            Ok((raida_id, Ok(()))) => Err(DaemonError::Serve {
                raida_id,
                source: io::Error::other("accept loop ended"),
            }),
            Err(error) => Err(DaemonError::Runtime(io::Error::other(error.to_string()))),
        },
        result = shutdown_signal() => {
            tracing::info!("cluster shutting down");
            result
        }
    }
}

/// The provisioning `gen-provision` writes: `mailboxes` coins of `denomination` with serial
/// numbers from `first_serial_number`, 25 random ANs each from `ChaCha8Rng(seed)`, and
/// `lockers` lockers `LOCKER000000`… holding `locker_balance`.
pub fn generate_provision(args: &GenProvisionArgs) -> Result<Provision, DaemonError> {
    let locker_count = gen_locker_count(args);
    if args.mailboxes > GEN_MAILBOXES_MAX || locker_count > GEN_LOCKERS_MAX {
        return Err(DaemonError::Usage(format!(
            "at most {GEN_MAILBOXES_MAX} mailboxes and {GEN_LOCKERS_MAX} lockers"
        )));
    }
    if !crate::coins::denomination_is_valid(args.denomination) {
        return Err(DaemonError::Usage(format!(
            "--denomination {} is outside {}..={}",
            args.denomination,
            limits::DENOMINATION_MIN,
            limits::DENOMINATION_MAX
        )));
    }
    if args
        .first_serial_number
        .checked_add(args.mailboxes)
        .is_none()
    {
        return Err(DaemonError::Usage(
            "--first-serial-number + --mailboxes overflows a serial number".to_string(),
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let coins = (0..args.mailboxes)
        .map(|index| {
            generated_coin(
                &mut rng,
                args.denomination,
                args.first_serial_number + index,
            )
        })
        .collect();
    let lockers = (0..locker_count)
        .map(|index| {
            let code = locker_code_from_ascii(&format!("LOCKER{index:06}"))
                .expect("a 12-character ASCII code fits a locker");
            ProvisionedLocker {
                code,
                balance: args.locker_balance,
            }
        })
        .collect();
    Ok(Provision {
        coins,
        lockers,
        inbox_fees: Vec::new(),
    })
}

/// `--lockers`, by default two per mailbox (an upload and a fee locker each).
pub fn gen_locker_count(args: &GenProvisionArgs) -> u32 {
    args.lockers
        .unwrap_or_else(|| args.mailboxes.saturating_mul(2))
}

fn generated_coin(
    rng: &mut ChaCha8Rng,
    denomination: Denomination,
    serial_number: SerialNumber,
) -> ProvisionedCoin {
    let mut ans: Box<[An; limits::RAIDA_COUNT]> =
        Box::new([[0; limits::AN_SIZE_BYTES]; limits::RAIDA_COUNT]);
    for an in ans.iter_mut() {
        rng.fill_bytes(an);
    }
    ProvisionedCoin {
        denomination,
        serial_number,
        ans: CoinAns::PerRaida(ans),
    }
}

/// `raida gen-provision`: generates, checks that the text parses back, writes.
pub fn gen_provision(args: &GenProvisionArgs) -> Result<(), DaemonError> {
    let provision = generate_provision(args)?;
    let text = provision.to_toml();
    let source_name = args.out.display().to_string();
    let back = Provision::parse(&text, &source_name).map_err(DaemonError::Provision)?;
    assert_eq!(
        back, provision,
        "a generated provision reads back as written"
    );
    std::fs::write(&args.out, text).map_err(|source| DaemonError::File {
        role: "output",
        path: args.out.clone(),
        source,
    })?;
    announce(&[format!(
        "wrote {source_name}: {} mailboxes, {} lockers (seed {})",
        args.mailboxes,
        gen_locker_count(args),
        args.seed
    )])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{DeleteOnRead, RateLimit, ResponseCounterSetting};

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("raida").chain(args.iter().copied()))
    }

    #[test]
    fn serve_flags_override_the_config_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("s.toml");
        std::fs::write(
            &config,
            "ping_timeout_s = 60\ndelete_on_read = \"after_reply\"\ninbox_dir_fsync = true\n\
             [rate_limit]\nrequests_max = 5\nwindow_s = 2\n",
        )
        .expect("write");
        let cli = parse(&[
            "serve",
            "--id",
            "3",
            "--listen",
            "127.0.0.1:0",
            "--data",
            "/tmp/x",
            "--provision",
            "/tmp/p.toml",
            "--ping-timeout-s",
            "5",
            "--inbox-dir-fsync=false",
            "--response-counter",
            "continue",
            "--rate-limit-window-s",
            "9",
        ])
        .expect("parses");
        let Command::Serve(args) = cli.command else {
            panic!("serve expected");
        };
        assert_eq!(args.id, 3);
        let settings = load_settings(Some(&config), &args.settings).expect("valid");
        assert_eq!(settings.ping_timeout_s, 5, "flag wins");
        assert_eq!(
            settings.delete_on_read,
            DeleteOnRead::AfterReply,
            "file kept"
        );
        assert!(!settings.inbox_dir_fsync, "explicit false wins");
        assert_eq!(settings.response_counter, ResponseCounterSetting::Continue);
        assert_eq!(
            settings.rate_limit,
            Some(RateLimit {
                requests_max: 5,
                window_s: 9
            })
        );
    }

    #[test]
    fn bare_bool_flag_means_true_and_bad_values_are_named() {
        let cli = parse(&[
            "cluster",
            "--base-port",
            "18000",
            "--data",
            "/tmp/d",
            "--provision",
            "/tmp/p",
            "--inbox-dir-fsync",
        ])
        .expect("parses");
        let Command::Cluster(args) = cli.command else {
            panic!("cluster expected");
        };
        assert_eq!(args.count, 25);
        let settings = load_settings(None, &args.settings).expect("valid");
        assert!(settings.inbox_dir_fsync);
        let bad = parse(&[
            "serve",
            "--id",
            "1",
            "--listen",
            "127.0.0.1:0",
            "--data",
            "/d",
            "--provision",
            "/p",
            "--delete-on-read",
            "sometimes",
        ]);
        let error = bad.expect_err("bad value");
        assert_eq!(error.exit_code(), 2);
        let message = error.to_string();
        assert!(
            message.contains(
                "--delete-on-read: \"sometimes\" is not one of \"before_reply\", \"after_reply\""
            ),
            "{message}"
        );
    }

    #[test]
    fn invalid_settings_name_their_flag_or_key() {
        let flags = SettingsOverrides::new().with("max_tells_per_reply", "300");
        let error = load_settings(None, &flags).expect_err("invalid");
        assert_eq!(
            error.to_string(),
            "--max-tells-per-reply: 300 is out of range 1..=255"
        );
        assert_eq!(error.exit_code(), 2);
        let half = SettingsOverrides::new().with("rate_limit.requests_max", "3");
        let error = load_settings(None, &half).expect_err("half a rate limit");
        assert!(matches!(error, DaemonError::Overrides(_)), "{error}");
        let same_roots = SettingsOverrides::new().with("stripe_root", "mailboxes");
        let error = load_settings(None, &same_roots).expect_err("same roots");
        assert_eq!(
            error.to_string(),
            "settings: setting `stripe_root`: must differ from mailbox_root"
        );
    }

    #[test]
    fn extensions_are_named_once_and_checked_at_start() {
        let cli = parse(&[
            "serve",
            "--id",
            "1",
            "--listen",
            "127.0.0.1:0",
            "--data",
            "/d",
            "--provision",
            "/p",
            "--extension",
            "replay_guard",
            "--extension",
            "delivery_ack",
        ])
        .expect("parses");
        let Command::Serve(args) = cli.command else {
            panic!("serve expected");
        };
        let extensions = load_extensions(&args.extensions).expect("coexist");
        assert_eq!(extensions.names(), vec!["replay_guard", "delivery_ack"]);
        let unknown = parse(&[
            "cluster",
            "--base-port",
            "18000",
            "--data",
            "/d",
            "--provision",
            "/p",
            "--extension",
            "teleport",
        ])
        .expect_err("unknown extension");
        assert_eq!(unknown.exit_code(), 2);
        let message = unknown.to_string();
        assert!(
            message.contains("teleport")
                && message.contains("replay_guard, delivery_ack, attachment_count"),
            "{message}"
        );
        let twice = load_extensions(&["attachment_count".into(), "attachment_count".into()])
            .expect_err("byte 59 claimed twice");
        assert_eq!(twice.exit_code(), 2);
        assert!(twice.to_string().contains("attachment_count"), "{twice}");
        let error = load_extensions(&["teleport".into()]).expect_err("unknown");
        assert!(error.to_string().contains("known: replay_guard"), "{error}");
    }

    #[test]
    fn config_file_errors_name_file_line_and_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("bad.toml");
        std::fs::write(&config, "ping_timeout_s = 10\nping_timeout = 5\n").expect("write");
        let error = load_settings(Some(&config), &SettingsOverrides::new()).expect_err("bad");
        let message = error.to_string();
        assert!(message.contains("bad.toml:2"), "{message}");
        assert!(message.contains("ping_timeout"), "{message}");
        let missing = load_settings(
            Some(&dir.path().join("nope.toml")),
            &SettingsOverrides::new(),
        )
        .expect_err("missing");
        assert!(missing.to_string().contains("nope.toml"), "{missing}");
    }

    #[test]
    fn generated_provision_is_seeded_and_reads_back() {
        let args = GenProvisionArgs {
            mailboxes: 3,
            lockers: Some(2),
            out: PathBuf::from("unused"),
            seed: 7,
            denomination: -1,
            first_serial_number: 40,
            locker_balance: 9,
        };
        let one = generate_provision(&args).expect("generates");
        let two = generate_provision(&args).expect("generates");
        assert_eq!(one, two, "same seed, same provision");
        let other = generate_provision(&GenProvisionArgs { seed: 8, ..args }).expect("generates");
        assert_ne!(one, other);
        assert_eq!(one.coins.len(), 3);
        assert_eq!(one.coins[2].serial_number, 42);
        assert_eq!(one.coins[0].denomination, -1);
        let (coins, lockers, _) = one.for_raida(24).expect("tables");
        let (coins_0, _, _) = one.for_raida(0).expect("tables");
        assert_ne!(coins.an(-1, 40), coins_0.an(-1, 40), "ANs differ per RAIDA");
        let code = locker_code_from_ascii("LOCKER000001").expect("code");
        assert_eq!(lockers.balance(&code), Some(9));
        let back = Provision::parse(&one.to_toml(), "gen").expect("parses");
        assert_eq!(back, one);
    }

    #[test]
    fn a_data_path_that_is_or_lies_below_a_file_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("data");
        std::fs::write(&file, b"x").expect("write");
        for path in [file.clone(), file.join("raida3")] {
            let error = data_dir(&path).expect_err("a file");
            assert_eq!(
                error.to_string(),
                format!("data directory {} is a file", file.display())
            );
        }
        let fresh = dir.path().join("fresh/raida0");
        assert!(data_dir(&fresh).expect("created").is_dir());
    }

    #[test]
    fn generator_refuses_bad_arguments() {
        let args = GenProvisionArgs {
            mailboxes: GEN_MAILBOXES_MAX + 1,
            lockers: Some(0),
            out: PathBuf::from("unused"),
            seed: 0,
            denomination: 1,
            first_serial_number: 0,
            locker_balance: 1,
        };
        assert!(generate_provision(&args).is_err());
        let bad_denomination = GenProvisionArgs {
            mailboxes: 1,
            denomination: 7,
            ..args
        };
        assert!(generate_provision(&bad_denomination).is_err());
    }
}
