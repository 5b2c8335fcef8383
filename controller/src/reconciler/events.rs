//! Events off the decision path. A reconcile hands each transition's Event to a bounded
//! queue and moves on; one task publishes them at a limited rate. When a burst of
//! transitions overflows the queue, the overflow is counted and dropped, never retried:
//! Events are a courtesy, the conditions are the record.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::Recorder;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::writer;
use crate::metrics::Metrics;
use crate::request::within;
use operationrun_core::decide::Transition;

/// How many Events wait at most, and how fast they are sent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EventLimits {
    /// Events waiting to be sent; beyond this, new ones are dropped and counted.
    pub queue: usize,
    /// Events sent per second, sustained.
    pub per_second: f64,
    /// Events that may be sent at once after a quiet period.
    pub burst: u32,
}

impl Default for EventLimits {
    fn default() -> Self {
        EventLimits {
            queue: 1024,
            per_second: 20.0,
            burst: 100,
        }
    }
}

struct Pending {
    run: ObjectReference,
    transition: Transition,
}

/// The sending side: cheap to clone, never waits.
#[derive(Clone)]
pub struct EventQueue {
    tx: mpsc::Sender<Pending>,
    metrics: Arc<Metrics>,
}

impl EventQueue {
    /// Starts the publishing task; it ends when every queue handle is dropped. Each Event
    /// is given at most `timeout`, so a hung connection delays the queue, never stops it.
    pub fn start(
        recorder: Recorder,
        metrics: Arc<Metrics>,
        limits: EventLimits,
        timeout: Duration,
    ) -> Self {
        let (tx, rx) = mpsc::channel(limits.queue.max(1));
        tokio::spawn(publish_loop(recorder, metrics.clone(), limits, timeout, rx));
        EventQueue { tx, metrics }
    }

    /// Queues one Event for a transition of `run`; drops (and counts) it when the queue is full.
    pub fn send(&self, run: ObjectReference, transition: Transition) {
        if self.tx.try_send(Pending { run, transition }).is_err() {
            self.metrics.events_dropped.inc();
        }
    }
}

/// A token bucket: `burst` tokens, refilled at `per_second`.
struct Bucket {
    tokens: f64,
    burst: f64,
    per_second: f64,
    last: Instant,
}

impl Bucket {
    fn new(limits: EventLimits) -> Self {
        let burst = f64::from(limits.burst.max(1));
        Bucket {
            tokens: burst,
            burst,
            per_second: if limits.per_second > 0.0 {
                limits.per_second
            } else {
                1.0
            },
            last: Instant::now(),
        }
    }

    /// Waits until a token is available and takes it.
    async fn take(&mut self) {
        loop {
            let now = Instant::now();
            let earned = now.duration_since(self.last).as_secs_f64() * self.per_second;
            self.tokens = (self.tokens + earned).min(self.burst);
            self.last = now;
            if self.tokens >= 1.0 {
                self.tokens -= 1.0;
                return;
            }
            let wait = (1.0 - self.tokens) / self.per_second;
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        }
    }
}

async fn publish_loop(
    recorder: Recorder,
    metrics: Arc<Metrics>,
    limits: EventLimits,
    timeout: Duration,
    mut rx: mpsc::Receiver<Pending>,
) {
    let mut bucket = Bucket::new(limits);
    while let Some(pending) = rx.recv().await {
        bucket.take().await;
        let publish = writer::publish(&recorder, &pending.run, &pending.transition);
        match within("event", timeout, publish).await {
            Ok(()) => {
                let kind = if pending.transition.warning {
                    "Warning"
                } else {
                    "Normal"
                };
                metrics
                    .events
                    .get_or_create(&crate::metrics::EventLabel {
                        r#type: kind.into(),
                    })
                    .inc();
            }
            Err(e) => {
                metrics.event_errors.inc();
                tracing::warn!(
                    namespace = pending.run.namespace.as_deref().unwrap_or_default(),
                    name = pending.run.name.as_deref().unwrap_or_default(),
                    error = %e,
                    "could not publish event"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_bucket_lets_a_burst_through_then_paces() {
        let mut bucket = Bucket::new(EventLimits {
            queue: 10,
            per_second: 10.0,
            burst: 5,
        });
        let start = Instant::now();
        for _ in 0..5 {
            bucket.take().await;
        }
        assert!(start.elapsed() < Duration::from_millis(1));
        for _ in 0..10 {
            bucket.take().await;
        }
        let paced = start.elapsed();
        assert!(
            paced >= Duration::from_millis(990) && paced < Duration::from_millis(1100),
            "{paced:?}"
        );
    }
}
