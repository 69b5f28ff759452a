//! What the consumer loop and the request/reply server share about their
//! connection: telling that it broke.

use std::time::Duration;

use futures_util::StreamExt;
use lapin::Connection;

/// How often a connection's status is looked at, and how long closing one
/// may take.
pub(crate) const STATUS_CHECK: Duration = Duration::from_secs(1);

/// Resolves (with why) once the connection is broken: an error event, or a
/// status that is no longer "connected" (checked every second, since a
/// half-closed socket does not always end the consumer stream).
pub(crate) async fn broken<E>(connection: &Connection, events: &mut E) -> String
where
    E: futures_util::Stream<Item = lapin::Event> + Unpin,
{
    let mut status_check = tokio::time::interval(STATUS_CHECK);
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(lapin::Event::Error(e)) => return e.to_string(),
                Some(_) => {}
                None => return "the connection's events ended".into(),
            },
            _ = status_check.tick() => {
                if !connection.status().connected() {
                    return "the connection is no longer open".into();
                }
            }
        }
    }
}
