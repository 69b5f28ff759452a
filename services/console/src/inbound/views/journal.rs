//! An organization's event journal (filtered, a page at a time, oldest
//! first), one event with its trace and delivery status per service, and
//! the result of replaying one person's events. An event's personal values
//! are never on a page: only whether they are sealed, erased or withheld.

use chrono::DateTime;
use maud::{Markup, html};

use super::{Chrome, alert, csrf_field, org_nav, page, query_value, when};
use crate::domain::journal::{
    Consumer, Delivery, EventDetail, JournalEvent, JournalFilter, JournalQuery, PersonalValues,
    ReplayReport, event_types,
};
use crate::domain::models::{Organization, Page};

pub struct JournalView<'a> {
    pub csrf: &'a str,
    pub organization: &'a Organization,
    /// What was typed (the form shows it again).
    pub query: &'a JournalQuery,
    pub filter: &'a JournalFilter,
    pub page: &'a Page<JournalEvent, i64>,
    pub later_page: bool,
    /// The replay form's refusal, in words.
    pub error: Option<&'a str>,
}

pub fn journal_base(organization: &Organization) -> String {
    format!("/console/organizations/{}/journal", organization.id.0)
}

/// A person's events (the SCIM user id).
pub fn person_journal(organization: &Organization, person: &str) -> String {
    format!(
        "{}?person={}",
        journal_base(organization),
        query_value(person)
    )
}

/// The typed filter as a query string's start, for the pager.
fn filter_params(query: &JournalQuery) -> String {
    [
        ("type", &query.event_type),
        ("person", &query.person),
        ("since", &query.since),
        ("until", &query.until),
    ]
    .into_iter()
    .filter(|(_, v)| !v.trim().is_empty())
    .map(|(name, v)| format!("{name}={}&", query_value(v.trim())))
    .collect()
}

fn about(organization: &Organization, e: &JournalEvent) -> Markup {
    html! {
        (e.aggregate_kind) " "
        @if e.aggregate_kind == "user" {
            a href=(person_journal(organization, &e.aggregate_id)) title="This person's events" {
                code { (e.aggregate_id) }
            }
        } @else {
            code { (e.aggregate_id) }
        }
    }
}

pub fn journal(view: &JournalView<'_>) -> Markup {
    let o = view.organization;
    let base = journal_base(o);
    let q = view.query;
    let chosen = view.filter.event_type.as_deref();
    let params = filter_params(q);
    let filtered = view.filter != &JournalFilter::default();
    page(
        &format!("Journal of {}", o.name),
        &Chrome {
            csrf: Some(view.csrf),
        },
        html! {
            (org_nav(o, "Journal"))
            h1 { (o.name) " — event journal" }
            p class="hint" { "What the gateway recorded for the services, oldest first, 50 a page. Times are UTC." }
            @if let Some(person) = &view.filter.person {
                p { "One person's events (SCIM user " code { (person) } "). " a href=(base) { "All events" } }
            }
            @if let Some(error) = view.error { (alert(error)) }
            form method="get" action=(base) class="filters" role="search" {
                div {
                    label for="type" { "Event type" }
                    select id="type" name="type" {
                        option value="" selected[chosen.is_none()] { "Any" }
                        @for t in event_types() {
                            option value=(t) selected[chosen == Some(t)] { (t) }
                        }
                    }
                }
                div {
                    label for="person" { "Person (SCIM user id)" }
                    input id="person" name="person" type="search" value=(q.person.trim());
                }
                div {
                    label for="since" { "From (UTC)" }
                    input id="since" name="since" type="datetime-local" value=(q.since.trim());
                }
                div {
                    label for="until" { "Until (UTC)" }
                    input id="until" name="until" type="datetime-local" value=(q.until.trim());
                }
                button type="submit" class="secondary" { "Filter" }
            }
            @if view.page.items.is_empty() {
                p class="empty" {
                    @if view.later_page { "No more events." }
                    @else if filtered { "No event matches." }
                    @else { "No events yet: the gateway records one for each change the identity provider makes over SCIM." }
                }
            } @else {
                div class="table" tabindex="0" role="region" aria-label="Table of events" {
                    table {
                        thead { tr {
                            th scope="col" { "Seq" }
                            th scope="col" { "Occurred" }
                            th scope="col" { "Type" }
                            th scope="col" { "About" }
                            th scope="col" { "Version" }
                        } }
                        tbody {
                            @for e in &view.page.items {
                                tr {
                                    td { a href={ (base) "/" (e.id.0) } { (e.seq) } }
                                    td { (when(e.occurred_at)) }
                                    td { (e.event_type) }
                                    td { (about(o, e)) }
                                    td { (e.version) }
                                }
                            }
                        }
                    }
                }
            }
            nav class="pager" aria-label="Pages" {
                @if view.later_page { a href={ (base) "?" (params) } { "First page" } }
                @if let Some(next) = view.page.next_after {
                    a href={ (base) "?" (params) "after_seq=" (next) } rel="next" { "Next page" }
                }
            }
            @if let Some(person) = &view.filter.person {
                (replay_form(view.csrf, &base, person))
            }
        },
    )
}

