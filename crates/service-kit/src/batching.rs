//! Group commit for request handlers: whatever is submitted while earlier
//! batches are being handled waits and is handed over together, so a burst
//! costs one transaction per batch instead of one per request. Each submitter
//! gets its own result back. Used by licensing's seat reservations and the
//! gateway's user creates.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{mpsc, oneshot};

type Handler<T, R> =
    Arc<dyn Fn(Vec<T>) -> Pin<Box<dyn Future<Output = Vec<R>> + Send>> + Send + Sync>;

struct Waiting<T, R> {
    item: T,
    result: oneshot::Sender<R>,
}

/// Hands submitted items to a handler in batches of up to `max_batch`, with
/// up to `workers` batches handled at once.
pub struct Batcher<T, R> {
    queue: mpsc::Sender<Waiting<T, R>>,
    /// Taken by the first submission, which starts the workers: a batcher
    /// may be built outside a Tokio runtime.
    idle: Mutex<Option<Workers<T, R>>>,
}

struct Workers<T, R> {
    incoming: mpsc::Receiver<Waiting<T, R>>,
    handler: Handler<T, R>,
    max_batch: usize,
    count: usize,
}

impl<T: Send + 'static, R: Send + 'static> Batcher<T, R> {
    /// `handle` gets a batch and returns one result per item, in order.
    pub fn new<H, Fut>(max_batch: usize, workers: usize, handle: H) -> Self
    where
        H: Fn(Vec<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<R>> + Send + 'static,
    {
        let max_batch = max_batch.max(1);
        let (queue, incoming) = mpsc::channel(max_batch * 4);
        let handler: Handler<T, R> = Arc::new(move |batch| Box::pin(handle(batch)));
        Self {
            queue,
            idle: Mutex::new(Some(Workers {
                incoming,
                handler,
                max_batch,
                count: workers.max(1),
            })),
        }
    }

    /// The handler's result for `item`; `None` when the batcher stopped or
    /// the handler returned no result for it.
    pub async fn submit(&self, item: T) -> Option<R> {
        self.start();
        let (result, answer) = oneshot::channel();
        self.queue.send(Waiting { item, result }).await.ok()?;
        answer.await.ok()
    }

    fn start(&self) {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(workers) = idle else {
            return;
        };
        let incoming = Arc::new(tokio::sync::Mutex::new(workers.incoming));
        for _ in 0..workers.count {
            let incoming = Arc::clone(&incoming);
            let handler = Arc::clone(&workers.handler);
            let max_batch = workers.max_batch;
            tokio::spawn(async move {
                let mut waiting = Vec::with_capacity(max_batch);
                loop {
                    // One worker takes what waits; the others wait their turn
                    // while it hands its batch over.
                    let taken = incoming
                        .lock()
                        .await
                        .recv_many(&mut waiting, max_batch)
                        .await;
                    if taken == 0 {
                        return;
                    }
                    let (items, results): (Vec<T>, Vec<oneshot::Sender<R>>) =
                        waiting.drain(..).map(|w| (w.item, w.result)).unzip();
                    for (result, sender) in handler(items).await.into_iter().zip(results) {
                        // A submitter that gave up no longer listens.
                        let _ = sender.send(result);
                    }
                }
            });
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn concurrent_submissions_are_handled_together_and_answered_each() {
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&sizes);
        let batcher = Arc::new(Batcher::new(8, 1, move |batch: Vec<u32>| {
            seen.lock().unwrap().push(batch.len());
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                batch.into_iter().map(|n| n * 10).collect::<Vec<_>>()
            }
        }));
        let submissions = (0..20).map(|n| {
            let batcher = Arc::clone(&batcher);
            tokio::spawn(async move { batcher.submit(n).await })
        });
        let results: Vec<_> = futures_util::future::join_all(submissions).await;
        for (n, result) in results.into_iter().enumerate() {
            assert_eq!(result.unwrap(), Some(n as u32 * 10));
        }
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 20);
        assert!(sizes.iter().all(|&s| s <= 8), "{sizes:?}");
        assert!(sizes.len() < 20, "some were handled together: {sizes:?}");
    }

    #[tokio::test]
    async fn an_item_the_handler_gives_no_result_for_gets_none() {
        let batcher = Batcher::new(4, 1, |_batch: Vec<u32>| async { Vec::<u32>::new() });
        assert_eq!(batcher.submit(1).await, None);
    }
}
