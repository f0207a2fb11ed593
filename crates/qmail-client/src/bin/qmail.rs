//! The `qmail` command. All the code lives in [`qmail_client::cli`]; this file parses the
//! command line, supplies what the library never takes for itself — the machine clock and
//! an OS-seeded `ChaCha8Rng` (this is the only place either is allowed) — runs the command on
//! a current-thread runtime, and turns an error into a message on stderr and exit status 1
//! (clap exits with 2 on a bad command line).

use std::io::{self, IsTerminal, Read, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser;
use qmail_client::cli::{self, Cli, RunEnv};
use qmail_client::Clock;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The machine's wall clock. REAL COMMAND ONLY.
#[derive(Debug)]
struct SystemClock;

impl Clock for SystemClock {
    // The real `qmail` program stamps its tells with the machine's time.
    #[allow(clippy::disallowed_methods)]
    fn now_unix_s(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs())
    }
}

/// 32 seed bytes from the OS: `/dev/urandom` where there is one, else std's hasher keys
/// (drawn from the OS RNG) mixed with the time and the process id. REAL COMMAND ONLY.
// The real `qmail` program seeds its RNG from the machine (time only as a fallback mix-in).
#[allow(clippy::disallowed_methods)]
fn os_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    let from_device = std::fs::File::open("/dev/urandom")
        .and_then(|mut device| device.read_exact(&mut seed))
        .is_ok();
    if !from_device {
        use std::hash::{BuildHasher, Hasher};
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos());
        for (index, chunk) in seed.chunks_exact_mut(8).enumerate() {
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u128(nanos);
            hasher.write_u32(std::process::id());
            hasher.write_usize(index);
            chunk.copy_from_slice(&hasher.finish().to_le_bytes());
        }
    }
    seed
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .try_init();
}

fn fail(message: &str) -> ExitCode {
    let _ = writeln!(io::stderr(), "qmail: error: {message}");
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let env = RunEnv {
        clock: Arc::new(SystemClock),
        rng: ChaCha8Rng::from_seed(os_seed()),
        progress: io::stdout().is_terminal(),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the runtime: {error}")),
    };
    let mut stdout = io::stdout().lock();
    match runtime.block_on(cli::run(cli, env, &mut stdout)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error.to_string()),
    }
}
