//! Live updates across replicas: a connection of its own `LISTEN`s on the events channel,
//! and every notification (an insert committed through any replica) tells this replica's
//! live dashboards and cached figures. When the connection breaks it is made again, and a
//! change is announced then, since notifications sent meanwhile are lost.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::broadcast;
use tokio_postgres::AsyncMessage;

use super::CHANNEL;
use super::tls::Target;
use crate::storage::StoreWork;

/// How long to wait before connecting again.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// Listens until the store is dropped.
pub(super) async fn run(target: Target, changes: broadcast::Sender<()>, work: Arc<StoreWork>) {
    let announce = || {
        work.changes.fetch_add(1, Ordering::Release);
        let _ = changes.send(());
    };
    let mut connected_before = false;
    loop {
        match target.connect().await {
            Ok((client, mut connection)) => {
                let (told, mut notifications) = tokio::sync::mpsc::unbounded_channel();
                let driver = tokio::spawn(async move {
                    let mut messages = futures_util::stream::poll_fn(move |context| {
                        connection.poll_message(context)
                    });
                    while let Some(Ok(message)) = messages.next().await {
                        if let AsyncMessage::Notification(_) = message
                            && told.send(()).is_err()
                        {
                            return;
                        }
                    }
                });
                match client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
                    Ok(()) => {
                        if connected_before {
                            announce();
                        }
                        connected_before = true;
                        while notifications.recv().await.is_some() {
                            announce();
                        }
                    }
                    Err(error) => tracing::warn!("could not listen for new events: {error}"),
                }
                driver.abort();
            }
            Err(error) => tracing::debug!(
                "could not connect to listen for new events: {}",
                super::tls::explain(&error).unwrap_or_else(|| error.to_string())
            ),
        }
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}
