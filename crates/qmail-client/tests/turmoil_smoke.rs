//! The client on turmoil's network: 25 real RAIDA servers (`raida_server::front::serve` over
//! `Env::sim`) on one simulated host, one port each, and a client host that sends, pings and
//! downloads through a turmoil [`Connector`]. Run twice with one seed, the client's observed
//! history (every request, status and tell record) is identical: nothing in the client reads
//! the OS clock, RNG or scheduler.

mod common;

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use common::{an_of, bytes, identity, NOW_S, RAIDA_COUNT};
use qmail_client::error::RaidaRef;
use qmail_client::observer::TellSent;
use qmail_client::{
    Client, ClientError, ClientObserver, ClientParts, Connector, Directory, Email, MailboxId,
    ManualClock, Poll, Recipient,
};
use qmail_wire::header::Command;
use raida_server::coins::{CoinTable, InboxFees, LockerLedger};
use raida_server::env::Env;
use raida_server::fs::NoopHook;
use raida_server::settings::Settings;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;

const ALICE: MailboxId = MailboxId::new(1, 1000);
const BOB: MailboxId = MailboxId::new(1, 2001);
const PORT_BASE: u16 = 9000;

#[derive(Clone, Copy, Debug)]
struct TurmoilConnector;

impl Connector for TurmoilConnector {
    type Stream = turmoil::net::TcpStream;

    fn connect(
        &self,
        addr: SocketAddr,
    ) -> Pin<Box<dyn Future<Output = io::Result<Self::Stream>> + Send + '_>> {
        Box::pin(turmoil::net::TcpStream::connect(addr))
    }
}

#[derive(Default)]
struct History(Mutex<Vec<String>>);

impl ClientObserver for History {
    fn request_sent(&self, raida: RaidaRef, command: Command, attempt: u32) {
        self.0.lock().unwrap().push(format!(
            "sent {} {} #{attempt}",
            raida.index,
            command.name()
        ));
    }
    fn request_answered(&self, raida: RaidaRef, command: Command, status_code: u8) {
        self.0.lock().unwrap().push(format!(
            "answered {} {} {status_code}",
            raida.index,
            command.name()
        ));
    }
    fn request_failed(&self, raida: RaidaRef, command: Command, error: &ClientError) {
        self.0
            .lock()
            .unwrap()
            .push(format!("failed {} {} {error}", raida.index, command.name()));
    }
    fn tell_sent(&self, event: &TellSent) {
        self.0.lock().unwrap().push(format!(
            "tell {} {:?} {:02x?}",
            event.beacon, event.status, event.record
        ));
    }
}

fn tables(raida_id: usize) -> (CoinTable, LockerLedger, InboxFees) {
    let mut coins = CoinTable::new();
    for mailbox in [ALICE, BOB] {
        coins.insert(
            mailbox.denomination,
            mailbox.serial_number,
            an_of(mailbox, raida_id),
        );
    }
    let mut lockers = LockerLedger::new();
    for code in ["UPLOAD", "FEES"] {
        lockers.insert(qmail_wire::tell::locker_from_ascii(code).unwrap(), 1_000);
    }
    (coins, lockers, InboxFees::new())
}

fn client(
    directory: &Arc<Directory>,
    mailbox: MailboxId,
    seed: u64,
    history: Arc<History>,
) -> Client<TurmoilConnector> {
    let mut parts = ClientParts::new(
        identity(mailbox),
        directory.clone(),
        TurmoilConnector,
        Arc::new(ManualClock::new(NOW_S)),
        ChaCha8Rng::seed_from_u64(seed),
    );
    parts.config.request_timeout = Duration::from_secs(2);
    parts.config.connect_timeout = Duration::from_secs(1);
    parts.observer = history;
    Client::new(parts).expect("client")
}

/// One run: returns the client-side history.
fn run(seed: u64) -> Vec<String> {
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .epoch(SystemTime::UNIX_EPOCH + Duration::from_secs(NOW_S))
        .simulation_duration(Duration::from_secs(60))
        .build();
    sim.host("raidas", || async {
        for raida_id in 0..RAIDA_COUNT {
            let env = Env::sim(
                Arc::new(raida_server::clock::ManualClock::new(NOW_S * 1_000_000)),
                Arc::new(NoopHook),
                format!("/raida{raida_id}").into(),
                raida_id as u8,
                Settings::default(),
                tables(raida_id),
                raida_id as u64,
                1,
            )
            .expect("env");
            env.prepare().await.expect("prepare");
            let listener =
                turmoil::net::TcpListener::bind(("0.0.0.0", PORT_BASE + raida_id as u16)).await?;
            tokio::spawn(raida_server::front::serve(listener, Arc::new(env)));
        }
        std::future::pending::<()>().await;
        Ok(())
    });
    let history = Arc::new(History::default());
    let recorded = history.clone();
    sim.client("mua", async move {
        let IpAddr::V4(ip) = turmoil::lookup("raidas") else {
            panic!("turmoil hosts have IPv4 addresses");
        };
        let addrs = (0..RAIDA_COUNT as u16)
            .map(|i| SocketAddr::from((ip, PORT_BASE + i)))
            .collect();
        let directory = Arc::new(Directory::new(addrs).expect("directory"));
        // Let the servers bind.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let alice = client(&directory, ALICE, 1, history.clone());
        let mut email = Email::new(alice.random_guid(), bytes(21, 20_000));
        email.attachments = vec![bytes(22, 3_000)];
        email.recipients = vec![Recipient::to(BOB)];
        let report = alice.send_email(&email).await.expect("send");
        assert!(report.all_told());
        let bob = client(&directory, BOB, 2, history.clone());
        let Poll::Tells(tells) = bob.ping().await.expect("ping") else {
            panic!("no tell");
        };
        let files = bob
            .download_email(&tells[0].record)
            .await
            .expect("download");
        assert_eq!(files[0].bytes, email.body);
        assert_eq!(files[1].bytes, email.attachments[0]);
        Ok(())
    });
    sim.run().expect("simulation");
    let history = recorded.0.lock().unwrap().clone();
    history
}

#[test]
fn client_runs_on_turmoil_and_one_seed_gives_one_history() {
    let first = run(7);
    assert!(
        first.iter().any(|line| line.starts_with("tell ")),
        "{first:?}"
    );
    assert!(
        first.iter().all(|line| !line.starts_with("failed")),
        "{first:?}"
    );
    let second = run(7);
    assert_eq!(first, second);
}