fn replay_form(csrf: &str, base: &str, person: &str) -> Markup {
    html! {
        section aria-labelledby="replay-heading" {
            h2 id="replay-heading" { "Replay this person's events" }
            form method="post" action={ (base) "/replay" } class="card" {
                (csrf_field(csrf))
                input type="hidden" name="person" value=(person);
                p class="hint" {
                    "Every event of this person, in journal order, goes to the service's consumer again. "
                    "What it applied before is skipped and counted, never applied twice; no other service sees anything."
                }
                label for="replay-service" { "Service" }
                select id="replay-service" name="service" {
                    @for s in Consumer::ALL { option value=(s.name()) { (s.name()) } }
                }
                button type="submit" { "Replay to the service" }
            }
        }
    }
}

fn personal_words(p: PersonalValues) -> &'static str {
    match p {
        PersonalValues::Sealed => "Sealed under the person's key: not shown",
        PersonalValues::Erased => "Erased: the person was deleted and their key destroyed",
        PersonalValues::Withheld => "Kept readable by the first event schema: not shown here",
    }
}

fn delivery(service: Consumer, d: &Delivery) -> Markup {
    html! {
        @match d {
            Delivery::AppliedAt(at) => {
                "Applied at "
                @match DateTime::parse_from_rfc3339(at) {
                    Ok(t) => (when(t.with_timezone(&chrono::Utc))),
                    Err(_) => (at),
                }
            },
            Delivery::AppliedOrSuperseded => "Applied, or superseded by a later version (the service no longer keeps which, nor when)",
            Delivery::NotYet => "Not applied yet",
            Delivery::Superseded => "Superseded by a later version",
            Delivery::NotConsumed => "This service does not consume it",
            Delivery::Failed(why) => { "Failed: " (why) },
            Delivery::Unknown => { (service.name()) " did not answer: its status is unknown. Try again shortly." },
        }
    }
}

pub struct EventView<'a> {
    pub csrf: &'a str,
    pub detail: &'a EventDetail,
    pub jaeger_url: Option<&'a str>,
}

pub fn event(view: &EventView<'_>) -> Markup {
    let o = &view.detail.organization;
    let e = &view.detail.event;
    page(
        &format!("Event {}", e.seq),
        &Chrome {
            csrf: Some(view.csrf),
        },
        html! {
            (org_nav(o, "Journal"))
            h1 { "Event " (e.seq) ": " (e.event_type) }
            dl class="facts" {
                dt { "Event id" } dd { code { (e.id.0) } }
                dt { "Type" } dd { (e.event_type) " (schema version " (e.schema_version) ")" }
                dt { "About" } dd { (about(o, e)) ", version " (e.version) }
                dt { "Occurred" } dd { (when(e.occurred_at)) }
                dt { "Published" } dd {
                    @match e.published_at { Some(t) => (when(t)), None => "Not yet handed to the services" }
                }
                dt { "Trace" } dd {
                    @match (e.trace_id(), view.jaeger_url) {
                        (Some(trace), Some(jaeger)) => {
                            code { (trace) } " "
                            a href={ (jaeger) "/trace/" (trace) } { "Open the trace in Jaeger" }
                        },
                        (Some(trace), None) => code { (trace) },
                        (None, _) => "No trace recorded",
                    }
                }
                @for (label, value) in &e.facts {
                    dt { (label) } dd { (value) }
                }
                @if let Some(p) = e.personal {
                    dt { "Personal values" } dd { (personal_words(p)) }
                }
            }
            section aria-labelledby="delivery-heading" {
                h2 id="delivery-heading" { "Delivery" }
                p class="hint" { "Asked of each service now, without applying anything." }
                div class="table" tabindex="0" role="region" aria-label="Table of deliveries" {
                    table class="deliveries" {
                        thead { tr { th scope="col" { "Service" } th scope="col" { "Status" } } }
                        tbody {
                            @for (service, d) in &view.detail.deliveries {
                                tr { td { (service.name()) } td { (delivery(*service, d)) } }
                            }
                        }
                    }
                }
            }
            p { a href=(journal_base(o)) { "Back to the journal" } }
        },
    )
}

