//! A throughput benchmark: one full seed of `scenarios/storm.toml` (or another scenario),
//! timed on the wall clock and in CPU time, against a floor: bare turmoil with the same
//! topology and the same number and size of requests.
//!
//! ```text
//! cargo run --release -p raida-sim --example storm_bench -- [--seed N] [--scenario PATH] [--runs N] [--no-floor | --linearity]
//! ```
//!
//! Prints the seed's counts, emails per wall second, simulated seconds per wall second and
//! per CPU second, then the floor and the ratio of CPU per request (storm / floor). `--runs N`
//! runs the seed N times (default 1): the figures are the median run's, every run's CPU time
//! is printed, and every run must give the same digest (a second determinism check for free).
//! Each run of the seed is followed by three floor runs; its ratio is over their median, and
//! the ratio printed is the median of the runs' ratios. This machine's speed drifts by a tenth
//! within a minute, so a ratio is only as good as the closeness in time of its two sides.
//!
//! `--linearity` runs the scenario at a quarter of its mailboxes and emails and at full size,
//! alternated, N pairs (`--runs`), and prints each pair's request and CPU ratios and the
//! median CPU ratio: the cost-grows-linearly figure (4× the work for at most 5× the CPU).
//!
//! The floor: `raidas` server hosts and `client_hosts` client hosts, the scenario's tick,
//! latency bounds and `tcp_capacity`; as many requests as the storm seed opened connections,
//! each on its own TCP connection to a server picked in turn, spread evenly over the seed's
//! simulated time; each writes the storm's mean bytes per request half way and reads the
//! other half back. No file system, no protocol, no faults: what turmoil's network costs.
//!
//! CPU time is this thread's time on a CPU (`/proc/thread-self/schedstat`), so other load
//! on the machine does not count; wall time is printed too. Both are measured here, around
//! [`run_full`] and the floor; they never reach the simulation, so the run itself (and its
//! digest) is the same as `raida-sim run` gives.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use raida_sim::run::{run_full, scaled_for_tests};
use raida_sim::scenario::Scenario;
use raida_sim::world::RunResult;

/// Floor runs per bench; the ratio uses their median CPU time.
const FLOOR_RUN_COUNT: usize = 3;

const USAGE: &str =
    "usage: storm_bench [--seed N] [--scenario PATH] [--runs N] [--no-floor | --linearity]";

/// The most runs of the seed one bench makes.
const RUN_COUNT_MAX: usize = 15;

