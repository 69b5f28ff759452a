//! One organization's SCIM connection: the tenant URL, its tokens (a new
//! one's value shown this once), the default role, the connection test.

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use super::{Chrome, alert, csrf_field, notice, org_nav, page, when};
use crate::domain::models::{Connection, ConnectionCheck, IssuedToken, Token};
use crate::domain::service::ROTATION_OVERLAPS;

pub struct ConnectionView<'a> {
    pub csrf: &'a str,
    pub connection: &'a Connection,
    pub tenant_url: &'a str,
    pub now: DateTime<Utc>,
    /// A token just issued or rotated: the only page its value is on.
    pub issued: Option<&'a IssuedToken>,
    pub checks: Option<&'a [ConnectionCheck]>,
    pub notice: Option<&'a str>,
    pub error: Option<&'a str>,
}

pub fn connection(view: &ConnectionView<'_>) -> Markup {
    let o = &view.connection.organization;
    let base = format!("/console/organizations/{}", o.id.0);
    page(
        &o.name,
        &Chrome {
            csrf: Some(view.csrf),
        },
        html! {
            (org_nav(o, "SCIM connection"))
            h1 { (o.name) " — SCIM connection" }
            @if let Some(message) = view.notice { (notice(message)) }
            @if let Some(error) = view.error { (alert(error)) }
            @if let Some(issued) = view.issued { (new_token(issued)) }
            // The answer to "Test connection" comes first: it is what was asked.
            @if let Some(checks) = view.checks { (test_results(checks)) }
            dl class="facts" {
                dt { "Organization id" } dd { code { (o.id.0) } }
                dt { "Workspace" } dd {
                    @if let Some(name) = &o.workspace { (name) " " }
                    code { (o.workspace_id) }
                }
                dt { "SCIM provisioning" } dd {
                    @if o.scim_included { "Included in the subscription" }
                    @else { "Not included in the subscription: every SCIM request is refused" }
                }
                dt { "Seats" } dd {
                    @match view.connection.seats {
                        Some(s) => { (s.confirmed + s.reserved) " used of " (s.quota) " (" (s.reserved) " reserved)" },
                        None => { "Licensing did not answer; try again shortly." },
                    }
                }
            }
            section aria-labelledby="tenant-heading" {
                h2 id="tenant-heading" { "Tenant URL" }
                p class="hint" id="tenant-hint" { "Give this URL to the identity provider (Entra ID, Okta) with a token." }
                div class="copy" {
                    input id="tenant-url" type="text" readonly value=(view.tenant_url)
                        aria-labelledby="tenant-heading" aria-describedby="tenant-hint";
                    button type="button" class="secondary" data-copy="tenant-url" { "Copy tenant URL" }
                }
            }
            section aria-labelledby="tokens-heading" {
                h2 id="tokens-heading" { "Tokens" }
                form method="post" action={ (base) "/tokens" } class="inline" {
                    (csrf_field(view.csrf))
                    button type="submit" { "Generate a token" }
                }
                (tokens(view, &base))
            }
            section aria-labelledby="role-heading" {
                h2 id="role-heading" { "Default role" }
                form method="post" action={ (base) "/default-role" } class="card" {
                    (csrf_field(view.csrf))
                    label for="default-role" { "Role of new accounts" }
                    select id="default-role" name="default_role" {
                        @for role in &view.connection.roles {
                            option value=(role) selected[*role == o.default_role] { (role) }
                        }
                    }
                    button type="submit" { "Save default role" }
                }
            }
            section aria-labelledby="test-heading" {
                h2 id="test-heading" { "Test connection" }
                form method="get" action={ (base) "/test" } class="inline" {
                    button type="submit" { "Test connection" }
                }
            }
        },
    )
}

fn new_token(issued: &IssuedToken) -> Markup {
    html! {
        section class="issued" aria-labelledby="issued-heading" {
            h2 id="issued-heading" { "New token" }
            p role="status" { "Copy it now: it is shown only this once. Paste it into the identity provider as the secret token." }
            div class="copy" {
                input id="new-token" type="text" readonly value=(issued.value.expose())
                    aria-labelledby="issued-heading";
                button type="button" data-copy="new-token" { "Copy token" }
            }
            @if let Some(ends) = issued.previous_ends {
                p { "The token it replaces keeps working until " (when(ends)) "." }
            }
        }
    }
}

fn status(token: &Token, now: DateTime<Utc>) -> Markup {
    html! {
        @if let Some(revoked) = token.revoked_at { "Revoked " (when(revoked)) }
        @else if let Some(end) = token.expires_at {
            @if end > now { "Works until " (when(end)) } @else { "Expired " (when(end)) }
        } @else { "Active" }
    }
}

fn tokens(view: &ConnectionView<'_>, base: &str) -> Markup {
    let tokens = &view.connection.tokens;
    html! {
        @if tokens.is_empty() {
            p class="empty" { "No tokens yet. Generate one for the identity provider." }
        } @else {
            div class="table" tabindex="0" role="region" aria-label="Table of tokens" {
                table {
                    thead { tr {
                        th scope="col" { "Token" }
                        th scope="col" { "Created" }
                        th scope="col" { "Last used" }
                        th scope="col" { "Status" }
                        th scope="col" { "Actions" }
                    } }
                    tbody {
                        @for t in tokens {
                            tr {
                                td { code { (t.prefix) "…" } }
                                td { (when(t.created_at)) }
                                td { @match t.last_used_at { Some(at) => (when(at)), None => "Never" } }
                                td { (status(t, view.now)) }
                                td class="actions" {
                                    @if t.usable_at(view.now) {
                                        form method="post" action={ (base) "/tokens/" (t.id.0) "/rotate" } class="inline" {
                                            (csrf_field(view.csrf))
                                            label for={ "overlap-" (t.id.0) } { "Old token works for" }
                                            select id={ "overlap-" (t.id.0) } name="overlap_seconds" {
                                                @for (seconds, label) in ROTATION_OVERLAPS {
                                                    option value=(seconds) selected[seconds == 86_400] { (label) }
                                                }
                                            }
                                            button type="submit" class="secondary" { "Rotate" }
                                        }
                                        form method="post" action={ (base) "/tokens/" (t.id.0) "/revoke" } class="inline" {
                                            (csrf_field(view.csrf))
                                            button type="submit" class="danger" aria-label={ "Revoke token " (t.prefix) } { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn test_results(checks: &[ConnectionCheck]) -> Markup {
    let ok = checks.iter().all(|c| c.ok);
    html! {
        section class={ "checks " @if ok { "ok" } @else { "failed" } } role="status" aria-labelledby="checks-heading" {
            h2 id="checks-heading" { "Connection test" }
            p class="verdict" {
                @if ok { "All checks passed." } @else { "Some checks failed: see below." }
            }
            ul {
                @for c in checks {
                    li class=@if c.ok { "pass" } @else { "fail" } {
                        strong { @if c.ok { "Passed" } @else { "Failed" } ": " (c.check) }
                        " — " (c.detail)
                    }
                }
            }
        }
    }
}
