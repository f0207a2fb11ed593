//! Running many requests of one task concurrently, with a bound, in a deterministic order.
//!
//! A send uploads N+1 stripes per file and a download fetches them; both want several
//! requests in flight without spawning tasks or OS threads. [`join_bounded`] polls up to
//! `limit` futures inside the calling task, always in index order, and returns their outputs
//! in index order. Under turmoil's seeded scheduler the interleaving is therefore a function
//! of the seed alone.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// Runs `futures` with at most `limit` in flight at once, starting them in index order, and
/// returns every output in index order.
///
/// Each future in flight gets its own waker, which marks it woken and wakes the calling
/// task; a poll of the calling task polls, in index order, only the futures marked woken
/// (and each new one once). A future that is not marked has registered its waker and has
/// nothing new to say, so polling it could only return `Pending` again: skipping it changes
/// no outcome and saves a poll of every request in flight on every wake of any of them.
///
/// The futures come boxed: a request's future is about 2 KiB, and one gathered unboxed in a
/// `Vec` is moved twice more before it runs (out of the `Vec`, into its box).
pub(crate) async fn join_bounded<F: Future + ?Sized>(
    futures: Vec<Pin<Box<F>>>,
    limit: usize,
) -> Vec<F::Output> {
    assert!(limit >= 1, "a concurrency limit is at least 1");
    let count = futures.len();
    let parent = Arc::new(Mutex::new(None::<Waker>));
    let mut waiting = futures.into_iter().enumerate();
    let mut in_flight: Vec<Slot<F>> = Vec::with_capacity(limit.min(count));
    let mut outputs: Vec<Option<F::Output>> = (0..count).map(|_| None).collect();
    poll_fn(|cx| {
        remember_parent(&parent, cx);
        loop {
            while in_flight.len() < limit {
                match waiting.next() {
                    Some((index, future)) => in_flight.push(Slot::new(index, future, &parent)),
                    None => break,
                }
            }
            if in_flight.is_empty() {
                return Poll::Ready(());
            }
            let in_flight_before = in_flight.len();
            let mut position = 0;
            while position < in_flight.len() {
                match in_flight[position].poll_if_woken() {
                    Some(output) => {
                        let index = in_flight.remove(position).index;
                        assert!(outputs[index].is_none());
                        outputs[index] = Some(output);
                    }
                    None => position += 1,
                }
            }
            if in_flight.len() == in_flight_before {
                return Poll::Pending;
            }
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|output| output.expect("join_bounded finishes every future"))
        .collect()
}

/// Keeps the waker of the task that runs [`join_bounded`], for the slots' wakers to wake.
fn remember_parent(parent: &Mutex<Option<Waker>>, cx: &Context<'_>) {
    let mut parent = parent.lock().expect("join waker lock poisoned");
    if !parent
        .as_ref()
        .is_some_and(|waker| waker.will_wake(cx.waker()))
    {
        *parent = Some(cx.waker().clone());
    }
}

/// One future in flight, with the waker it is polled with.
struct Slot<F: Future + ?Sized> {
    index: usize,
    future: Pin<Box<F>>,
    wake: Arc<SlotWake>,
    waker: Waker,
}

impl<F: Future + ?Sized> Slot<F> {
    fn new(index: usize, future: Pin<Box<F>>, parent: &Arc<Mutex<Option<Waker>>>) -> Self {
        let wake = Arc::new(SlotWake {
            woken: AtomicBool::new(true),
            parent: Arc::clone(parent),
        });
        let waker = Waker::from(Arc::clone(&wake));
        Slot {
            index,
            future,
            wake,
            waker,
        }
    }

    /// The output, if the future was woken (or never polled) and is now ready.
    fn poll_if_woken(&mut self) -> Option<F::Output> {
        if !self.wake.woken.swap(false, Ordering::AcqRel) {
            return None;
        }
        let mut cx = Context::from_waker(&self.waker);
        match self.future.as_mut().poll(&mut cx) {
            Poll::Ready(output) => Some(output),
            Poll::Pending => None,
        }
    }
}

/// The waker of one slot: marks the slot woken, then wakes the joining task.
struct SlotWake {
    woken: AtomicBool,
    parent: Arc<Mutex<Option<Waker>>>,
}

impl Wake for SlotWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        let parent = self.parent.lock().expect("join waker lock poisoned");
        if let Some(waker) = parent.as_ref() {
            waker.wake_by_ref();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn keeps_order_and_bound() {
        let running = Arc::new(AtomicUsize::new(0));
        let running_max = Arc::new(AtomicUsize::new(0));
        let futures: Vec<_> = (0..10u64)
            .map(|index| {
                let running = running.clone();
                let running_max = running_max.clone();
                Box::pin(async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    running_max.fetch_max(now, Ordering::SeqCst);
                    // Later futures finish first, so outputs complete out of order.
                    tokio::time::sleep(Duration::from_millis(100 - index * 7)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    index * 2
                })
            })
            .collect();
        let outputs = join_bounded(futures, 3).await;
        assert_eq!(outputs, (0..10).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(running_max.load(Ordering::SeqCst), 3);
    }

    /// A future that counts its polls and waits for `ready`.
    struct Counted {
        polls: Arc<AtomicUsize>,
        ready: tokio::sync::oneshot::Receiver<u64>,
    }

    impl Future for Counted {
        type Output = u64;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
            self.polls.fetch_add(1, Ordering::SeqCst);
            Pin::new(&mut self.ready)
                .poll(cx)
                .map(|value| value.expect("sent"))
        }
    }

    #[tokio::test]
    async fn polls_only_the_futures_that_were_woken() {
        let polls = Arc::new(AtomicUsize::new(0));
        let (send, ready) = tokio::sync::oneshot::channel();
        let waiter = Box::pin(Counted {
            polls: polls.clone(),
            ready,
        }) as Pin<Box<dyn Future<Output = u64>>>;
        let busy = Box::pin(async move {
            // Each yield wakes the joining task: the waiter must not be polled for them.
            for _ in 0..20 {
                tokio::task::yield_now().await;
            }
            send.send(7).expect("waiter alive");
            1u64
        }) as Pin<Box<dyn Future<Output = u64>>>;
        assert_eq!(join_bounded(vec![waiter, busy], 2).await, vec![7, 1]);
        assert_eq!(
            polls.load(Ordering::SeqCst),
            2,
            "once to start, once when woken"
        );
    }

    #[tokio::test]
    async fn empty_and_ready_futures() {
        let none: Vec<Pin<Box<std::future::Ready<u8>>>> = Vec::new();
        assert!(join_bounded(none, 1).await.is_empty());
        let ready: Vec<_> = (0..5)
            .map(|value| Box::pin(std::future::ready(value)))
            .collect();
        assert_eq!(join_bounded(ready, 1).await, vec![0, 1, 2, 3, 4]);
    }
}
