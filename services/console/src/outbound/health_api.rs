//! The services' `/readyz` over HTTP: each distinct address asked once (in
//! the embedded process the four services share one, and its `/readyz` is
//! the process's), the body read whatever the status (503 comes with the
//! report of what is not ready), turned into the health page's model. A
//! process that does not answer, or answers something else than a
//! readiness report, is "not answering", with why.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::admin_api::AdminApis;
use crate::domain::health::{HealthPart, JournalLag, QueueDepths, Readiness, ServiceHealth};
use crate::domain::ports::PlatformHealth;

/// How long one `/readyz` may take: a health page should not wait for the
/// admin calls' longer timeout.
const READYZ_TIMEOUT: Duration = Duration::from_secs(3);

impl PlatformHealth for AdminApis {
    async fn health(&self) -> Vec<ServiceHealth> {
        let urls = &self.urls;
        let mut addresses: Vec<(&str, Vec<&'static str>)> = Vec::new();
        for (service, url) in [
            ("gateway", &urls.gateway),
            ("identity", &urls.identity),
            ("team", &urls.team),
            ("licensing", &urls.licensing),
        ] {
            match addresses.iter_mut().find(|(u, _)| *u == url.as_str()) {
                Some((_, services)) => services.push(service),
                None => addresses.push((url.as_str(), vec![service])),
            }
        }
        let asked = addresses.into_iter().map(|(url, services)| async move {
            let (state, parts) = self.readyz(url).await;
            ServiceHealth {
                services,
                state,
                parts,
            }
        });
        futures_util::future::join_all(asked).await
    }
}

impl AdminApis {
    async fn readyz(&self, base: &str) -> (Readiness, Vec<HealthPart>) {
        let url = format!("{base}/readyz");
        let not_answering = |why: String| (Readiness::NotAnswering { why }, Vec::new());
        let response = match self.http.get(&url).timeout(READYZ_TIMEOUT).send().await {
            Ok(response) => response,
            Err(e) => {
                tracing::warn!(%url, error = %e, "no readiness answer");
                let why = if e.is_timeout() {
                    "no answer within 3 seconds"
                } else {
                    "no answer (the connection failed)"
                };
                return not_answering(why.to_owned());
            }
        };
        let status = response.status();
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(%url, error = %e, "readiness answer cut off");
                return not_answering("the answer was cut off".to_owned());
            }
        };
        let Ok(Value::Object(report)) = serde_json::from_slice::<Value>(&body) else {
            return not_answering(format!("answered {status} without a readiness report"));
        };
        let state = match report.get("status").and_then(Value::as_str) {
            Some("ready") if status.is_success() => Readiness::Ready,
            Some("catching_up") if status.is_success() => Readiness::CatchingUp,
            _ if status.is_success() => Readiness::Ready,
            _ => Readiness::NotReady {
                detail: report
                    .get("detail")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("answered {status}")),
            },
        };
        (state, parts(&report))
    }
}

fn u64_of(report: &Value, key: &str) -> u64 {
    report.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn bool_of(report: &Value, key: &str) -> bool {
    report.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// The parts of a `/readyz` body (service_kit::readiness for the consuming
/// services, the gateway's own for the gateway).
fn parts(report: &Map<String, Value>) -> Vec<HealthPart> {
    let mut parts = Vec::new();
    for (name, value) in report {
        let part = match name.as_str() {
            "status" | "detail" | "catch_up" => continue,
            "database" => HealthPart::Database {
                reachable: value.as_str() == Some("ok"),
            },
            "journal" => HealthPart::Journal(JournalLag {
                unpublished: u64_of(value, "unpublished"),
                oldest_unpublished_at: value
                    .get("oldest_unpublished_at")
                    .and_then(Value::as_str)
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&Utc)),
                relay_held: value.get("relay_held").and_then(Value::as_bool),
            }),
            "queue" => HealthPart::Consumer {
                consuming: bool_of(value, "consuming"),
                queue: value
                    .get("name")
                    .and_then(Value::as_str)
                    .map(|queue| QueueDepths {
                        name: queue.to_owned(),
                        ready: u64_of(value, "ready"),
                        retrying: u64_of(value, "retrying"),
                        dead: u64_of(value, "dead"),
                        consumers: u64_of(value, "consumers"),
                    }),
            },
            _ if value.get("queue").is_some() && value.get("consuming").is_some() => {
                HealthPart::RequestServer {
                    queue: value["queue"].as_str().unwrap_or_default().to_owned(),
                    consuming: bool_of(value, "consuming"),
                }
            }
            _ if value.get("running").is_some() => HealthPart::OutboxRelay {
                running: bool_of(value, "running"),
                lease_held: bool_of(value, "lease_held"),
                failure: value
                    .get("failure")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            },
            _ => HealthPart::Other {
                name: name.clone(),
                report: value.to_string(),
            },
        };
        parts.push(part);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_consuming_services_report_becomes_its_parts() {
        let report = json!({
            "status": "unavailable",
            "database": "ok",
            "queue": {"name": "licensing", "ready": 3, "retrying": 1, "dead": 2,
                      "consumers": 1, "consuming": true, "sampled_ms_ago": 10},
            "seat_server": {"queue": "licensing.seats", "consuming": false},
            "outbox_relay": {"running": true, "lease_held": false, "failure": null},
            "detail": "seat_server: not consuming its request queue licensing.seats",
        });
        let Value::Object(report) = report else {
            unreachable!()
        };
        let parts = parts(&report);
        assert!(parts.contains(&HealthPart::Database { reachable: true }));
        assert!(parts.contains(&HealthPart::Consumer {
            consuming: true,
            queue: Some(QueueDepths {
                name: "licensing".into(),
                ready: 3,
                retrying: 1,
                dead: 2,
                consumers: 1,
            }),
        }));
        assert!(parts.contains(&HealthPart::RequestServer {
            queue: "licensing.seats".into(),
            consuming: false,
        }));
        assert!(parts.contains(&HealthPart::OutboxRelay {
            running: true,
            lease_held: false,
            failure: None,
        }));
        assert_eq!(parts.len(), 4);
    }
}
