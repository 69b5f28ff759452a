//! What a consuming service's `/readyz` covers: its database, the consumer
//! of its events and whatever else it serves (licensing: its seat server and
//! the relay of its outbox), each reported under its own name. The service
//! is ready only while every part is; otherwise `detail` names each part
//! that is not, and why.

use messaging::relay::RelayStatus;
use messaging_rabbitmq::consumer::{ConsumerHealth, QueueDepths};
use serde_json::{Map, Value, json};

use crate::catch_up::CatchUpProgress;

/// Where a consumer catching up reports its progress.
const CATCH_UP: &str = "catch_up";

/// A part of a service that `/readyz` watches, besides its database.
#[derive(Debug, Clone)]
pub enum ReadinessPart {
    /// The consumer of the service's event queue (with the depths it
    /// sampled): not ready while it is not consuming — unless it is still
    /// catching up on what its new queue missed (its queue is declared, so
    /// nothing is lost; the service says `catching_up`).
    EventConsumer {
        health: ConsumerHealth,
        catch_up: Option<CatchUpProgress>,
    },
    /// A request/reply server on `queue` (licensing's seat reservations):
    /// not ready while it is not consuming its request queue — callers'
    /// requests would wait there unanswered.
    RequestServer {
        queue: String,
        health: ConsumerHealth,
    },
    /// The relay of the service's outbox: not ready while it does not run.
    /// A relay that runs without its lease (another replica publishes) is
    /// ready, and so is one whose attempts fail: its `failure` is reported,
    /// but what it waits for (the broker, a consumer's queue not declared
    /// yet) is not this process's to fix, the events wait in the outbox, and
    /// taking the process out of service would not deliver them — as the
    /// gateway's journal lag, it is for alerts.
    OutboxRelay(RelayStatus),
}

impl ReadinessPart {
    /// The part's report, and what is wrong with it (None: ready).
    pub fn report(&self) -> (Value, Option<String>) {
        match self {
            Self::EventConsumer { health, catch_up } => {
                let consuming = health.is_consuming();
                let mut report = match health.queue_depths() {
                    Some(depths) => queue_json(&depths),
                    None => json!({}),
                };
                report["consuming"] = json!(consuming);
                let catching_up = catch_up.as_ref().filter(|c| c.is_catching_up());
                if let Some(progress) = catching_up {
                    report[CATCH_UP] = json!(progress.snapshot());
                }
                let problem = (!consuming && catching_up.is_none())
                    .then(|| "not consuming from the broker".to_owned());
                (report, problem)
            }
            Self::RequestServer { queue, health } => {
                let consuming = health.is_consuming();
                let report = json!({"queue": queue, "consuming": consuming});
                let problem =
                    (!consuming).then(|| format!("not consuming its request queue {queue}"));
                (report, problem)
            }
            Self::OutboxRelay(status) => {
                let failure = status.failure();
                let report = json!({
                    "running": status.running(),
                    "lease_held": status.held(),
                    "failure": failure,
                });
                let problem = (!status.running()).then(|| "not running".to_owned());
                (report, problem)
            }
        }
    }
}

/// The `/readyz` body over the database's answer and the named parts, and
/// whether the service is ready.
pub fn readiness(database: Result<(), String>, parts: &[(&str, ReadinessPart)]) -> (bool, Value) {
    let mut body = Map::new();
    let mut problems = Vec::new();
    match database {
        Ok(()) => {
            body.insert("database".into(), json!("ok"));
        }
        Err(e) => {
            body.insert("database".into(), json!("unreachable"));
            problems.push(format!("database: {e}"));
        }
    }
    for (name, part) in parts {
        let (report, problem) = part.report();
        body.insert((*name).to_owned(), report);
        if let Some(problem) = problem {
            problems.push(format!("{name}: {problem}"));
        }
    }
    let ready = problems.is_empty();
    let catch_up = body
        .values_mut()
        .find_map(|report| report.as_object_mut()?.remove(CATCH_UP));
    let status = match (ready, catch_up) {
        (false, _) => "unavailable",
        (true, Some(progress)) => {
            body.insert(CATCH_UP.into(), progress);
            "catching_up"
        }
        (true, None) => "ready",
    };
    body.insert("status".into(), json!(status));
    if !ready {
        body.insert("detail".into(), json!(problems.join("; ")));
    }
    (ready, Value::Object(body))
}

/// The queue depths as `/readyz` reports them.
fn queue_json(depths: &QueueDepths) -> Value {
    json!({
        "name": depths.queue,
        "ready": depths.ready,
        "retrying": depths.retrying,
        "dead": depths.dead,
        "consumers": depths.consumers,
        "sampled_ms_ago": depths.sampled_at.elapsed().as_millis() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_part_is_and_each_unready_part_is_named() {
        let consumer = ConsumerHealth::default();
        let seats = ConsumerHealth::default();
        let relay = RelayStatus::default();
        let parts = [
            (
                "queue",
                ReadinessPart::EventConsumer {
                    health: consumer,
                    catch_up: None,
                },
            ),
            (
                "seat_server",
                ReadinessPart::RequestServer {
                    queue: "licensing.seats".into(),
                    health: seats,
                },
            ),
            ("outbox_relay", ReadinessPart::OutboxRelay(relay)),
        ];
        let (ready, body) = readiness(Err("pool timed out".into()), &parts);
        assert!(!ready);
        assert_eq!(body["status"], "unavailable");
        assert_eq!(body["database"], "unreachable");
        assert_eq!(body["seat_server"]["consuming"], false);
        let detail = body["detail"].as_str().unwrap();
        for named in [
            "database: pool timed out",
            "queue: not consuming",
            "seat_server: not consuming its request queue licensing.seats",
            "outbox_relay: not running",
        ] {
            assert!(detail.contains(named), "{detail}");
        }

        let (ready, body) = readiness(Ok(()), &[]);
        assert!(ready);
        assert_eq!(body["status"], "ready");
        assert!(body.get("detail").is_none());
    }
}
