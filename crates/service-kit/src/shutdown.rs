//! Stopping a process's background work (relays, consumers, sweepers):
//! [`BackgroundTasks`] spawns each task with a [`ShutdownSignal`], announces
//! the stop over one watch channel, and waits for every task to end its loop
//! — within a bound, so a stuck task cannot hold the process up for ever.
//! Dropping [`BackgroundTasks`] without [`BackgroundTasks::stop`] announces
//! the stop too (the signal fires when its sender is gone). Once every task
//! has ended, the process's databases get their last checkpoint and close
//! ([`BackgroundTasks::close_at_stop`]). [`serve_until`] is the stop of a
//! whole process: the HTTP server first, then its tasks, then its databases.

use std::future::Future;
use std::time::Duration;

use actix_web::dev::Server;
use sea_orm::DatabaseConnection;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long a stopping process waits for its background tasks (a consumer's
/// message in flight settled, a relay's batch marked) once its HTTP server
/// stopped: as long as actix gives the requests in flight.
pub const STOP_WITHIN: Duration = Duration::from_secs(30);

/// Serves until the server stops on its own (actix stops it on SIGTERM or
/// Ctrl-C) or `shutdown` resolves; then the server finishes the requests in
/// flight, and `tasks` stop within [`STOP_WITHIN`].
pub async fn serve_until(
    server: Server,
    tasks: BackgroundTasks,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let handle = server.handle();
    let mut server = std::pin::pin!(server);
    tokio::select! {
        served = server.as_mut() => served?,
        () = shutdown => {
            // The server handles the stop only while it is polled.
            let ((), served) = tokio::join!(handle.stop(true), server);
            served?;
        }
    }
    tasks.stop(STOP_WITHIN).await?;
    Ok(())
}

/// A process's HTTP server, bound and not yet serving, with the background
/// tasks beside it: what the gateway's and the embedded process's `build`
/// return for `main` (or a test) to run.
pub struct Serving {
    port: u16,
    server: Server,
    tasks: BackgroundTasks,
}

impl Serving {
    pub fn new(port: u16, server: Server, tasks: BackgroundTasks) -> Self {
        Self {
            port,
            server,
            tasks,
        }
    }

    /// The port the server is bound to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The background tasks running beside the server (for logs and tests).
    pub fn background_tasks(&self) -> Vec<&'static str> {
        self.tasks.names()
    }

    /// The databases checkpointed and closed once the tasks have stopped.
    pub fn databases_closed_at_stop(&self) -> Vec<&'static str> {
        self.tasks.databases_closed_at_stop()
    }

    /// Serves until SIGTERM or Ctrl-C, then stops the background tasks.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(std::future::pending()).await
    }

    /// Serves until SIGTERM, Ctrl-C or `shutdown`; then the server finishes
    /// the requests in flight and the background tasks stop.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        serve_until(self.server, self.tasks, shutdown).await
    }
}

/// What a background task waits on to know it should stop.
#[derive(Debug, Clone)]
pub struct ShutdownSignal(watch::Receiver<bool>);

impl ShutdownSignal {
    /// Resolves once the stop is announced (at once if it already was).
    pub async fn recv(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    pub fn is_announced(&self) -> bool {
        *self.0.borrow() || self.0.has_changed().is_err()
    }

    /// The signal as an owned future, for loops that take
    /// `shutdown: impl Future<Output = ()>`.
    pub async fn stopped(mut self) {
        self.recv().await
    }
}

/// Background tasks still running when the bound after the stop ran out;
/// they were aborted.
#[derive(Debug, thiserror::Error)]
#[error("background tasks still running {within:?} after the stop (aborted): {}", .tasks.join(", "))]
pub struct NotStopped {
    pub within: Duration,
    pub tasks: Vec<&'static str>,
}

/// The background tasks of one process and the stop they share.
#[derive(Debug)]
pub struct BackgroundTasks {
    announce: watch::Sender<bool>,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
    /// Closed after the tasks, by name ("identity").
    databases: Vec<(&'static str, DatabaseConnection)>,
}

impl Default for BackgroundTasks {
    fn default() -> Self {
        Self::new()
    }
}

impl BackgroundTasks {
    pub fn new() -> Self {
        Self {
            announce: watch::channel(false).0,
            tasks: Vec::new(),
            databases: Vec::new(),
        }
    }

