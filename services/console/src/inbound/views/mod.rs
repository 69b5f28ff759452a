//! The pages, as maud templates (escaped by default; no inline script or
//! style: the stylesheet and the copy button's script are static files).

pub mod accounts;
pub mod connection;
pub mod dead_letters;
pub mod health;
pub mod journal;
pub mod organizations;
pub mod seats;
pub mod sign_in;
pub mod teams;

use chrono::{DateTime, SecondsFormat, Utc};
use maud::{DOCTYPE, Markup, html};

use super::http::assets;
use crate::domain::models::Organization;

/// What the layout needs of the signed-in operator: the form token of the
/// sign-out button. `None` on the sign-in page.
pub struct Chrome<'a> {
    pub csrf: Option<&'a str>,
}

pub fn page(title: &str, chrome: &Chrome<'_>, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · SCIM console" }
                link rel="stylesheet" href=(assets::url("console.css"));
                script src=(assets::url("console.js")) defer {}
            }
            body {
                a class="skip" href="#main" { "Skip to content" }
                header class="top" {
                    span class="brand" { "SCIM console" }
                    @if let Some(csrf) = chrome.csrf {
                        nav aria-label="Main" {
                            a href="/console/organizations" { "Organizations" }
                            a href="/console/dead-letters" { "Dead letters" }
                            a href="/console/health" { "Health" }
                        }
                        form method="post" action="/console/sign-out" class="inline" {
                            (csrf_field(csrf))
                            button type="submit" class="secondary" { "Sign out" }
                        }
                    }
                }
                main id="main" tabindex="-1" {
                    (content)
                }
            }
        }
    }
}

/// The synchronizer token every form carries.
pub fn csrf_field(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

/// A message the operator must read (an error, in words).
pub fn alert(message: &str) -> Markup {
    html! { p class="alert" role="alert" { (message) } }
}

/// A message saying what was just done.
pub fn notice(message: &str) -> Markup {
    html! { p class="notice" role="status" { (message) } }
}

pub fn when(t: DateTime<Utc>) -> Markup {
    let text = t.to_rfc3339_opts(SecondsFormat::Secs, true);
    html! { time datetime=(text) { (t.format("%Y-%m-%d %H:%M UTC")) } }
}

/// A page of its own for an error: what happened and what to do.
pub fn error_page(title: &str, message: &str, signed_in: Option<&str>) -> Markup {
    page(
        title,
        &Chrome { csrf: signed_in },
        html! {
            h1 { (title) }
            (alert(message))
            p { a href="/console/organizations" { "Back to the organizations" } }
        },
    )
}

/// The organization's pages, the current one marked for screen readers.
pub fn org_nav(organization: &Organization, current: &str) -> Markup {
    let base = format!("/console/organizations/{}", organization.id.0);
    let links = [
        ("", "SCIM connection"),
        ("/accounts", "Accounts"),
        ("/teams", "Teams"),
        ("/seats", "Seats"),
        ("/journal", "Journal"),
    ];
    html! {
        p class="crumbs" { a href="/console/organizations" { "Organizations" } " / " (organization.name) }
        nav class="tabs" aria-label={ "Pages of " (organization.name) } {
            @for (path, label) in links {
                @if label == current {
                    a href={ (base) (path) } aria-current="page" { (label) }
                } @else {
                    a href={ (base) (path) } { (label) }
                }
            }
        }
    }
}

/// Text as a URL query value (a paging key is the service's own text).
pub fn query_value(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
