//! An organization's seats: confirmed and reserved against the quota, and
//! their usage over the last days drawn on the server as an SVG (no script)
//! with the same numbers in a table.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use maud::{Markup, html};

use super::{Chrome, org_nav, page};
use crate::domain::models::{Organization, SeatsOverview, UsagePoint};

pub fn seats(csrf: &str, organization: &Organization, overview: &SeatsOverview) -> Markup {
    let seats = &overview.usage;
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
            h2 id="usage" { "Usage over the last 30 days" }
            @match &overview.history {
                None => {
                    p class="alert" role="alert" {
                        "Licensing did not give the usage history; the counts above are current."
                    }
                }
                Some(points) if points.is_empty() => {
                    p class="empty" id="usage-empty" {
                        "No seat was taken or given back and the quota did not change in the last 30 days: there is nothing to draw."
                    }
                }
                Some(points) => {
                    (chart(overview.since, overview.until, points))
                    (table(points))
                }
            }
        },
    )
}

const WIDTH: f64 = 560.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 64.0;

/// Where instants and seat counts fall in the drawing.
struct Scale {
    since: DateTime<Utc>,
    span: f64,
    top: u32,
}

impl Scale {
    fn x(&self, t: DateTime<Utc>) -> f64 {
        let along = (t - self.since).num_seconds() as f64 / self.span;
        LEFT + along.clamp(0.0, 1.0) * (WIDTH - LEFT - RIGHT)
    }

    fn y(&self, seats: u32) -> f64 {
        let up = f64::from(seats) / f64::from(self.top);
        HEIGHT - BOTTOM - up * (HEIGHT - TOP - BOTTOM)
    }
}

/// A step line through `(instant, value)` corners, as SVG points.
fn points_attr(corners: &[(f64, f64)]) -> String {
    corners
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn words(since: DateTime<Utc>, until: DateTime<Utc>, points: &[UsagePoint]) -> String {
    let (peak_at, peak) = points
        .iter()
        .map(|p| (p.hour, p.peak))
        .max_by_key(|(hour, peak)| (*peak, std::cmp::Reverse(*hour)))
        .unwrap_or((since, 0));
    let last = points.last().map_or(0, |p| p.last);
    let quota = points.last().map_or(0, |p| p.quota);
    format!(
        "Seats used from {} to {}: at most {peak} at once (first on {}), {last} at the end, against a quota of {quota}.",
        since.format("%-d %B %Y"),
        until.format("%-d %B %Y"),
        peak_at.format("%-d %B %Y at %H:00 UTC"),
    )
}

fn chart(since: DateTime<Utc>, until: DateTime<Utc>, points: &[UsagePoint]) -> Markup {
    let highest = points
        .iter()
        .map(|p| p.peak.max(p.quota))
        .max()
        .unwrap_or(0);
    let scale = Scale {
        since,
        span: ((until - since).num_seconds().max(1)) as f64,
        top: nice_top(highest),
    };
    let hour = Duration::hours(1);
    let mut used = Vec::new();
    let mut quota = Vec::new();
    for (i, p) in points.iter().enumerate() {
        let (start, end) = (scale.x(p.hour), scale.x(p.hour + hour));
        if i > 0 {
            let before = points[i - 1];
            used.push((start, scale.y(before.last)));
            quota.push((start, scale.y(before.quota)));
        }
        used.extend([
            (start, scale.y(p.peak)),
            (end, scale.y(p.peak)),
            (end, scale.y(p.last)),
        ]);
        quota.push((start, scale.y(p.quota)));
    }
    if let Some(p) = points.last() {
        used.push((scale.x(until), scale.y(p.last)));
        quota.push((scale.x(until), scale.y(p.quota)));
    }
    let y_ticks = [0, scale.top / 2, scale.top];
    let days = (until - since).num_days().max(1);
    let x_ticks: Vec<DateTime<Utc>> = (0..=4)
        .map(|i| since + Duration::days(days * i / 4))
        .collect();
    let description = words(since, until, points);
    let quota_now = points.last().map_or(0, |p| p.quota);
    html! {
        figure class="chart" {
            svg xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (WIDTH) " " (HEIGHT) }
                role="img" aria-labelledby="chart-title chart-desc" {
                title id="chart-title" { "Seats used over the last 30 days, with the quota" }
                desc id="chart-desc" { (description) }
                @for tick in y_ticks {
                    line class="grid" x1=(LEFT) x2=(WIDTH - RIGHT) y1=(scale.y(tick)) y2=(scale.y(tick)) {}
                    text class="tick" x=(LEFT - 8.0) y=(scale.y(tick) + 5.0) text-anchor="end" { (tick) }
                }
                @for (i, t) in x_ticks.iter().enumerate() {
                    line class="axis" x1=(scale.x(*t)) x2=(scale.x(*t)) y1=(HEIGHT - BOTTOM) y2=(HEIGHT - BOTTOM + 5.0) {}
                    // The last label ends at its tick, inside the drawing.
                    text class="tick" x=(scale.x(*t)) y=(HEIGHT - BOTTOM + 22.0)
                        text-anchor=(if i + 1 == x_ticks.len() { "end" } else { "middle" }) {
                        (t.format("%-d %b"))
                    }
                }
                line class="axis" x1=(LEFT) x2=(LEFT) y1=(TOP) y2=(HEIGHT - BOTTOM) {}
                line class="axis" x1=(LEFT) x2=(WIDTH - RIGHT) y1=(HEIGHT - BOTTOM) y2=(HEIGHT - BOTTOM) {}
                text class="axis-label" x="14" y=((TOP + HEIGHT - BOTTOM) / 2.0) text-anchor="middle"
                    transform={ "rotate(-90 14 " ((TOP + HEIGHT - BOTTOM) / 2.0) ")" } { "Seats" }
                text class="axis-label" x=((LEFT + WIDTH - RIGHT) / 2.0) y=(HEIGHT - 12.0) text-anchor="middle" {
                    "Day (UTC)"
                }
                polyline class="quota" points=(points_attr(&quota)) {}
                text class="quota-label" x=(WIDTH - RIGHT - 4.0) y=(scale.y(quota_now) - 6.0) text-anchor="end" {
                    "quota " (quota_now)
                }
                polyline class="used" points=(points_attr(&used)) {}
            }
            figcaption {
                span class="key used" aria-hidden="true" {} " seats used (an hour's peak, then its last value)  "
                span class="key quota" aria-hidden="true" {} " quota"
            }
        }
    }
}

