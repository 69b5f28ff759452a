//! The organizations page: the list, a page at a time, and the form that
//! creates one.

use maud::{Markup, html};

use super::{Chrome, alert, csrf_field, page, when};
use crate::domain::models::{OrgId, Organization, Page};
use crate::domain::service::{MAX_NAME_CHARS, MAX_SEATS, OrganizationForm};

pub struct OrganizationsView<'a> {
    pub csrf: &'a str,
    pub page: &'a Page<Organization, OrgId>,
    /// Whether this is a later page (the first one is linked back to).
    pub later_page: bool,
    pub roles: &'a [String],
    pub form: &'a OrganizationForm,
    pub error: Option<&'a str>,
}

pub fn organizations(view: &OrganizationsView<'_>) -> Markup {
    page(
        "Organizations",
        &Chrome {
            csrf: Some(view.csrf),
        },
        html! {
            h1 { "Organizations" }
            section aria-labelledby="list-heading" {
                h2 id="list-heading" { "All organizations" }
                @if view.page.items.is_empty() {
                    p class="empty" {
                        @if view.later_page { "No more organizations." }
                        @else { "No organizations yet. Create the first one below." }
                    }
                } @else {
                    div class="table" tabindex="0" role="region" aria-label="Table of organizations" {
                        table {
                            thead { tr {
                                th scope="col" { "Name" }
                                th scope="col" { "Default role" }
                                th scope="col" { "SCIM" }
                                th scope="col" { "Created" }
                            } }
                            tbody {
                                @for o in &view.page.items {
                                    tr {
                                        td { a href={ "/console/organizations/" (o.id.0) } { (o.name) } }
                                        td { (o.default_role) }
                                        td { @if o.scim_included { "Included" } @else { "Not included" } }
                                        td { (when(o.created_at)) }
                                    }
                                }
                            }
                        }
                    }
                }
                nav class="pager" aria-label="Pages" {
                    @if view.later_page { a href="/console/organizations" { "First page" } }
                    @if let Some(next) = view.page.next_after {
                        a href={ "/console/organizations?after=" (next.0) } rel="next" { "Next page" }
                    }
                }
            }
            section aria-labelledby="create-heading" {
                h2 id="create-heading" { "Create an organization" }
                @if let Some(error) = view.error { (alert(error)) }
                (create_form(view))
            }
        },
    )
}

fn create_form(view: &OrganizationsView<'_>) -> Markup {
    let seats = if view.form.seats.is_empty() {
        "25"
    } else {
        view.form.seats.as_str()
    };
    html! {
        form method="post" action="/console/organizations" class="card" {
            (csrf_field(view.csrf))
            label for="org-name" { "Name" }
            input id="org-name" name="name" type="text" required maxlength=(MAX_NAME_CHARS)
                value=(view.form.name);
            label for="org-seats" { "Seats" }
            p class="hint" id="org-seats-hint" { "How many people the subscription covers." }
            input id="org-seats" name="seats" type="number" min="0" max=(MAX_SEATS) required
                inputmode="numeric" aria-describedby="org-seats-hint" value=(seats);
            label for="org-role" { "Default role" }
            p class="hint" id="org-role-hint" { "The role new accounts get, from the access catalogue." }
            select id="org-role" name="default_role" aria-describedby="org-role-hint" {
                @for role in view.roles {
                    option value=(role) selected[*role == view.form.default_role || (view.form.default_role.is_empty() && role == "member")] { (role) }
                }
            }
            button type="submit" { "Create organization" }
        }
    }
}
