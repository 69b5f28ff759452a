//! An organization's accounts (filtered by status, a page at a time) and
//! one account: its person's values, its role and permissions with the form
//! that changes them, and the history of those changes.

use maud::{Markup, html};

use super::{Chrome, alert, csrf_field, notice, org_nav, page, query_value, when};
use crate::domain::models::{
    Access, Account, AccountDetail, AccountFilter, AccountId, Organization, Page,
};
use crate::domain::service::ACCOUNT_STATUSES;

pub struct AccountsView<'a> {
    pub csrf: &'a str,
    pub organization: &'a Organization,
    pub page: &'a Page<Account, AccountId>,
    pub filter: &'a AccountFilter,
    pub later_page: bool,
}

/// The filter as a query string's start (`q=…&status=…&`), for the pager.
fn filter_params(filter: &AccountFilter) -> String {
    [
        ("q", &filter.search),
        ("status", &filter.status),
        ("person", &filter.scim_user_id),
    ]
    .into_iter()
    .filter_map(|(name, value)| {
        value
            .as_deref()
            .map(|v| format!("{name}={}&", query_value(v)))
    })
    .collect()
}

fn name(account: &Account) -> &str {
    account
        .display_name
        .as_deref()
        .or(account.user_name.as_deref())
        .unwrap_or(account.label.as_str())
}

fn access_text(access: &Access) -> String {
    if access.permissions.is_empty() {
        access.role.clone()
    } else {
        format!("{} + {}", access.role, access.permissions.join(", "))
    }
}

pub fn accounts(view: &AccountsView<'_>) -> Markup {
    let o = view.organization;
    let base = format!("/console/organizations/{}/accounts", o.id.0);
    let filter = view.filter;
    let status = filter.status.as_deref();
    let status_param = filter_params(filter);
    let filtered = filter != &AccountFilter::default();
    page(
        &format!("Accounts of {}", o.name),
        &Chrome {
            csrf: Some(view.csrf),
        },
        html! {
            (org_nav(o, "Accounts"))
            h1 { (o.name) " — accounts" }
            @if let Some(person) = &filter.scim_user_id {
                p { "One person's accounts (SCIM user " code { (person) } "), one for each time it was enabled again. "
                    a href=(base) { "All accounts" } }
            }
            form method="get" action=(base) class="filters" role="search" {
                @if let Some(person) = &filter.scim_user_id {
                    input type="hidden" name="person" value=(person);
                }
                div {
                    label for="q" { "Name or e-mail" }
                    input id="q" name="q" type="search" value=(filter.search.as_deref().unwrap_or_default());
                }
                div {
                    label for="status" { "Status" }
                    select id="status" name="status" {
                        option value="" selected[status.is_none()] { "Any" }
                        @for s in ACCOUNT_STATUSES {
                            option value=(s) selected[status == Some(s)] { (s) }
                        }
                    }
                }
                button type="submit" class="secondary" { "Search" }
            }
            @if view.page.items.is_empty() {
                p class="empty" {
                    @if view.later_page { "No more accounts." }
                    @else if filtered { "No account matches." }
                    @else { "No accounts yet: they appear when the identity provider provisions users over SCIM." }
                }
            } @else {
                div class="table" tabindex="0" role="region" aria-label="Table of accounts" {
                    table {
                        thead { tr {
                            th scope="col" { "Name" }
                            th scope="col" { "E-mail" }
                            th scope="col" { "Status" }
                            th scope="col" { "Access" }
                            th scope="col" { "Created" }
                        } }
                        tbody {
                            @for a in &view.page.items {
                                tr {
                                    td { a href={ (base) "/" (a.id.0) } { (name(a)) } }
                                    td { @if let Some(email) = &a.email { (email) } }
                                    td { (a.status) }
                                    td { (access_text(&a.access)) }
                                    td { (when(a.created_at)) }
                                }
                            }
                        }
                    }
                }
            }
            nav class="pager" aria-label="Pages" {
                @if view.later_page { a href={ (base) "?" (status_param) } { "First page" } }
                @if let Some(next) = view.page.next_after {
                    a href={ (base) "?" (status_param) "after=" (next.0) } rel="next" { "Next page" }
                }
            }
        },
    )
}

