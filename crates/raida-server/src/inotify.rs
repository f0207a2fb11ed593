//! The real daemon's inotify task: a `.tell` renamed into an inbox by ANY process wakes the
//! pings parked on it (ping page 004, "register an inotify monitor").
//!
//! Tell (71) in this server already calls `env.watch().notify(mailbox)` after its rename; this
//! module covers writers outside the process (another server process sharing the disk, an
//! operator, a test). [`InotifyWatcher`] is the [`InboxArmer`] the daemon hands to its
//! [`crate::front::Front`]: when a ping parks, the front arms a watch on that inbox
//! (`IN_MOVED_TO | IN_CREATE | IN_CLOSE_WRITE`, directories only) and holds the returned guard
//! while it waits. Watches are counted per mailbox and removed when the last parked ping of
//! that inbox leaves, so the kernel's per-user watch budget only covers inboxes with a waiter.
//!
//! One task reads the inotify event stream (tokio's reactor via the crate's `EventStream`).
//! An event for a name that is a `.tell` and not a dotfile (`.tmp.*` temp files are ignored)
//! notifies the watch's mailbox; a queue overflow notifies every watched mailbox (a wake is
//! only a hint: a woken ping rescans); `IN_IGNORED` (watch removed, inbox deleted) forgets the
//! watch, so the next park re-arms it. Wakes are hints, never data.
//!
//! Linux only, real daemon only: the simulator never reaches this module (turmoil has no
//! inotify), so it may use `std::fs` and the OS freely.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::raw::c_int;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use inotify::{EventMask, Inotify, StreamExt, WatchDescriptor, WatchMask, Watches};
use tokio::task::JoinHandle;

use crate::env::Env;
use crate::front::{ArmedInbox, InboxArmer};
use crate::store::Mailbox;

/// Size of the buffer the event stream reads into (many events per read).
pub const EVENT_BUFFER_SIZE_BYTES: usize = 64 * 1024;

/// Consecutive failed event reads before the task gives up (pings then rely on this
/// server's own tells and their timeouts).
pub const EVENT_READ_ERRORS_CONSECUTIVE_MAX: u32 = 16;

/// Extension of the files that wake a ping.
const TELL_SUFFIX: &str = ".tell";

/// Largest single inotify event: the 16-byte `struct inotify_event`, a NAME_MAX name, a NUL.
const EVENT_SIZE_BYTES_MAX: usize = 16 + crate::limits::FILE_NAME_SIZE_BYTES_MAX + 1;

const _: () = assert!(EVENT_BUFFER_SIZE_BYTES >= EVENT_SIZE_BYTES_MAX);
const _: () = assert!(EVENT_READ_ERRORS_CONSECUTIVE_MAX >= 1);

/// The events that mean "a tell may have landed".
fn watch_mask() -> WatchMask {
    WatchMask::MOVED_TO | WatchMask::CREATE | WatchMask::CLOSE_WRITE | WatchMask::ONLYDIR
}

/// Whether an event name is a tell someone published (not a dotfile, ends in `.tell`).
pub fn name_wakes(name: &OsStr) -> bool {
    name.to_str()
        .is_some_and(|name| !name.starts_with('.') && name.ends_with(TELL_SUFFIX))
}

/// One armed inbox watch.
#[derive(Debug)]
struct Armed {
    wd: WatchDescriptor,
    /// Parked pings holding a guard for it.
    holder_count: usize,
    /// Tells a guard which arming it belongs to, so a guard of a forgotten watch
    /// (inbox deleted, `IN_IGNORED`) cannot release a newer one.
    generation: u64,
}

#[derive(Debug)]
struct State {
    watches: Watches,
    by_mailbox: BTreeMap<Mailbox, Armed>,
    by_wd: BTreeMap<c_int, Mailbox>,
    generation_next: u64,
}