struct Args {
    seed: u64,
    scenario: PathBuf,
    run_count: usize,
    floor: bool,
    linearity: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        seed: 0,
        scenario: Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/storm.toml"),
        run_count: 1,
        floor: true,
        linearity: false,
    };
    let mut words = std::env::args().skip(1);
    while let Some(word) = words.next() {
        if word == "--no-floor" {
            args.floor = false;
            continue;
        }
        if word == "--linearity" {
            args.linearity = true;
            continue;
        }
        let value = words
            .next()
            .ok_or_else(|| format!("{word} needs a value\n{USAGE}"))?;
        match word.as_str() {
            "--seed" => {
                args.seed = value
                    .parse()
                    .map_err(|_| format!("--seed {value:?} is not a u64\n{USAGE}"))?;
            }
            "--scenario" => args.scenario = PathBuf::from(value),
            "--runs" => {
                args.run_count = value
                    .parse()
                    .ok()
                    .filter(|count| (1..=RUN_COUNT_MAX).contains(count))
                    .ok_or_else(|| {
                        format!(
                            "--runs {value:?} is not a count from 1 to {RUN_COUNT_MAX}\n{USAGE}"
                        )
                    })?;
            }
            _ => return Err(format!("unknown argument {word:?}\n{USAGE}")),
        }
    }
    if args.linearity && !args.floor {
        return Err(format!(
            "--linearity runs no floor; drop --no-floor\n{USAGE}"
        ));
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let scenario = match Scenario::load(&args.scenario) {
        Ok(scenario) => scenario,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    println!(
        "bench scenario={} seed={} mailboxes={} emails={}",
        scenario.name, args.seed, scenario.topology.mailboxes, scenario.workload.emails
    );
    if args.linearity {
        return match linearity(&scenario, &args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("{message}");
                ExitCode::FAILURE
            }
        };
    }
    let (result, runs) = match run_seed_times(&scenario, &args) {
        Ok(runs) => runs,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    let result = &result;
    let median = median_by(&runs, |run| run.cpu_s);
    let (cpu_s, wall_s) = (median.cpu_s, median.wall_s);
    let report = result.report(&scenario);
    let counts = report.counts();
    let sim_s = sim_s_of(result);
    #[allow(clippy::cast_precision_loss)] // Email counts fit an f64's mantissa.
    let emails = counts.emails as f64;
    println!(
        "events={} emails={} tells_sent={} polls={} downloads={}",
        result.history.len(),
        counts.emails,
        counts.tells_sent,
        counts.polls,
        counts.downloads
    );
    println!("violations={} verdict={}", result.violations.len(), {
        if result.passed() {
            "pass"
        } else {
            "FAIL"
        }
    });
    println!("wall_s = {wall_s:.3}");
    println!("cpu_s = {cpu_s:.3}");
    println!("sim_s = {sim_s:.3}");
    println!("emails_per_wall_s = {:.1}", emails / wall_s);
    println!("sim_s_per_wall_s = {:.3}", sim_s / wall_s);
    println!("sim_s_per_cpu_s = {:.3}", sim_s / cpu_s);
    println!(
        "requests = {} wire_bytes = {}",
        result.requests, result.wire_bytes
    );
    if let Some(shape) = floor_shape(&scenario, result, &args) {
        print_floor(&shape, &runs);
    }
    if result.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// One timed run of the seed and the floor runs made right after it.
struct Timed {
    cpu_s: f64,
    wall_s: f64,
    floor: Option<FloorRuns>,
}

/// `FLOOR_RUN_COUNT` floor runs: their median CPU seconds (and that run's simulated
/// seconds), and each run's CPU seconds in the order they ran.
struct FloorRuns {
    cpu_s: f64,
    sim_s: f64,
    cpu_each_s: Vec<f64>,
}

impl Timed {
    /// CPU per request of the storm over the floor's (both ran the same requests).
    fn ratio(&self) -> Option<f64> {
        self.floor.as_ref().map(|floor| self.cpu_s / floor.cpu_s)
    }
}

/// The element whose `key` is the median (the upper one of an even count).
fn median_by<T>(items: &[T], key: impl Fn(&T) -> f64) -> &T {
    assert!(!items.is_empty(), "a median of nothing");
    let mut order: Vec<&T> = items.iter().collect();
    order.sort_by(|a, b| key(a).total_cmp(&key(b)));
    order[order.len() / 2]
}

fn sim_s_of(result: &RunResult) -> f64 {
    #[allow(clippy::cast_precision_loss)] // Microseconds of a run fit an f64's mantissa.
    let sim_s = result.sim_end_us as f64 / 1e6;
    sim_s
}

/// The floor of this seed, unless the floor is off or the seed opened no connection.
fn floor_shape(scenario: &Scenario, result: &RunResult, args: &Args) -> Option<floor::Shape> {
    (args.floor && result.requests > 0).then(|| {
        floor::Shape::of(
            scenario,
            result.requests,
            result.wire_bytes,
            sim_s_of(result),
        )
    })
}

/// Runs the floor `FLOOR_RUN_COUNT` times: one floor run is a second or two, short enough
/// for this machine's drift to move one run by half; the median of three moves much less.
fn floor_runs(shape: &floor::Shape, seed: u64) -> FloorRuns {
    let runs: Vec<(f64, f64)> = (0..FLOOR_RUN_COUNT)
        .map(|_| {
            let cpu_before_s = thread_cpu_s();
            let floor_sim_s = floor::run(shape, seed);
            (thread_cpu_s() - cpu_before_s, floor_sim_s)
        })
        .collect();
    let &(cpu_s, sim_s) = median_by(&runs, |run| run.0);
    FloorRuns {
        cpu_s,
        sim_s,
        cpu_each_s: runs.iter().map(|run| run.0).collect(),
    }
}

/// Prints the floor of the run whose ratio is the median, that ratio, and every run's.
fn print_floor(shape: &floor::Shape, runs: &[Timed]) {
    let median = median_by(runs, |run| run.ratio().unwrap_or(f64::NAN));
    let floor = median.floor.as_ref().expect("every run has a floor");
    let each: Vec<String> = floor.cpu_each_s.iter().map(|s| format!("{s:.3}")).collect();
    println!(
        "floor: requests = {} request_bytes = {} reply_bytes = {} sim_s = {:.3} cpu_s = {:.3} (median of {})",
        shape.requests, shape.request_bytes, shape.reply_bytes, floor.sim_s, floor.cpu_s, each.join(", ")
    );
    #[allow(clippy::cast_precision_loss)] // Request counts fit an f64's mantissa.
    let requests = shape.requests as f64;
    println!(
        "cpu_us_per_request: storm = {:.1} floor = {:.1}",
        median.cpu_s / requests * 1e6,
        floor.cpu_s / requests * 1e6
    );
    let ratio = median.ratio().expect("every run has a floor");
    println!("storm_over_floor = {ratio:.2}");
    if runs.len() > 1 {
        let each: Vec<String> = runs
            .iter()
            .filter_map(Timed::ratio)
            .map(|ratio| format!("{ratio:.2}"))
            .collect();
        println!("storm_over_floor_each = {}", each.join(", "));
    }
}

/// Runs the seed `args.run_count` times, each followed by its floor runs (unless the floor is
/// off), after printing every run's CPU time. Returns the first run (with its history, which
/// the counts read) and every run's times. Fails if a run panics or two runs give different
/// digests.
fn run_seed_times(scenario: &Scenario, args: &Args) -> Result<(RunResult, Vec<Timed>), String> {
    let mut first: Option<RunResult> = None;
    let mut runs: Vec<Timed> = Vec::with_capacity(args.run_count);
    for _ in 0..args.run_count {
        let (result, cpu_s, wall_s) = timed_run(scenario, args.seed)?;
        if let Some(first) = &first {
            same_digest(args.seed, first.digest, result.digest)?;
        }
        let floor = floor_shape(scenario, &result, args).map(|shape| floor_runs(&shape, args.seed));
        runs.push(Timed {
            cpu_s,
            wall_s,
            floor,
        });
        // Only the first run keeps its history: a storm-10k history is 430 MB.
        first.get_or_insert(result);
    }
    if args.run_count > 1 {
        let each: Vec<String> = runs.iter().map(|run| format!("{:.3}", run.cpu_s)).collect();
        println!("runs = {} cpu_s_each = {}", args.run_count, each.join(", "));
    }
    Ok((first.expect("at least one run"), runs))
}

/// One run of the seed: its result, CPU seconds and wall seconds.
fn timed_run(scenario: &Scenario, seed: u64) -> Result<(RunResult, f64, f64), String> {
    let cpu_before_s = thread_cpu_s();
    let (result, wall) = run_full(scenario, seed);
    let cpu_s = thread_cpu_s() - cpu_before_s;
    let result = result.map_err(|panic| format!("seed {seed} panicked: {panic}"))?;
    Ok((result, cpu_s, wall.as_secs_f64()))
}

fn same_digest(seed: u64, first: u64, again: u64) -> Result<(), String> {
    if first == again {
        return Ok(());
    }
    Err(format!(
        "seed {seed} gave two runs: digests {first:016x} and {again:016x}"
    ))
}

/// Runs the scenario at a quarter of its mailboxes and emails and at full size, alternated,
/// `args.run_count` pairs, and prints each pair's request and CPU ratios (full / quarter) and
/// the median CPU ratio.
fn linearity(scenario: &Scenario, args: &Args) -> Result<(), String> {
    let quarter = scaled_for_tests(
        scenario,
        (scenario.workload.emails / 4).max(1),
        (scenario.topology.mailboxes / 4).max(1),
        scenario.sim.duration_s,
        scenario.sim.heal_s,
    );
    println!(
        "linearity: quarter = {} mailboxes, {} emails",
        quarter.topology.mailboxes, quarter.workload.emails
    );
    // The first pair's digests: every later run of each size must give the same.
    let mut first_digests: Option<(u64, u64)> = None;
    let mut cpu_ratios = Vec::with_capacity(args.run_count);
    for pair_index in 0..args.run_count {
        let (small, small_cpu_s, _) = timed_run(&quarter, args.seed)?;
        let (large, large_cpu_s, _) = timed_run(scenario, args.seed)?;
        let (first_small, first_large) = *first_digests.get_or_insert((small.digest, large.digest));
        same_digest(args.seed, first_small, small.digest)?;
        same_digest(args.seed, first_large, large.digest)?;
        #[allow(clippy::cast_precision_loss)] // Request counts fit an f64's mantissa.
        let request_ratio = large.requests as f64 / small.requests.max(1) as f64;
        let cpu_ratio = large_cpu_s / small_cpu_s;
        println!(
            "pair {pair_index}: quarter cpu_s = {small_cpu_s:.3} requests = {} full cpu_s = {large_cpu_s:.3} requests = {} requests x{request_ratio:.2} cpu x{cpu_ratio:.2}",
            small.requests, large.requests
        );
        cpu_ratios.push(cpu_ratio);
    }
    let cpu_ratio = median_by(&cpu_ratios, |ratio| *ratio);
    println!(
        "linearity_cpu_ratio = {cpu_ratio:.2} (median of {} pairs)",
        args.run_count
    );
    Ok(())
}

/// This thread's CPU time so far, seconds (Linux `schedstat`: nanoseconds on a CPU). The
/// simulation runs on the calling thread.
fn thread_cpu_s() -> f64 {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns: u64 = text
        .split_whitespace()
        .next()
        .and_then(|field| field.parse().ok())
        .unwrap_or(0);
    #[allow(clippy::cast_precision_loss)] // Nanoseconds of a run fit an f64's mantissa.
    let seconds = ns as f64 / 1e9;
    seconds
}

/// Bare turmoil with the storm's topology and traffic: the cost floor.
mod floor {
    use std::time::{Duration, UNIX_EPOCH};

    use raida_sim::scenario::Scenario;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use turmoil::net::{TcpListener, TcpStream};

    const PORT: u16 = 18_000;

    /// What the floor runs.
    #[derive(Debug)]
    pub struct Shape {
        pub servers: u16,
        pub clients: u16,
        pub tick_ms: u32,
        pub latency_ms_min: u32,
        pub latency_ms_max: u32,
        pub tcp_capacity: usize,
        pub requests: u64,
        pub request_bytes: usize,
        pub reply_bytes: usize,
        pub window: Duration,
    }

    impl Shape {
        /// The floor of one storm seed: its requests, bytes and simulated time.
        pub fn of(scenario: &Scenario, requests: u64, wire_bytes: u64, sim_s: f64) -> Shape {
            let per_request = usize::try_from(wire_bytes / requests.max(1)).unwrap_or(usize::MAX);
            let network = &scenario.faults.network;
            Shape {
                servers: u16::from(scenario.topology.raidas),
                clients: scenario.topology.client_hosts,
                tick_ms: scenario.sim.tick_ms,
                latency_ms_min: network.latency_ms_min,
                latency_ms_max: network.latency_ms_max.max(network.latency_ms_min),
                tcp_capacity: usize::try_from(scenario.sim.tcp_capacity).unwrap_or(usize::MAX),
                requests,
                request_bytes: (per_request / 2).max(1),
                reply_bytes: (per_request - per_request / 2).max(1),
                window: Duration::from_secs_f64(sim_s.max(1.0)),
            }
        }
    }

    /// Runs the floor; returns its simulated seconds.
    pub fn run(shape: &Shape, seed: u64) -> f64 {
        let mut sim = turmoil::Builder::new()
            .rng_seed(seed)
            .epoch(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
            .tick_duration(Duration::from_millis(u64::from(shape.tick_ms)))
            .simulation_duration(shape.window * 4 + Duration::from_secs(600))
            .tcp_capacity(shape.tcp_capacity)
            .min_message_latency(Duration::from_millis(u64::from(shape.latency_ms_min)))
            .max_message_latency(Duration::from_millis(u64::from(shape.latency_ms_max)))
            .ephemeral_ports(1024..=65535)
            .enable_random_order()
            .build();
        let reply_bytes = shape.reply_bytes;
        for server in 0..shape.servers {
            sim.host(format!("server{server}"), move || serve(reply_bytes));
        }
        let per_client = shape.requests / u64::from(shape.clients.max(1));
        let extra = shape.requests % u64::from(shape.clients.max(1));
        for client in 0..shape.clients {
            let count = per_client + u64::from(u64::from(client) < extra);
            let plan = ClientPlan {
                client,
                count,
                servers: shape.servers,
                request_bytes: shape.request_bytes,
                reply_bytes,
                window: shape.window,
            };
            sim.client(format!("client{client}"), plan.run());
        }
        sim.run().expect("floor run");
        sim.elapsed().as_secs_f64()
    }

    async fn serve(reply_bytes: usize) -> turmoil::Result {
        let listener = TcpListener::bind((std::net::Ipv4Addr::UNSPECIFIED, PORT)).await?;
        loop {
            let (mut stream, _) = listener.accept().await?;
            tokio::spawn(async move {
                let mut len = [0_u8; 4];
                if stream.read_exact(&mut len).await.is_err() {
                    return;
                }
                let mut request = vec![0_u8; u32::from_be_bytes(len) as usize];
                if stream.read_exact(&mut request).await.is_err() {
                    return;
                }
                let _ = stream.write_all(&vec![7_u8; reply_bytes]).await;
            });
        }
    }

    struct ClientPlan {
        client: u16,
        count: u64,
        servers: u16,
        request_bytes: usize,
        reply_bytes: usize,
        window: Duration,
    }

    impl ClientPlan {
        async fn run(self) -> turmoil::Result {
            let mut tasks = Vec::new();
            for index in 0..self.count {
                #[allow(clippy::cast_precision_loss)] // Request counts fit an f64's mantissa.
                let start = self.window.mul_f64(index as f64 / self.count.max(1) as f64);
                let server = (index + u64::from(self.client)) % u64::from(self.servers.max(1));
                let (request_bytes, reply_bytes) = (self.request_bytes, self.reply_bytes);
                tasks.push(tokio::spawn(async move {
                    tokio::time::sleep(start).await;
                    request(server, request_bytes, reply_bytes)
                        .await
                        .map_err(|error| error.to_string())
                }));
            }
            for task in tasks {
                task.await?
                    .map_err(|error| format!("client {}: {error}", self.client))?;
            }
            Ok(())
        }
    }

    async fn request(server: u64, request_bytes: usize, reply_bytes: usize) -> turmoil::Result {
        let mut stream = TcpStream::connect((format!("server{server}"), PORT)).await?;
        let len = u32::try_from(request_bytes).expect("request fits u32");
        let mut message = len.to_be_bytes().to_vec();
        message.resize(4 + request_bytes, 9);
        stream.write_all(&message).await?;
        let mut reply = vec![0_u8; reply_bytes];
        stream.read_exact(&mut reply).await?;
        Ok(())
    }
}
