//! Background tasks that must run as long as the process does.
//!
//! ```text
//!  run ──spawn(name, task)──▶ Tasks ──any task returns or panics──▶ died() = "reseal requests ended"
//!                                                                    └▶ not ready, exit non-zero
//! ```
//!
//! Watchers, request servers, the rotation timer and the HTTP server each loop until the
//! process stops; one that ends early would leave the replica running half-blind (a
//! rotation never answered, a key never published). Rather than carry on, the process
//! fails its readiness and exits, and its Deployment restarts it whole.

use std::collections::HashMap;
use std::future::Future;

use tokio::task::{Id, JoinSet};

/// The supervised tasks of one process.
#[derive(Default)]
pub struct Tasks {
    set: JoinSet<()>,
    names: HashMap<Id, &'static str>,
}

impl Tasks {
    /// Runs `task` in the background under `name`.
    pub fn spawn<F>(&mut self, name: &'static str, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = self.set.spawn(task);
        self.names.insert(handle.id(), name);
    }

    /// Waits until any task ends (they are all meant to run forever) and says which and
    /// how. Pending forever while there are none.
    pub async fn died(&mut self) -> String {
        match self.set.join_next_with_id().await {
            Some(Ok((id, ()))) => format!("{} ended", self.name(id)),
            Some(Err(e)) if e.is_panic() => format!("{} panicked", self.name(e.id())),
            Some(Err(e)) => format!("{} was cancelled", self.name(e.id())),
            None => std::future::pending().await,
        }
    }

    fn name(&self, id: Id) -> &'static str {
        self.names.get(&id).copied().unwrap_or("a background task")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn reports_the_task_that_ended_or_panicked() {
        let mut tasks = Tasks::default();
        tasks.spawn("forever", std::future::pending());
        let quiet = tokio::time::timeout(Duration::from_millis(50), tasks.died()).await;
        assert!(quiet.is_err(), "nothing died yet");
        tasks.spawn("key watcher", async {});
        assert_eq!(tasks.died().await, "key watcher ended");
        tasks.spawn("reseal requests", async { panic!("boom") });
        assert_eq!(tasks.died().await, "reseal requests panicked");
    }
}
