//! Running many requests of one task concurrently, with a bound, in a deterministic order.
//!
//! A send uploads N+1 stripes per file and a download fetches them; both want several
//! requests in flight without spawning tasks or OS threads. [`join_bounded`] polls up to
//! `limit` futures inside the calling task, always in index order, and returns their outputs
//! in index order. Under turmoil's seeded scheduler the interleaving is therefore a function
//! of the seed alone.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;

/// Runs `futures` with at most `limit` in flight at once, starting them in index order, and
/// returns every output in index order.
pub(crate) async fn join_bounded<F: Future>(futures: Vec<F>, limit: usize) -> Vec<F::Output> {
    assert!(limit >= 1, "a concurrency limit is at least 1");
    let count = futures.len();
    let mut waiting = futures.into_iter().enumerate();
    let mut in_flight: Vec<(usize, Pin<Box<F>>)> = Vec::with_capacity(limit.min(count));
    let mut outputs: Vec<Option<F::Output>> = (0..count).map(|_| None).collect();
    poll_fn(|cx| loop {
        while in_flight.len() < limit {
            match waiting.next() {
                Some((index, future)) => in_flight.push((index, Box::pin(future))),
                None => break,
            }
        }
        if in_flight.is_empty() {
            return Poll::Ready(());
        }
        let in_flight_before = in_flight.len();
        let mut position = 0;
        while position < in_flight.len() {
            let (index, future) = &mut in_flight[position];
            match future.as_mut().poll(cx) {
                Poll::Ready(output) => {
                    assert!(outputs[*index].is_none());
                    outputs[*index] = Some(output);
                    in_flight.remove(position);
                }
                Poll::Pending => position += 1,
            }
        }
        if in_flight.len() == in_flight_before {
            return Poll::Pending;
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|output| output.expect("join_bounded finishes every future"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn keeps_order_and_bound() {
        let running = Arc::new(AtomicUsize::new(0));
        let running_max = Arc::new(AtomicUsize::new(0));
        let futures: Vec<_> = (0..10u64)
            .map(|index| {
                let running = running.clone();
                let running_max = running_max.clone();
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    running_max.fetch_max(now, Ordering::SeqCst);
                    // Later futures finish first, so outputs complete out of order.
                    tokio::time::sleep(Duration::from_millis(100 - index * 7)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    index * 2
                }
            })
            .collect();
        let outputs = join_bounded(futures, 3).await;
        assert_eq!(outputs, (0..10).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(running_max.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn empty_and_ready_futures() {
        let none: Vec<std::future::Ready<u8>> = Vec::new();
        assert!(join_bounded(none, 1).await.is_empty());
        let ready: Vec<_> = (0..5).map(std::future::ready).collect();
        assert_eq!(join_bounded(ready, 1).await, vec![0, 1, 2, 3, 4]);
    }
}
