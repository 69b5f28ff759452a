//! The health page: each service (or the embedded process serving them
//! all) ready or not, each part in words, the queues' depths and the
//! journal's lag.

use maud::{Markup, html};

use super::{Chrome, page, when};
use crate::domain::health::{HealthPart, QueueDepths, Readiness, ServiceHealth};

pub fn health(csrf: &str, services: &[ServiceHealth]) -> Markup {
    let all_ready = services
        .iter()
        .all(|s| matches!(s.state, Readiness::Ready | Readiness::CatchingUp));
    page(
        "Health",
        &Chrome { csrf: Some(csrf) },
        html! {
            h1 { "Health" }
            @if all_ready {
                p class="notice" role="status" id="health-verdict" { "Every service is ready." }
            } @else {
                p class="alert" role="alert" id="health-verdict" { "Not every service is ready: see below." }
            }
            p class="hint" { "As each service's readiness check answered when this page was made; reload to ask again." }
            @for service in services {
                (service_section(service))
            }
        },
    )
}

fn title(service: &ServiceHealth) -> String {
    match service.services.as_slice() {
        [one] => match *one {
            "gateway" => "The gateway".to_owned(),
            other => format!("{}{}", other[..1].to_uppercase(), &other[1..]),
        },
        many => format!("The embedded process ({})", many.join(", ")),
    }
}

fn service_section(service: &ServiceHealth) -> Markup {
    let title = title(service);
    let id = format!("health-{}", service.services.join("-"));
    html! {
        section class="health" id=(id) aria-labelledby={ (id) "-title" } {
            h2 id={ (id) "-title" } { (title) }
            @match &service.state {
                Readiness::Ready => p class="state ok" { strong { "Ready." } }
                Readiness::CatchingUp => p class="state ok" {
                    strong { "Ready," } " still catching up on events its new queue missed."
                }
                Readiness::NotReady { detail } => p class="state bad" {
                    strong { "Not ready: " } (detail)
                }
                Readiness::NotAnswering { why } => p class="state bad" {
                    strong { "Not answering: " } (why) "."
                }
            }
            @if !service.parts.is_empty() {
                ul class="parts" {
                    @for part in &service.parts {
                        li { (part_words(part)) }
                    }
                }
            }
            @let queues: Vec<&QueueDepths> = service.parts.iter().filter_map(|p| match p {
                HealthPart::Consumer { queue: Some(q), .. } => Some(q),
                _ => None,
            }).collect();
            @if !queues.is_empty() {
                div class="table" tabindex="0" role="region" aria-label={ "Table of queue depths: " (title) } {
                    table {
                        caption { "Queue depths" }
                        thead { tr {
                            th scope="col" { "Queue" } th scope="col" { "Ready" }
                            th scope="col" { "Retrying" } th scope="col" { "Dead" } th scope="col" { "Consumers" }
                        } }
                        tbody { @for q in queues {
                            tr { th scope="row" { (q.name) } td { (q.ready) } td { (q.retrying) } td { (q.dead) } td { (q.consumers) } }
                        } }
                    }
                }
            }
        }
    }
}

fn part_words(part: &HealthPart) -> Markup {
    match part {
        HealthPart::Database { reachable: true } => html! { "Database: answers." },
        HealthPart::Database { reachable: false } => {
            html! { strong { "Database: unreachable." } }
        }
        HealthPart::Journal(lag) => html! {
            span class="journal" {
                "Journal: "
                @if lag.unpublished == 0 {
                    "every entry is published to the services."
                } @else {
                    (lag.unpublished) " entries wait to be published"
                    @if let Some(oldest) = lag.oldest_unpublished_at {
                        ", the oldest since " (when(oldest))
                    }
                    "."
                }
                @match lag.relay_held {
                    Some(true) => " This process's relay holds the journal's lease.",
                    Some(false) => " This process's relay does not publish (another replica's holds the lease, or no relay runs here).",
                    None => "",
                }
            }
        },
        HealthPart::Consumer { consuming, queue } => html! {
            "Events consumer"
            @if let Some(q) = queue { " (queue " (q.name) ")" }
            ": "
            @if *consuming { "consuming." } @else { strong { "not consuming from the broker." } }
        },
        HealthPart::RequestServer { queue, consuming } => html! {
            "Request server (queue " (queue) "): "
            @if *consuming { "answering." } @else { strong { "not consuming its request queue." } }
        },
        HealthPart::OutboxRelay {
            running,
            lease_held,
            failure,
        } => html! {
            "Outbox relay: "
            @if *running { "running" } @else { strong { "not running" } }
            @if *running {
                @if *lease_held { ", publishing" } @else { ", another replica publishes" }
            }
            "."
            @if let Some(failure) = failure { " Its last attempt failed: " (failure) "." }
        },
        HealthPart::Other { name, report } => html! { (name) ": " code { (report) } },
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::health::JournalLag;

    #[test]
    fn a_journal_behind_says_how_many_entries_wait_and_since_when() {
        let oldest = chrono::Utc
            .with_ymd_and_hms(2026, 12, 5, 9, 30, 0)
            .single()
            .unwrap_or_default();
        let gateway = ServiceHealth {
            services: vec!["gateway"],
            state: Readiness::Ready,
            parts: vec![HealthPart::Journal(JournalLag {
                unpublished: 42,
                oldest_unpublished_at: Some(oldest),
                relay_held: Some(true),
            })],
        };
        let broken = ServiceHealth {
            services: vec!["identity"],
            state: Readiness::NotReady {
                detail: "queue: not consuming from the broker".into(),
            },
            parts: vec![HealthPart::Database { reachable: false }],
        };
        let page = health("token", &[gateway, broken]).into_string();
        for said in [
            "The gateway</h2>",
            "Journal: 42 entries wait to be published, the oldest since <time datetime=\"2026-12-05T09:30:00Z\">2026-12-05 09:30 UTC</time>.",
            "Identity</h2>",
            "<strong>Not ready: </strong>queue: not consuming from the broker",
            "<strong>Database: unreachable.</strong>",
            "Not every service is ready",
        ] {
            assert!(page.contains(said), "{said}: {page}");
        }
    }
}