#[derive(Debug)]
struct Shared {
    env: Arc<Env>,
    state: Mutex<State>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // Poisoned only by a panic while held: a bug.
        self.state.lock().expect("inotify state lock poisoned")
    }

    fn release(&self, mailbox: Mailbox, generation: u64) {
        let mut state = self.state();
        let Some(armed) = state.by_mailbox.get_mut(&mailbox) else {
            return;
        };
        if armed.generation != generation {
            return;
        }
        assert!(armed.holder_count >= 1);
        armed.holder_count -= 1;
        if armed.holder_count > 0 {
            return;
        }
        let Some(armed) = state.by_mailbox.remove(&mailbox) else {
            unreachable!("entry looked up above");
        };
        let id = armed.wd.get_watch_descriptor_id();
        state.by_wd.remove(&id);
        if let Err(error) = state.watches.remove(armed.wd) {
            // The inbox was deleted and the kernel already dropped the watch.
            tracing::debug!(?mailbox, %error, "inotify watch already gone");
        }
    }

    /// The mailboxes an event wakes.
    fn woken_by(
        &self,
        mask: EventMask,
        wd: &WatchDescriptor,
        name: Option<&OsStr>,
    ) -> Vec<Mailbox> {
        let mut state = self.state();
        if mask.contains(EventMask::Q_OVERFLOW) {
            tracing::warn!("inotify queue overflowed: waking every watched inbox");
            return state.by_mailbox.keys().copied().collect();
        }
        let id = wd.get_watch_descriptor_id();
        if mask.contains(EventMask::IGNORED) {
            if let Some(mailbox) = state.by_wd.remove(&id) {
                tracing::debug!(?mailbox, "inotify watch dropped by the kernel");
                state.by_mailbox.remove(&mailbox);
            }
            return Vec::new();
        }
        match (state.by_wd.get(&id), name) {
            (Some(mailbox), Some(name)) if name_wakes(name) => vec![*mailbox],
            _ => Vec::new(),
        }
    }
}

/// Watches inboxes with inotify for the pings parked on them. Dropping it stops the task.
pub struct InotifyWatcher {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl fmt::Debug for InotifyWatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InotifyWatcher")
            .field("raida", &self.shared.env.raida_id())
            .field("watched_inbox_count", &self.watched_inbox_count())
            .finish()
    }
}

impl InotifyWatcher {
    /// Opens an inotify instance and starts its event task on the current tokio runtime.
    pub fn start(env: Arc<Env>) -> io::Result<InotifyWatcher> {
        let inotify = Inotify::init()?;
        let watches = inotify.watches();
        let stream = inotify.into_event_stream(vec![0u8; EVENT_BUFFER_SIZE_BYTES])?;
        let shared = Arc::new(Shared {
            env,
            state: Mutex::new(State {
                watches,
                by_mailbox: BTreeMap::new(),
                by_wd: BTreeMap::new(),
                generation_next: 0,
            }),
        });
        let task = tokio::spawn(run_events(shared.clone(), stream));
        Ok(InotifyWatcher { shared, task })
    }

    /// Inboxes with an armed watch now.
    pub fn watched_inbox_count(&self) -> usize {
        self.shared.state().by_mailbox.len()
    }
}

impl Drop for InotifyWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl InboxArmer for InotifyWatcher {
    fn arm(&self, mailbox: Mailbox, inbox_dir: &Path) -> io::Result<ArmedInbox> {
        // The ping handler created the inbox; make sure, since a watch needs the directory.
        std::fs::create_dir_all(inbox_dir)?;
        let mut state = self.shared.state();
        let generation = match state.by_mailbox.get_mut(&mailbox) {
            Some(armed) => {
                armed.holder_count += 1;
                armed.generation
            }
            None => {
                let wd = state.watches.add(inbox_dir, watch_mask())?;
                let generation = state.generation_next;
                state.generation_next += 1;
                let id = wd.get_watch_descriptor_id();
                state.by_wd.insert(id, mailbox);
                state.by_mailbox.insert(
                    mailbox,
                    Armed {
                        wd,
                        holder_count: 1,
                        generation,
                    },
                );
                tracing::debug!(?mailbox, inbox_dir = %inbox_dir.display(), "inotify watch armed");
                generation
            }
        };
        drop(state);
        let shared = self.shared.clone();
        Ok(ArmedInbox::new(move || shared.release(mailbox, generation)))
    }
}

