//! Inbox change notification: how a parked ping (72) learns that a tell arrived.
//!
//! The ping page parks a connection with an inotify watch on the inbox and wakes it on
//! `IN_MOVED_TO`, that is after the atomic publish's rename. Here that is [`InboxWatch`]: one
//! generation counter per mailbox (a `tokio::sync::watch` channel), bumped by
//! [`InboxWatch::notify`]. Tell calls it after every rename into an inbox; in the real daemon
//! the inotify task calls it too, so a tell renamed in by any process wakes the ping. A
//! [`InboxSubscription`] remembers the generation it has seen, so a notify that lands between
//! `subscribe` and the wait is never lost: subscribe first, then rescan, then wait.
//!
//! Wakes are hints, never data: a woken ping rescans the inbox and parks again when another
//! poll took the tells first. A spurious wake costs one scan.
//!
//! The map holds one entry per mailbox somebody is waiting on; entries whose every
//! subscription is gone are dropped on the next notify or subscribe of that mailbox, and the
//! whole map is swept when it grows past [`crate::limits::WATCHED_MAILBOXES_SWEEP_COUNT`].

use std::collections::BTreeMap;
use std::sync::Mutex;

use tokio::sync::watch;

use crate::limits;
use crate::store::Mailbox;

/// The mailbox a ping waits on and a tell notifies: a coin (denomination, serial number).
pub type MailboxId = Mailbox;

/// Per-mailbox wake-ups for parked pings. Lives in the [`crate::env::Env`] (`env.watch()`).
#[derive(Debug, Default)]
pub struct InboxWatch {
    channels: Mutex<BTreeMap<MailboxId, watch::Sender<u64>>>,
}

/// One waiter's view of one mailbox's changes. Created by [`InboxWatch::subscribe`].
#[derive(Debug)]
pub struct InboxSubscription {
    mailbox: MailboxId,
    receiver: watch::Receiver<u64>,
}

impl InboxWatch {
    /// An empty watch.
    pub fn new() -> InboxWatch {
        InboxWatch::default()
    }

    fn channels(&self) -> std::sync::MutexGuard<'_, BTreeMap<MailboxId, watch::Sender<u64>>> {
        // A poisoned lock means a panic while the map was held: a bug, never an input.
        self.channels.lock().expect("inbox watch lock poisoned")
    }

    /// Starts watching `mailbox`: [`InboxSubscription::changed`] returns after the next
    /// [`InboxWatch::notify`] of it. Subscribe before the scan whose emptiness makes you wait.
    pub fn subscribe(&self, mailbox: MailboxId) -> InboxSubscription {
        let mut channels = self.channels();
        if channels.len() >= limits::WATCHED_MAILBOXES_SWEEP_COUNT {
            channels.retain(|_, sender| sender.receiver_count() > 0);
        }
        let receiver = channels
            .entry(mailbox)
            .or_insert_with(|| watch::channel(0).0)
            .subscribe();
        InboxSubscription { mailbox, receiver }
    }

    /// Something changed in `mailbox`'s inbox (a tell was renamed into it): wakes every
    /// subscription of that mailbox. Cheap when nobody waits.
    pub fn notify(&self, mailbox: MailboxId) {
        let mut channels = self.channels();
        let Some(sender) = channels.get(&mailbox) else {
            return;
        };
        if sender.receiver_count() == 0 {
            channels.remove(&mailbox);
            return;
        }
        sender.send_modify(|generation| *generation = generation.wrapping_add(1));
    }

    /// Number of mailboxes with a channel (some may have no live subscription left).
    pub fn watched_count(&self) -> usize {
        self.channels().len()
    }
}

impl InboxSubscription {
    /// The mailbox watched.
    pub fn mailbox(&self) -> MailboxId {
        self.mailbox
    }

    /// Whether a notify arrived that [`InboxSubscription::changed`] has not yet returned for.
    pub fn has_changed(&self) -> bool {
        self.receiver.has_changed().unwrap_or(false)
    }

    /// Waits for the next notify of the mailbox since the last return (or since subscribe).
    /// If the watch itself is gone (the server is shutting down) this never returns; waiters
    /// always race it against their own deadline.
    pub async fn changed(&mut self) {
        if self.receiver.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MAILBOX: MailboxId = MailboxId {
        denomination: 1,
        serial_number: 1000,
    };
    const OTHER: MailboxId = MailboxId {
        denomination: -1,
        serial_number: 1000,
    };

    async fn woke(subscription: &mut InboxSubscription) -> bool {
        tokio::time::timeout(Duration::from_millis(20), subscription.changed())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_notify_between_subscribe_and_wait_is_not_lost() {
        let watch = InboxWatch::new();
        let mut subscription = watch.subscribe(MAILBOX);
        assert!(!subscription.has_changed());
        watch.notify(MAILBOX);
        assert!(subscription.has_changed());
        assert!(woke(&mut subscription).await, "the earlier notify wakes");
        assert!(!woke(&mut subscription).await, "and only once");
        assert_eq!(subscription.mailbox(), MAILBOX);
    }

    #[tokio::test]
    async fn notify_wakes_only_its_mailbox_and_every_waiter() {
        let watch = InboxWatch::new();
        let mut one = watch.subscribe(MAILBOX);
        let mut two = watch.subscribe(MAILBOX);
        let mut other = watch.subscribe(OTHER);
        watch.notify(MAILBOX);
        assert!(woke(&mut one).await);
        assert!(woke(&mut two).await);
        assert!(!woke(&mut other).await);
    }

    #[tokio::test]
    async fn a_notify_before_subscribe_does_not_wake() {
        let watch = InboxWatch::new();
        watch.notify(MAILBOX);
        let mut late = watch.subscribe(MAILBOX);
        assert!(!woke(&mut late).await);
    }

    #[test]
    fn abandoned_channels_are_dropped() {
        let watch = InboxWatch::new();
        drop(watch.subscribe(MAILBOX));
        assert_eq!(watch.watched_count(), 1);
        watch.notify(MAILBOX);
        assert_eq!(watch.watched_count(), 0, "no waiter left: entry removed");
        watch.notify(MAILBOX);
        assert_eq!(watch.watched_count(), 0);
        for serial_number in 0..limits::WATCHED_MAILBOXES_SWEEP_COUNT as u32 {
            drop(watch.subscribe(MailboxId {
                denomination: 0,
                serial_number,
            }));
        }
        let _kept = watch.subscribe(MAILBOX);
        assert_eq!(
            watch.watched_count(),
            1,
            "the sweep keeps only live entries"
        );
    }
}
