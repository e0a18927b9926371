//! [`Background`]: work handed over without waiting (a reporter must never hold the run) and done in order
//! by one task; `flush` closes the queue and waits a bounded time for what is left.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub struct Background<T> {
    queue: Mutex<Option<mpsc::UnboundedSender<T>>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<T: Send + 'static> Background<T> {
    /// Spawns `worker` on the queue's receiving end; it ends when the queue is closed and drained.
    pub fn start<F, Fut>(worker: F) -> Self
    where
        F: FnOnce(mpsc::UnboundedReceiver<T>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (queue, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(worker(rx));
        Self { queue: Mutex::new(Some(queue)), task: Mutex::new(Some(task)) }
    }

    /// Queues `item`; dropped once the queue is flushed.
    pub fn send(&self, item: T) {
        if let Some(q) = lock(&self.queue).as_ref() {
            let _ = q.send(item);
        }
    }

    /// Stops taking work and waits (at most `limit`) until what is queued is done.
    pub async fn flush(&self, limit: Duration) {
        // Dropping the sender closes the queue: the worker ends after the last item.
        drop(lock(&self.queue).take());
        let task = lock(&self.task).take();
        if let Some(task) = task {
            let _ = tokio::time::timeout(limit, task).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn work_is_done_in_order_and_nothing_is_taken_after_a_flush() {
        let done = Arc::new(Mutex::new(Vec::new()));
        let seen = done.clone();
        let bg = Background::start(|mut rx: mpsc::UnboundedReceiver<u32>| async move {
            while let Some(n) = rx.recv().await {
                tokio::task::yield_now().await;
                lock(&seen).push(n);
            }
        });
        (1..=3).for_each(|n| bg.send(n));
        bg.flush(Duration::from_secs(5)).await;
        bg.send(4);
        assert_eq!(*lock(&done), vec![1, 2, 3]);
    }
}
