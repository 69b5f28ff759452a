//! The consuming services' dead letters (every organization's: a service's
//! letters are its own, not an organization's), with the forms that requeue
//! one or all, and what a requeue did, in words. A letter is shown by its
//! ids, type, error and attempts: never its event's personal values.

use maud::{Markup, html};

use super::{Chrome, csrf_field, notice, page};
use crate::domain::journal::{Consumer, RequeueReport, ServiceLetters};

pub struct DeadLettersView<'a> {
    pub csrf: &'a str,
    pub services: &'a [ServiceLetters],
    /// The requeue just done, and by which service.
    pub requeued: Option<(Consumer, &'a RequeueReport)>,
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A requeue's result in words.
pub fn requeue_words(service: Consumer, r: &RequeueReport) -> String {
    let mut parts = vec![
        format!("{} applied", plural(r.applied, "letter", "letters")),
        format!("{} already applied", r.already_applied),
    ];
    if r.erased > 0 {
        parts.push(format!(
            "{} of deleted persons handed over without personal values and removed",
            r.erased
        ));
    }
    let failing = r.still_failing.len() as u64;
    parts.push(format!(
        "{} still failing{}",
        failing,
        if failing > 0 { " (listed below)" } else { "" }
    ));
    format!("Requeued to {}: {}.", service.name(), parts.join(", "))
}

pub fn dead_letters(view: &DeadLettersView<'_>) -> Markup {
    page(
        "Dead letters",
        &Chrome {
            csrf: Some(view.csrf),
        },
        html! {
            h1 { "Dead letters" }
            p class="hint" {
                "Events a service gave up on after its retries, per service and for every organization. "
                "Requeue a letter once its cause is fixed: the service applies it through its consumer (never twice) "
                "and it leaves the list; one that fails again stays, with its new error."
            }
            @if let Some((service, report)) = view.requeued {
                (notice(&requeue_words(service, report)))
                @if !report.still_failing.is_empty() {
                    ul class="failing" {
                        @for (id, error) in &report.still_failing {
                            li { code { (id.0) } ": " (error) }
                        }
                    }
                }
            }
            @for s in view.services {
                (service_letters(view.csrf, s))
            }
        },
    )
}

fn service_letters(csrf: &str, s: &ServiceLetters) -> Markup {
    let name = s.service.name();
    let action = format!("/console/dead-letters/{name}/requeue");
    html! {
        section aria-labelledby={ "dead-" (name) } {
            h2 id={ "dead-" (name) } { (name) }
            @match &s.letters {
                None => p class="alert" role="alert" { (name) " did not answer; try again shortly." },
                Some(letters) if letters.is_empty() => p class="empty" { "No dead letters." },
                Some(letters) => {
                    div class="table" tabindex="0" role="region" aria-label={ "Table of " (name) "'s dead letters" } {
                        table {
                            thead { tr {
                                th scope="col" { "Event" }
                                th scope="col" { "Type" }
                                th scope="col" { "About" }
                                th scope="col" { "Error" }
                                th scope="col" { "Attempts" }
                                th scope="col" { "Requeue" }
                            } }
                            tbody {
                                @for l in letters {
                                    tr {
                                        td {
                                            @match l.org {
                                                Some(org) => a href={ "/console/organizations/" (org.0) "/journal/" (l.event.0) } { code { (l.event.0) } },
                                                None => code { (l.event.0) },
                                            }
                                            " (seq " (l.seq) ")"
                                        }
                                        td { (l.event_type) }
                                        td { code { (l.aggregate_id) } ", version " (l.version) }
                                        td { (l.error) }
                                        td { (l.attempts) }
                                        td {
                                            form method="post" action=(action) class="inline" {
                                                (csrf_field(csrf))
                                                input type="hidden" name="event_id" value=(l.event.0);
                                                button type="submit" class="secondary" aria-label={ "Requeue " (l.event.0) } { "Requeue" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    form method="post" action=(action) {
                        (csrf_field(csrf))
                        button type="submit" { "Requeue all of " (name) "'s letters" }
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::domain::journal::{DeadLetter, EventId};

    #[test]
    fn a_service_that_does_not_answer_and_a_requeue_are_said_in_words() {
        let letter = DeadLetter {
            event: EventId(Uuid::nil()),
            seq: 9,
            event_type: "user.updated".to_owned(),
            org: None,
            aggregate_id: "u-1".to_owned(),
            version: 3,
            error: "version 3 arrived before version 2".to_owned(),
            attempts: 3,
        };
        let services = [
            ServiceLetters {
                service: Consumer::Identity,
                letters: None,
            },
            ServiceLetters {
                service: Consumer::Team,
                letters: Some(vec![letter]),
            },
            ServiceLetters {
                service: Consumer::Licensing,
                letters: Some(Vec::new()),
            },
        ];
        let report = RequeueReport {
            applied: 2,
            already_applied: 1,
            erased: 1,
            still_failing: vec![(EventId(Uuid::nil()), "still out of order".to_owned())],
        };
        let page = dead_letters(&DeadLettersView {
            csrf: "t",
            services: &services,
            requeued: Some((Consumer::Team, &report)),
        })
        .into_string();
        assert!(page.contains("identity did not answer; try again shortly."));
        assert!(page.contains("<td>version 3 arrived before version 2</td>"));
        assert!(page.contains("No dead letters."));
        assert!(page.contains(
            "Requeued to team: 2 letters applied, 1 already applied, 1 of deleted persons \
             handed over without personal values and removed, 1 still failing (listed below)."
        ));
        assert!(page.contains("still out of order"));
        assert!(page.contains("action=\"/console/dead-letters/team/requeue\""));
    }
}
