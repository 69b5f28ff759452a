//! An organization's seats: confirmed and reserved against the quota.

use maud::{Markup, html};

use super::{Chrome, org_nav, page};
use crate::domain::models::{Organization, SeatUsage};

pub fn seats(csrf: &str, organization: &Organization, seats: &SeatUsage) -> Markup {
    let used = seats.confirmed + seats.reserved;
    let left = u64::from(seats.quota).saturating_sub(used);
    page(
        &format!("Seats of {}", organization.name),
        &Chrome { csrf: Some(csrf) },
        html! {
            (org_nav(organization, "Seats"))
            h1 { (organization.name) " — seats" }
            p id="seats-summary" { (used) " used of " (seats.quota) "." }
            meter min="0" max=(seats.quota) value=(used) high=(seats.quota) aria-labelledby="seats-summary" {
                (used) " of " (seats.quota)
            }
            dl class="facts" {
                dt { "Quota" } dd { (seats.quota) }
                dt { "Confirmed" } dd { (seats.confirmed) " (accounts holding a seat)" }
                dt { "Reserved" } dd { (seats.reserved) " (held for provisioning in progress)" }
                dt { "Free" } dd { (left) }
            }
            @if used >= u64::from(seats.quota) {
                p class="alert" role="alert" { "Every seat of the quota is in use." }
            }
            p class="hint" { "Usage over time is not shown yet." }
        },
    )
}
