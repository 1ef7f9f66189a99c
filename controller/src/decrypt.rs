//! Decryption off the async runtime: unsealing and re-sealing run on blocking threads,
//! a few at a time, so probes, metrics, lease renewal, watches and shutdown never wait
//! behind CPU work.
//!
//! ```text
//!  reconcile / ResealRequest ──bytes permits (memory)──▶ cpu permit ──▶ spawn_blocking(f)
//!                                   ≤ memory budget        ≤ workers      (core: bounded cost)
//! ```
//!
//! Both semaphores are fair (first come, first served). The memory permits are held by
//! the caller for as long as it keeps what `f` returned (plaintext until the Secret is
//! written), so the plaintext held at once stays under the budget however many
//! reconciliations run.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes of sealed input that may be in work at once, counted in KiB: a few of the
/// largest objects, far under the Deployment's memory limit.
const MEMORY_BUDGET_KIB: u32 = 24 * 1024;

/// Runs CPU-bound closures on blocking threads with bounded parallelism and memory.
#[derive(Clone)]
pub struct DecryptPool {
    cpu: Arc<Semaphore>,
    memory: Arc<Semaphore>,
}

/// The memory share of one piece of work, released when dropped.
#[must_use]
pub struct MemoryPermit(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

impl DecryptPool {
    /// A pool running at most `workers` closures at once (at least one).
    pub fn new(workers: usize) -> DecryptPool {
        DecryptPool {
            cpu: Arc::new(Semaphore::new(workers.max(1))),
            memory: Arc::new(Semaphore::new(MEMORY_BUDGET_KIB as usize)),
        }
    }

    /// One worker per core the process may use.
    pub fn per_core() -> DecryptPool {
        DecryptPool::new(Self::cores())
    }

    /// Cores the process may use, hence workers of [`DecryptPool::per_core`].
    pub fn cores() -> usize {
        std::thread::available_parallelism().map_or(1, usize::from)
    }

    /// Waits until `bytes` of input may be worked on; larger than the whole budget waits
    /// for all of it.
    pub async fn reserve(&self, bytes: usize) -> MemoryPermit {
        let kib = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX).clamp(1, MEMORY_BUDGET_KIB);
        MemoryPermit(self.memory.clone().acquire_many_owned(kib).await.ok())
    }

    /// Runs `f` on a blocking thread once a worker is free. `None` if the pool is closed
    /// or `f` panicked (the panic is logged by the runtime, never its message's data).
    pub async fn run<T, F>(&self, f: F) -> Option<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let _worker = self.cpu.clone().acquire_owned().await.ok()?;
        tokio::task::spawn_blocking(f).await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_at_most_workers_at_once_and_never_blocks_the_runtime() {
        let pool = DecryptPool::new(2);
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<_> = (0..6)
            .map(|_| {
                let (pool, running, peak) = (pool.clone(), running.clone(), peak.clone());
                tokio::spawn(async move {
                    pool.run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(100));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                })
            })
            .collect();
        // While every worker sleeps, the runtime still answers at once.
        let started = std::time::Instant::now();
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(started.elapsed() < Duration::from_millis(80), "the runtime waited behind CPU work");
        for job in jobs {
            assert!(job.await.unwrap().is_some());
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn memory_permits_bound_what_is_held_at_once() {
        let pool = DecryptPool::new(1);
        let big = pool.reserve(usize::MAX).await;
        let waiting = tokio::time::timeout(Duration::from_millis(50), pool.reserve(1024));
        assert!(waiting.await.is_err(), "the budget is spent until the first permit drops");
        drop(big);
        let _small = pool.reserve(1024).await;
        assert!(pool.run(|| 7).await == Some(7));
        assert_eq!(pool.run(|| -> u8 { panic!("boom") }).await, None);
    }
}