pub struct AccountView<'a> {
    pub csrf: &'a str,
    pub detail: &'a AccountDetail,
    pub notice: Option<&'a str>,
    pub error: Option<&'a str>,
}

pub fn account(view: &AccountView<'_>) -> Markup {
    let o = &view.detail.organization;
    let a = &view.detail.account;
    let base = format!("/console/organizations/{}/accounts/{}", o.id.0, a.id.0);
    page(
        name(a),
        &Chrome {
            csrf: Some(view.csrf),
        },
        html! {
            (org_nav(o, "Accounts"))
            h1 { (name(a)) }
            @if let Some(message) = view.notice { (notice(message)) }
            @if let Some(error) = view.error { (alert(error)) }
            dl class="facts" {
                dt { "User name" } dd { @match &a.user_name { Some(u) => (u), None => "Removed (anonymized or deleted)" } }
                dt { "E-mail" } dd { @match &a.email { Some(e) => (e), None => "None" } }
                dt { "Status" } dd { (a.status) }
                dt { "Role" } dd { (a.access.role) }
                dt { "Permissions" } dd {
                    @if a.access.permissions.is_empty() { "None beyond the role" }
                    @else { (a.access.permissions.join(", ")) }
                }
                dt { "SCIM user id" } dd {
                    code { (a.scim_user_id) } " "
                    a href={ "/console/organizations/" (o.id.0) "/accounts?person=" (query_value(&a.scim_user_id)) } {
                        "This person's accounts across re-enables"
                    }
                    " · "
                    a href=(super::journal::person_journal(o, &a.scim_user_id)) { "This person's events" }
                }
                dt { "Account id" } dd { code { (a.id.0) } }
                dt { "Created" } dd { (when(a.created_at)) }
                dt { "Updated" } dd { (when(a.updated_at)) }
            }
            @if a.status == "active" {
                section aria-labelledby="access-heading" {
                    h2 id="access-heading" { "Change role and permissions" }
                    (access_form(view, &base))
                }
            }
            section aria-labelledby="history-heading" {
                h2 id="history-heading" { "Access history" }
                @if view.detail.changes.is_empty() {
                    p class="empty" { "No change since it was provisioned." }
                } @else {
                    div class="table" tabindex="0" role="region" aria-label="Table of access changes" {
                        table {
                            thead { tr {
                                th scope="col" { "When" }
                                th scope="col" { "Before" }
                                th scope="col" { "After" }
                                th scope="col" { "By" }
                            } }
                            tbody {
                                @for c in view.detail.changes.iter().rev() {
                                    tr {
                                        td { (when(c.changed_at)) }
                                        td { (access_text(&c.before)) }
                                        td { (access_text(&c.after)) }
                                        td { (c.changed_by) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

fn access_form(view: &AccountView<'_>, base: &str) -> Markup {
    let a = &view.detail.account;
    let catalogue = &view.detail.catalogue;
    html! {
        form method="post" action={ (base) "/access" } class="card" {
            (csrf_field(view.csrf))
            label for="role" { "Role" }
            select id="role" name="role" {
                @for role in &catalogue.roles {
                    option value=(role) selected[*role == a.access.role] { (role) }
                }
            }
            @if !catalogue.permissions.is_empty() {
                fieldset {
                    legend { "Permissions beside the role" }
                    @for (i, p) in catalogue.permissions.iter().enumerate() {
                        label for={ "permission-" (i) } {
                            input id={ "permission-" (i) } type="checkbox" name="permissions" value=(p)
                                checked[a.access.permissions.contains(p)];
                            " " (p)
                        }
                    }
                }
            }
            button type="submit" { "Save access" }
        }
    }
}
