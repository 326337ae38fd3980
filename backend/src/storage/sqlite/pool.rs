//! The read side: a few connections (WAL lets them read beside the writer), each query on a
//! blocking thread, and a query whose caller went away — a client that closed its
//! connection, so axum dropped its handler — interrupted instead of running on.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, InterruptHandle};
use tokio::sync::Semaphore;

use super::database;
use super::schema::open_connection;
use crate::storage::{BoxFuture, StoreError, StoreWork};

/// Read connections, handed out one query at a time.
#[derive(Debug)]
pub(super) struct ReadPool {
    idle: Mutex<Vec<Connection>>,
    /// One per connection: a query waits here (cancellably) for a free connection.
    free: Arc<Semaphore>,
    work: Arc<StoreWork>,
}

impl ReadPool {
    pub(super) fn open(path: &Path, size: usize, work: Arc<StoreWork>) -> Result<Self, StoreError> {
        let connections = (0..size.max(1))
            .map(|_| open_connection(path))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            free: Arc::new(Semaphore::new(connections.len())),
            idle: Mutex::new(connections),
            work,
        })
    }

    /// Runs `query` on a free connection. Dropping the returned future before it resolves
    /// interrupts the query.
    pub(super) fn read<T: Send + 'static>(
        self: &Arc<Self>,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> BoxFuture<Result<T, StoreError>> {
        let pool = Arc::clone(self);
        Box::pin(async move {
            let permit = Arc::clone(&pool.free)
                .acquire_owned()
                .await
                .map_err(database)?;
            let connection = pool
                .take()
                .ok_or(StoreError::Database("no free read connection".to_owned()))?;
            let running = Arc::new(Running {
                finished: Mutex::new(false),
                interrupt: connection.get_interrupt_handle(),
            });
            let mut cancel = CancelOnDrop {
                running: Some(Arc::clone(&running)),
                work: Arc::clone(&pool.work),
            };
            let task_pool = Arc::clone(&pool);
            let answer = tokio::task::spawn_blocking(move || {
                let answer = query(&connection);
                *running.lock() = true;
                task_pool.give_back(connection);
                drop(permit);
                answer
            })
            .await;
            cancel.running = None;
            answer.map_err(database)?.map_err(database)
        })
    }

    fn take(&self) -> Option<Connection> {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop()
    }

    fn give_back(&self, connection: Connection) {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(connection);
    }
}

/// A query on its way, which its caller may interrupt until it has finished.
struct Running {
    /// Set (under the lock) once the query is over, so a late interrupt cannot reach the
    /// connection's next query.
    finished: Mutex<bool>,
    interrupt: InterruptHandle,
}

impl Running {
    fn lock(&self) -> std::sync::MutexGuard<'_, bool> {
        self.finished
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Interrupts the query if the future waiting for it is dropped first.
struct CancelOnDrop {
    running: Option<Arc<Running>>,
    work: Arc<StoreWork>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            let finished = running.lock();
            if !*finished {
                running.interrupt.interrupt();
                self.work.reads_cancelled.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