/// Reads inotify events until the stream ends or keeps failing; notifies woken mailboxes.
async fn run_events(shared: Arc<Shared>, mut stream: inotify::EventStream<Vec<u8>>) {
    let mut errors_consecutive: u32 = 0;
    while let Some(event) = stream.next().await {
        let event = match event {
            Ok(event) => {
                errors_consecutive = 0;
                event
            }
            Err(error) => {
                errors_consecutive += 1;
                tracing::warn!(%error, errors_consecutive, "inotify read failed");
                if errors_consecutive >= EVENT_READ_ERRORS_CONSECUTIVE_MAX {
                    break;
                }
                continue;
            }
        };
        let name = event.name.as_deref();
        for mailbox in shared.woken_by(event.mask, &event.wd, name) {
            tracing::debug!(?mailbox, ?name, "inotify: tell landed");
            shared.env.watch().notify(mailbox);
        }
    }
    tracing::warn!("inotify event task stopped: only this server's tells wake parked pings");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::clock::ManualClock;
    use crate::coins::{CoinTable, InboxFees, LockerLedger};
    use crate::env::EnvParts;
    use crate::fs::{NoopHook, RealFs};
    use crate::settings::Settings;
    use crate::watch::InboxSubscription;

    const MAILBOX: Mailbox = Mailbox {
        denomination: 3,
        serial_number: 12,
    };

    fn env(root: &Path) -> Arc<Env> {
        let env = Env::new(EnvParts {
            clock: Arc::new(ManualClock::new(1)),
            fs: Arc::new(RealFs),
            hook: Arc::new(NoopHook),
            rng_seed: 1,
            root: root.to_path_buf(),
            raida_id: 0,
            process_id: 1,
            settings: Settings::default(),
            coins: CoinTable::new(),
            lockers: LockerLedger::new(),
            inbox_fees: InboxFees::new(),
        })
        .expect("env");
        Arc::new(env)
    }

    async fn woke(subscription: &mut InboxSubscription, within: Duration) -> bool {
        tokio::time::timeout(within, subscription.changed())
            .await
            .is_ok()
    }

    async fn eventually(what: &str, condition: impl Fn() -> bool) {
        for _ in 0..2_000 {
            if condition() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for {what}");
    }

    #[tokio::test]
    async fn a_tell_renamed_in_wakes_and_temp_files_do_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = env(dir.path());
        let watcher = InotifyWatcher::start(env.clone()).expect("inotify");
        let inbox = env.inbox().inbox_dir(MAILBOX);
        let mut subscription = env.watch().subscribe(MAILBOX);
        let first = watcher.arm(MAILBOX, &inbox).expect("arm");
        let second = watcher.arm(MAILBOX, &inbox).expect("arm again");
        assert_eq!(watcher.watched_inbox_count(), 1, "one watch per inbox");
        assert!(inbox.is_dir(), "arming creates the inbox");

        let temp = inbox.join(".tmp.1.2.3");
        std::fs::write(&temp, b"record").expect("write");
        assert!(
            !woke(&mut subscription, Duration::from_millis(300)).await,
            "a dotfile does not wake"
        );
        std::fs::rename(&temp, inbox.join("00000000aa.tell")).expect("rename");
        assert!(
            woke(&mut subscription, Duration::from_secs(10)).await,
            "the rename wakes"
        );

        drop(first);
        assert_eq!(
            watcher.watched_inbox_count(),
            1,
            "still held by the second ping"
        );
        drop(second);
        assert_eq!(
            watcher.watched_inbox_count(),
            0,
            "released with the last ping"
        );
        std::fs::write(inbox.join("00000000bb.tell"), b"record").expect("write");
        assert!(
            !woke(&mut subscription, Duration::from_millis(300)).await,
            "no watch, no wake"
        );
    }

    #[tokio::test]
    async fn a_deleted_inbox_is_forgotten_and_re_armed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let env = env(dir.path());
        let watcher = InotifyWatcher::start(env.clone()).expect("inotify");
        let inbox = env.inbox().inbox_dir(MAILBOX);
        let stale = watcher.arm(MAILBOX, &inbox).expect("arm");
        std::fs::remove_dir(&inbox).expect("remove inbox");
        eventually("the kernel to drop the watch", || {
            watcher.watched_inbox_count() == 0
        })
        .await;

        let mut subscription = env.watch().subscribe(MAILBOX);
        let fresh = watcher.arm(MAILBOX, &inbox).expect("re-arm");
        drop(stale);
        assert_eq!(
            watcher.watched_inbox_count(),
            1,
            "a guard of the forgotten watch does not release the new one"
        );
        std::fs::write(inbox.join("00000000cc.tell"), b"record").expect("write");
        assert!(woke(&mut subscription, Duration::from_secs(10)).await);
        drop(fresh);
        assert_eq!(watcher.watched_inbox_count(), 0);
    }

    #[test]
    fn only_published_tell_names_wake() {
        assert!(name_wakes(OsStr::new(
            "0000000000112233445566778899aabbccddeeff.tell"
        )));
        assert!(name_wakes(OsStr::new("x.tell")));
        assert!(!name_wakes(OsStr::new(".tmp.1.2.3.abc.tell")));
        assert!(!name_wakes(OsStr::new("notes.txt")));
        assert!(!name_wakes(OsStr::new("a.tell.swp")));
    }
}
