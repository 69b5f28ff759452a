//! An organization's teams and one team's members, a page at a time.

use maud::{Markup, html};

use super::{Chrome, org_nav, page, when};
use crate::domain::models::{Member, Organization, Page, Team};

pub struct TeamsView<'a> {
    pub csrf: &'a str,
    pub organization: &'a Organization,
    pub page: &'a Page<Team, String>,
    pub later_page: bool,
}

pub fn teams(view: &TeamsView<'_>) -> Markup {
    let o = view.organization;
    let base = format!("/console/organizations/{}/teams", o.id.0);
    page(
        &format!("Teams of {}", o.name),
        &Chrome {
            csrf: Some(view.csrf),
        },
        html! {
            (org_nav(o, "Teams"))
            h1 { (o.name) " — teams" }
            @if view.page.items.is_empty() {
                p class="empty" {
                    @if view.later_page { "No more teams." }
                    @else { "No teams yet: they appear when the identity provider pushes groups over SCIM." }
                }
            } @else {
                div class="table" tabindex="0" role="region" aria-label="Table of teams" {
                    table {
                        thead { tr {
                            th scope="col" { "Name" }
                            th scope="col" { "SCIM group id" }
                            th scope="col" { "Created" }
                        } }
                        tbody {
                            @for t in &view.page.items {
                                tr {
                                    td { a href={ (base) "/" (t.id.0) } { (t.name) } }
                                    td { code { (t.group_id) } }
                                    td { (when(t.created_at)) }
                                }
                            }
                        }
                    }
                }
            }
            (pager(&base, view.later_page, view.page.next_after.as_deref()))
        },
    )
}

fn pager(base: &str, later_page: bool, next: Option<&str>) -> Markup {
    html! {
        nav class="pager" aria-label="Pages" {
            @if later_page { a href=(base) { "First page" } }
            @if let Some(next) = next {
                a href={ (base) "?after=" (super::query_value(next)) } rel="next" { "Next page" }
            }
        }
    }
}

pub struct TeamView<'a> {
    pub csrf: &'a str,
    pub organization: &'a Organization,
    pub team: &'a Team,
    pub members: &'a Page<Member, String>,
    pub later_page: bool,
}

pub fn team(view: &TeamView<'_>) -> Markup {
    let o = view.organization;
    let t = view.team;
    let base = format!("/console/organizations/{}/teams/{}", o.id.0, t.id.0);
    let accounts = format!("/console/organizations/{}/accounts", o.id.0);
    page(
        &t.name,
        &Chrome {
            csrf: Some(view.csrf),
        },
        html! {
            (org_nav(o, "Teams"))
            h1 { (t.name) }
            dl class="facts" {
                dt { "SCIM group id" } dd { code { (t.group_id) } }
                dt { "Members" } dd { @match t.member_count { Some(n) => (n), None => "Unknown" } }
                dt { "Created" } dd { (when(t.created_at)) }
            }
            h2 { "Members" }
            @if view.members.items.is_empty() {
                p class="empty" {
                    @if view.later_page { "No more members." } @else { "No members." }
                }
            } @else {
                div class="table" tabindex="0" role="region" aria-label="Table of members" {
                    table {
                        thead { tr {
                            th scope="col" { "SCIM user id" }
                            th scope="col" { "Account" }
                            th scope="col" { "Journal" }
                        } }
                        tbody {
                            @for m in &view.members.items {
                                tr {
                                    td { code { (m.scim_user_id) } }
                                    td {
                                        @match (m.account_id, &m.account_status) {
                                            (Some(id), status) => {
                                                a href={ (accounts) "/" (id.0) } {
                                                    @match status { Some(s) => (s), None => "account" }
                                                }
                                            },
                                            (None, _) => "Not yet known to identity",
                                        }
                                    }
                                    td { a href=(super::journal::person_journal(o, &m.scim_user_id)) { "This person's events" } }
                                }
                            }
                        }
                    }
                }
            }
            (pager(&base, view.later_page, view.members.next_after.as_deref()))
        },
    )
}