    pub fn signal(&self) -> ShutdownSignal {
        ShutdownSignal(self.announce.subscribe())
    }

    /// Spawns `task` given the signal it must stop on; `name` says which
    /// one it is in logs and in [`NotStopped`].
    pub fn spawn<F, Fut>(&mut self, name: &'static str, task: F)
    where
        F: FnOnce(ShutdownSignal) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handle = tokio::spawn(task(self.signal()));
        self.tasks.push((name, handle));
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.tasks.iter().map(|(name, _)| *name).collect()
    }

    /// Registers a database the process writes to (its writing pool, as
    /// `crate::db::connect` returned it) for the stop's last step: after
    /// every task has ended, so no write races it,
    /// [`crate::db::checkpoint_and_close`] empties a SQLite file's log and
    /// ends its checkpoint task. Each process registers each of its
    /// databases once, where it registers its tasks.
    pub fn close_at_stop(&mut self, name: &'static str, db: DatabaseConnection) {
        self.databases.push((name, db));
    }

    pub fn databases_closed_at_stop(&self) -> Vec<&'static str> {
        self.databases.iter().map(|(name, _)| *name).collect()
    }

    /// Announces the stop and waits until every task has ended, `within` at
    /// most in all; then checkpoints and closes the registered databases.
    pub async fn stop(self, within: Duration) -> Result<(), NotStopped> {
        let _ = self.announce.send(true);
        let deadline = tokio::time::Instant::now() + within;
        let mut late = Vec::new();
        for (name, mut handle) in self.tasks {
            match tokio::time::timeout_at(deadline, &mut handle).await {
                Ok(Ok(())) => tracing::debug!(task = name, "background task stopped"),
                Ok(Err(e)) => tracing::error!(task = name, error = %e, "background task failed"),
                Err(_) => {
                    handle.abort();
                    late.push(name);
                }
            }
        }
        // A failed last checkpoint stops nothing: the log stays for the
        // next start to replay.
        for (name, db) in self.databases {
            match crate::db::checkpoint_and_close(&db).await {
                Ok(()) => tracing::debug!(database = name, "database checkpointed and closed"),
                Err(e) => {
                    tracing::warn!(
                        database = name,
                        error = format!("{e:#}"),
                        "the last checkpoint failed"
                    )
                }
            }
        }
        if late.is_empty() {
            Ok(())
        } else {
            Err(NotStopped {
                within,
                tasks: late,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stop_announces_and_waits_for_every_task() {
        let mut tasks = BackgroundTasks::new();
        let (ended, mut ends) = tokio::sync::mpsc::unbounded_channel();
        for name in ["first", "second"] {
            let ended = ended.clone();
            tasks.spawn(name, move |mut stop| async move {
                stop.recv().await;
                let _ = ended.send(name);
            });
        }
        drop(ended);
        tasks.stop(Duration::from_secs(2)).await.unwrap();
        let mut seen = Vec::new();
        while let Some(name) = ends.recv().await {
            seen.push(name);
        }
        seen.sort_unstable();
        assert_eq!(seen, ["first", "second"]);
    }

    #[tokio::test]
    async fn a_task_that_ignores_the_signal_is_named_and_aborted() {
        let mut tasks = BackgroundTasks::new();
        tasks.spawn("polite", |stop| stop.stopped());
        tasks.spawn("stuck", |_| std::future::pending());
        let error = tasks.stop(Duration::from_millis(100)).await.unwrap_err();
        assert_eq!(error.tasks, ["stuck"]);
    }

    #[tokio::test]
    async fn dropping_the_tasks_announces_the_stop() {
        let tasks = BackgroundTasks::new();
        let signal = tasks.signal();
        assert!(!signal.is_announced());
        drop(tasks);
        assert!(signal.is_announced());
        tokio::time::timeout(Duration::from_secs(1), signal.stopped())
            .await
            .unwrap();
    }
}