pub struct ReplayedView<'a> {
    pub csrf: &'a str,
    pub organization: &'a Organization,
    pub person: &'a str,
    pub service: Consumer,
    pub report: &'a ReplayReport,
}

pub fn replayed(view: &ReplayedView<'_>) -> Markup {
    let o = view.organization;
    let r = view.report;
    page(
        &format!("Replayed to {}", view.service.name()),
        &Chrome {
            csrf: Some(view.csrf),
        },
        html! {
            (org_nav(o, "Journal"))
            h1 { "Replayed to " (view.service.name()) }
            p class="notice" role="status" {
                (r.events) " event" @if r.events != 1 { "s" } " of SCIM user " code { (view.person) }
                " handed to " (view.service.name()) "."
            }
            @if r.counts.is_empty() {
                p class="empty" { "This person has no events in the journal." }
            } @else {
                ul class="outcomes" {
                    @for (outcome, n) in &r.counts {
                        li { strong { (n) } " " (outcome.words()) }
                    }
                }
            }
            @if !r.problems.is_empty() {
                h2 { "Problems" }
                ul {
                    @for (id, why) in &r.problems {
                        li { code { (id.0) } ": " (why) }
                    }
                }
            }
            p { a href=(person_journal(o, view.person)) { "Back to this person's events" } }
        },
    )
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use uuid::Uuid;

    use super::*;
    use crate::domain::journal::{EventId, OriginalEvent};
    use crate::domain::models::OrgId;

    fn detail(traceparent: Option<&str>) -> EventDetail {
        let org = OrgId(Uuid::nil());
        EventDetail {
            organization: Organization {
                id: org,
                name: "Acme".to_owned(),
                workspace_id: Uuid::nil(),
                workspace: None,
                default_role: "member".to_owned(),
                scim_included: true,
                created_at: Utc::now(),
            },
            event: JournalEvent {
                seq: 7,
                id: EventId(Uuid::nil()),
                event_type: "user.updated".to_owned(),
                schema_version: 2,
                org,
                aggregate_kind: "user".to_owned(),
                aggregate_id: "u-1".to_owned(),
                version: 2,
                occurred_at: Utc::now(),
                published_at: None,
                traceparent: traceparent.map(str::to_owned),
                facts: Vec::new(),
                personal: Some(PersonalValues::Erased),
                original: OriginalEvent(serde_json::Value::Null),
            },
            deliveries: vec![
                (Consumer::Identity, Delivery::Unknown),
                (Consumer::Team, Delivery::AppliedOrSuperseded),
            ],
        }
    }

    #[test]
    fn the_trace_links_to_jaeger_when_it_is_configured() {
        let traced = detail(Some(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ));
        let view = |detail, jaeger_url| {
            event(&EventView {
                csrf: "t",
                detail,
                jaeger_url,
            })
            .into_string()
        };
        let linked = view(&traced, Some("http://jaeger.test:16686"));
        assert!(
            linked.contains(
                "href=\"http://jaeger.test:16686/trace/4bf92f3577b34da6a3ce929d0e0e4736\""
            )
        );
        let alone = view(&traced, None);
        assert!(alone.contains("<code>4bf92f3577b34da6a3ce929d0e0e4736</code>"));
        assert!(!alone.contains("/trace/"));
        let untraced = view(&detail(None), Some("http://jaeger.test:16686"));
        assert!(untraced.contains("No trace recorded"));
        // A service that did not answer is said so, in words.
        assert!(untraced.contains("identity did not answer: its status is unknown."));
        assert!(untraced.contains("Erased: the person was deleted"));
    }
}