/// The top of the seat axis: above the highest value, a round number.
fn nice_top(highest: u32) -> u32 {
    let at_least = highest.saturating_add(highest / 10).max(4);
    let step = match at_least {
        0..=10 => 2,
        11..=50 => 10,
        51..=200 => 20,
        201..=1000 => 100,
        _ => 10u32.pow(at_least.ilog10() - 1),
    };
    at_least.div_ceil(step) * step
}

/// The same numbers, a row a day with a change.
fn table(points: &[UsagePoint]) -> Markup {
    let mut days: Vec<(NaiveDate, u32, u32, u32)> = Vec::new();
    for p in points {
        let day = p.hour.date_naive();
        match days.last_mut() {
            Some((d, peak, last, quota)) if *d == day => {
                *peak = (*peak).max(p.peak);
                *last = p.last;
                *quota = p.quota;
            }
            _ => days.push((day, p.peak, p.last, p.quota)),
        }
    }
    html! {
        details class="usage-table" {
            summary { "The numbers, a row a day with a change" }
            div class="table" tabindex="0" role="region" aria-label="Table of seats used per day" {
                table {
                    caption { "Seats used per day (UTC); days without a change are left out" }
                    thead { tr { th scope="col" { "Day" } th scope="col" { "Most used at once" } th scope="col" { "Used at the day's end" } th scope="col" { "Quota" } } }
                    tbody {
                        @for (day, peak, last, quota) in &days {
                            tr { th scope="row" { (day.format("%Y-%m-%d")) } td { (peak) } td { (last) } td { (quota) } }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seat_axis_ends_on_a_round_number_above_the_highest_value() {
        assert_eq!(nice_top(0), 4);
        assert_eq!(nice_top(3), 4);
        assert_eq!(nice_top(10), 20);
        assert_eq!(nice_top(25), 30);
        assert_eq!(nice_top(50), 60);
        assert_eq!(nice_top(1000), 1100);
        assert_eq!(nice_top(250_000), 280_000);
    }
}
