//! A throughput benchmark: one full seed of `scenarios/storm.toml` (or another scenario),
//! timed on the wall clock and in CPU time, against a floor: bare turmoil with the same
//! topology and the same number and size of requests.
//!
//! ```text
//! cargo run --release -p raida-sim --example storm_bench -- [--seed N] [--scenario PATH] [--runs N] [--no-floor]
//! ```
//!
//! Prints the seed's counts, emails per wall second, simulated seconds per wall second and
//! per CPU second, then the floor and the ratio of CPU per request (storm / floor). The floor
//! runs three times and the ratio uses the median run. `--runs N` runs the seed N times
//! (default 1): the figures are the median run's, every run's CPU time is printed, and every
//! run must give the same digest (a second determinism check for free).
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

use raida_sim::run::run_full;
use raida_sim::scenario::Scenario;
use raida_sim::world::RunResult;

/// Floor runs per bench; the ratio uses their median CPU time.
const FLOOR_RUN_COUNT: usize = 3;

const USAGE: &str = "usage: storm_bench [--seed N] [--scenario PATH] [--runs N] [--no-floor]";

/// The most runs of the seed one bench makes.
const RUN_COUNT_MAX: usize = 15;

struct Args {
    seed: u64,
    scenario: PathBuf,
    run_count: usize,
    floor: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        seed: 0,
        scenario: Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/storm.toml"),
        run_count: 1,
        floor: true,
    };
    let mut words = std::env::args().skip(1);
    while let Some(word) = words.next() {
        if word == "--no-floor" {
            args.floor = false;
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
    let (result, cpu_s, wall_s) = match run_median(&scenario, &args) {
        Ok(median) => median,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    let result = &result;
    let report = result.report(&scenario);
    let counts = report.counts();
    #[allow(clippy::cast_precision_loss)] // Microseconds of a run fit an f64's mantissa.
    let sim_s = result.sim_end_us as f64 / 1e6;
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
    if args.floor && result.requests > 0 {
        let shape = floor::Shape::of(&scenario, result.requests, result.wire_bytes, sim_s);
        // A floor run is a few seconds, short enough for this machine's drift to move one
        // run by half; the median of three moves much less.
        let mut floor_runs: Vec<(f64, f64)> = (0..FLOOR_RUN_COUNT)
            .map(|_| {
                let cpu_before_s = thread_cpu_s();
                let floor_sim_s = floor::run(&shape, args.seed);
                (thread_cpu_s() - cpu_before_s, floor_sim_s)
            })
            .collect();
        let floor_cpu_each_s: Vec<String> = floor_runs
            .iter()
            .map(|(cpu_s, _)| format!("{cpu_s:.3}"))
            .collect();
        floor_runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (floor_cpu_s, floor_sim_s) = floor_runs[FLOOR_RUN_COUNT / 2];
        #[allow(clippy::cast_precision_loss)] // Request counts fit an f64's mantissa.
        let requests = result.requests as f64;
        let storm_us = cpu_s / requests * 1e6;
        let floor_us = floor_cpu_s / requests * 1e6;
        println!(
            "floor: requests = {} request_bytes = {} reply_bytes = {} sim_s = {floor_sim_s:.3} cpu_s = {floor_cpu_s:.3} (median of {})",
            shape.requests, shape.request_bytes, shape.reply_bytes, floor_cpu_each_s.join(", ")
        );
        println!("cpu_us_per_request: storm = {storm_us:.1} floor = {floor_us:.1}");
        println!("storm_over_floor = {:.2}", storm_us / floor_us);
    }
    if result.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs the seed `args.run_count` times and returns the run of median CPU time with its CPU
/// and wall seconds, after printing every run's CPU time. Fails if a run panics or two runs
/// give different digests.
fn run_median(scenario: &Scenario, args: &Args) -> Result<(RunResult, f64, f64), String> {
    let mut runs: Vec<(RunResult, f64, f64)> = Vec::with_capacity(args.run_count);
    for _ in 0..args.run_count {
        let cpu_before_s = thread_cpu_s();
        let (result, wall) = run_full(scenario, args.seed);
        let cpu_s = thread_cpu_s() - cpu_before_s;
        let result = result.map_err(|panic| format!("seed {} panicked: {panic}", args.seed))?;
        if let Some((first, _, _)) = runs.first() {
            if first.digest != result.digest {
                return Err(format!(
                    "seed {} gave two runs: digests {:016x} and {:016x}",
                    args.seed, first.digest, result.digest
                ));
            }
        }
        // Only the first run keeps its history (the counts read it): a storm-10k history is
        // 430 MB.
        let result = if runs.is_empty() {
            result
        } else {
            RunResult {
                history: raida_sim::history::History::new(),
                ..result
            }
        };
        runs.push((result, cpu_s, wall.as_secs_f64()));
    }
    if args.run_count > 1 {
        let each: Vec<String> = runs
            .iter()
            .map(|(_, cpu_s, _)| format!("{cpu_s:.3}"))
            .collect();
        println!("runs = {} cpu_s_each = {}", args.run_count, each.join(", "));
    }
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by(|a, b| runs[*a].1.total_cmp(&runs[*b].1));
    let median_index = order[order.len() / 2];
    let (_, cpu_s, wall_s) = runs[median_index];
    // Every run is the same run (one digest); the first kept its history for the counts.
    let (result, _, _) = runs.swap_remove(0);
    Ok((result, cpu_s, wall_s))
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
