//! Fairness between organizations: each one's SCIM requests in flight and
//! its request rate are limited, so that one organization's flood cannot
//! take the shared process (workers, connection pools, the group-commit
//! writers' queues) from the others. The limits are the settings' defaults,
//! field by field overridden per organization (the admin API).
//!
//! Admission is decided in memory, without waiting: an atomic counter of the
//! requests in flight and, for the rate, a token bucket kept as its
//! "theoretical arrival time" (GCRA) in one atomic word. A refusal says when
//! to retry (whole seconds, at least 1: Okta honours only integers).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use super::models::{LimitOverride, OrgId, RequestLimits, Tenant};
use super::ports::{LimitStore, OrganizationStore, StoreError};

/// The largest in-flight limit and burst an override may set.
pub const MAX_COUNT: u32 = 1_000_000;
/// The largest rate an override may set (requests a second).
pub const MAX_RATE: f64 = 1_000_000.0;

/// `limits` when its values are in range (the settings' and an override's).
pub fn validated(limits: RequestLimits) -> Result<RequestLimits, LimitsError> {
    if limits.max_in_flight > MAX_COUNT {
        return Err(LimitsError::Invalid(format!(
            "max_in_flight must be between 0 (no limit) and {MAX_COUNT}"
        )));
    }
    if !limits.rate_per_second.is_finite()
        || limits.rate_per_second < 0.0
        || limits.rate_per_second > MAX_RATE
    {
        return Err(LimitsError::Invalid(format!(
            "rate_per_second must be between 0 (no limit) and {MAX_RATE}"
        )));
    }
    if limits.burst == 0 || limits.burst > MAX_COUNT {
        return Err(LimitsError::Invalid(format!(
            "burst must be between 1 and {MAX_COUNT}"
        )));
    }
    Ok(limits)
}

/// A change of an organization's override: `Some(Some(v))` sets a field,
/// `Some(None)` puts it back to the default, `None` leaves it.
#[derive(Debug, Clone, Copy, Default)]
pub struct LimitChange {
    pub max_in_flight: Option<Option<u32>>,
    pub rate_per_second: Option<Option<f64>>,
    pub burst: Option<Option<u32>>,
}

impl LimitChange {
    fn applied_to(&self, current: LimitOverride) -> LimitOverride {
        LimitOverride {
            max_in_flight: self.max_in_flight.unwrap_or(current.max_in_flight),
            rate_per_second: self.rate_per_second.unwrap_or(current.rate_per_second),
            burst: self.burst.unwrap_or(current.burst),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LimitsError {
    #[error("organization not found")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    InFlight,
    Rate,
}

/// A refused request: which limit, and when a retry can be admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub refusal: Refusal,
    /// Whole seconds, at least 1.
    pub retry_after_secs: u64,
}

/// What one organization's admission keeps.
#[derive(Default)]
struct Gate {
    in_flight: AtomicU32,
    /// The bucket: nanoseconds after the limiter's epoch at which it is
    /// empty again (GCRA's theoretical arrival time).
    empty_at: AtomicU64,
    admitted: AtomicU64,
    refused_in_flight: AtomicU64,
    refused_rate: AtomicU64,
}

/// An admitted request; its organization's in-flight count goes down when
/// this is dropped.
pub struct Permit {
    gate: Arc<Gate>,
    in_flight: u32,
}

impl Permit {
    /// The organization's requests in flight, this one included, when it
    /// was admitted.
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.gate.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A bucket's marks at one instant, in nanoseconds after the limiter's
/// epoch: a token's interval, now, "full" (now plus the burst) and the
/// furthest it may run ahead (plus the bulk allowance).
struct Bucket {
    interval: u64,
    now: u64,
    full: u64,
    ceiling: u64,
}

/// What this process saw of one organization since it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub in_flight: u32,
    pub admitted: u64,
    pub refused_in_flight: u64,
    pub refused_rate: u64,
}

/// The admission of every organization's requests (in memory, per process).
pub struct Limiter {
    defaults: RequestLimits,
    /// Tokens a bucket may owe beyond its burst: what a Bulk request's
    /// operations take at once ([`Limiter::charge`]).
    bulk_allowance: u32,
    epoch: Instant,
    gates: RwLock<HashMap<OrgId, Arc<Gate>>>,
}

impl Limiter {
    pub fn new(defaults: RequestLimits) -> Self {
        Self {
            defaults,
            bulk_allowance: 0,
            epoch: Instant::now(),
            gates: RwLock::new(HashMap::new()),
        }
    }

    /// A bucket may owe up to `operations` tokens: one Bulk request's.
    pub fn with_bulk_allowance(mut self, operations: u32) -> Self {
        self.bulk_allowance = operations;
        self
    }

    pub fn defaults(&self) -> RequestLimits {
        self.defaults
    }

    /// Takes `tokens` more from `org`'s bucket without refusing or waiting:
    /// the operations of an admitted Bulk request beyond the one its
    /// admission took. The bucket runs ahead (by at most the bulk
    /// allowance), so the organization's next requests are refused until
    /// the rate has paid for them: over time a bulk of N operations counts
    /// as N requests.
    pub fn charge(&self, org: OrgId, limits: &RequestLimits, tokens: u32, now: Instant) {
        if limits.rate_per_second <= 0.0 || tokens == 0 {
            return;
        }
        let gate = self.gate(org);
        let Bucket {
            interval,
            now,
            full: _,
            ceiling,
        } = self.bucket(limits, now);
        let mut current = gate.empty_at.load(Ordering::Acquire);
        loop {
            let next = current
                .max(now)
                .saturating_add(interval.saturating_mul(u64::from(tokens)))
                .min(ceiling);
            match gate.empty_at.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(seen) => current = seen,
            }
        }
    }

    fn bucket(&self, limits: &RequestLimits, now: Instant) -> Bucket {
        let interval = (1e9 / limits.rate_per_second).max(1.0) as u64;
        let tolerance = interval.saturating_mul(u64::from(limits.burst.max(1)));
        let now =
            u64::try_from(now.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX);
        let full = now.saturating_add(tolerance);
        let ceiling = full.saturating_add(interval.saturating_mul(u64::from(self.bulk_allowance)));
        Bucket {
            interval,
            now,
            full,
            ceiling,
        }
    }

    /// The limits `tenant`'s requests are admitted under.
    pub fn limits_of(&self, tenant: &Tenant) -> RequestLimits {
        tenant.limits.over(&self.defaults)
    }

    fn gate(&self, org: OrgId) -> Arc<Gate> {
        if let Some(gate) = self
            .gates
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&org)
        {
            return gate.clone();
        }
        self.gates
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(org)
            .or_default()
            .clone()
    }

    /// Admits one request of `org` under `limits` at `now`, or says which
    /// limit refuses it and when to retry. Never waits.
    pub fn admit(
        &self,
        org: OrgId,
        limits: &RequestLimits,
        now: Instant,
    ) -> Result<Permit, Throttled> {
        let gate = self.gate(org);
        let in_flight = gate
            .in_flight
            .fetch_add(1, Ordering::AcqRel)
            .saturating_add(1);
        let permit = Permit {
            gate: gate.clone(),
            in_flight,
        };
        if limits.max_in_flight > 0 && in_flight > limits.max_in_flight {
            gate.refused_in_flight.fetch_add(1, Ordering::Relaxed);
            return Err(Throttled {
                refusal: Refusal::InFlight,
                retry_after_secs: 1,
            });
        }
        if let Err(wait) = self.take_token(&gate, limits, now) {
            gate.refused_rate.fetch_add(1, Ordering::Relaxed);
            return Err(Throttled {
                refusal: Refusal::Rate,
                retry_after_secs: whole_seconds(wait),
            });
        }
        gate.admitted.fetch_add(1, Ordering::Relaxed);
        Ok(permit)
    }

    /// GCRA: each request moves the bucket's "empty at" one interval on; it
    /// may run ahead of now by at most `burst` intervals.
    fn take_token(
        &self,
        gate: &Gate,
        limits: &RequestLimits,
        now: Instant,
    ) -> Result<(), Duration> {
        if limits.rate_per_second <= 0.0 {
            return Ok(());
        }
        let Bucket {
            interval,
            now,
            full,
            ceiling,
        } = self.bucket(limits, now);
        let mut current = gate.empty_at.load(Ordering::Acquire);
        loop {
            // A bucket emptied under slower limits is empty under these, no
            // more (beyond what a bulk may owe): it refills at the new rate
            // from now on.
            if current > ceiling {
                match gate.empty_at.compare_exchange_weak(
                    current,
                    ceiling,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => current = ceiling,
                    Err(seen) => current = seen,
                }
                continue;
            }
            let from = current.max(now);
            let next = from.saturating_add(interval);
            if next > full {
                return Err(Duration::from_nanos(next - full));
            }
            match gate.empty_at.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(seen) => current = seen,
            }
        }
    }

    /// Every organization this process admitted or refused a request of.
    pub fn usage(&self) -> HashMap<OrgId, Usage> {
        self.gates
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(org, gate)| (*org, usage_of(gate)))
            .collect()
    }

    pub fn usage_of(&self, org: OrgId) -> Usage {
        self.gates
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&org)
            .map_or_else(|| usage_of(&Gate::default()), |gate| usage_of(gate))
    }
}

fn usage_of(gate: &Gate) -> Usage {
    Usage {
        in_flight: gate.in_flight.load(Ordering::Acquire),
        admitted: gate.admitted.load(Ordering::Relaxed),
        refused_in_flight: gate.refused_in_flight.load(Ordering::Relaxed),
        refused_rate: gate.refused_rate.load(Ordering::Relaxed),
    }
}

/// `wait` rounded up to whole seconds, at least 1.
fn whole_seconds(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

/// One organization's limits as the admin API shows them.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgLimits {
    pub org: OrgId,
    pub overridden: LimitOverride,
    pub effective: RequestLimits,
    pub usage: Usage,
}

/// The admin use cases of the limits: an organization's, changed, and all.
pub struct Fairness<S> {
    store: S,
    limiter: Arc<Limiter>,
}

impl<S> Fairness<S> {
    pub fn new(store: S, limiter: Arc<Limiter>) -> Self {
        Self { store, limiter }
    }

    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }
}

impl<S: LimitStore + OrganizationStore> Fairness<S> {
    fn shown(&self, org: OrgId, overridden: LimitOverride) -> OrgLimits {
        OrgLimits {
            org,
            overridden,
            effective: overridden.over(&self.limiter.defaults),
            usage: self.limiter.usage_of(org),
        }
    }

    pub async fn get(&self, org: OrgId) -> Result<OrgLimits, LimitsError> {
        if self.store.organization(org).await?.is_none() {
            return Err(LimitsError::NotFound);
        }
        let overridden = self.store.limit_override(org).await?.unwrap_or_default();
        Ok(self.shown(org, overridden))
    }

    /// Applies `change` to the organization's override; the new limits apply
    /// to its next request on this process (on other replicas within the
    /// tenant cache's time).
    pub async fn change(&self, org: OrgId, change: LimitChange) -> Result<OrgLimits, LimitsError> {
        if self.store.organization(org).await?.is_none() {
            return Err(LimitsError::NotFound);
        }
        let current = self.store.limit_override(org).await?.unwrap_or_default();
        let next = change.applied_to(current);
        validated(next.over(&self.limiter.defaults))?;
        self.store.set_limit_override(org, &next).await?;
        Ok(self.shown(org, next))
    }

    /// Organizations with an override or seen by this process, by id.
    pub async fn all(&self) -> Result<Vec<OrgLimits>, LimitsError> {
        let mut overrides: HashMap<OrgId, LimitOverride> =
            self.store.limit_overrides().await?.into_iter().collect();
        let usage = self.limiter.usage();
        let mut orgs: Vec<OrgId> = overrides.keys().chain(usage.keys()).copied().collect();
        orgs.sort_by_key(|o| o.0);
        orgs.dedup();
        Ok(orgs
            .into_iter()
            .map(|org| self.shown(org, overrides.remove(&org).unwrap_or_default()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use uuid::Uuid;

    use super::*;

    fn limits(max_in_flight: u32, rate_per_second: f64, burst: u32) -> RequestLimits {
        RequestLimits {
            max_in_flight,
            rate_per_second,
            burst,
        }
    }

    #[test]
    fn in_flight_requests_are_counted_until_their_permit_is_dropped() {
        let limiter = Limiter::new(limits(2, 0.0, 1));
        let (a, b) = (OrgId(Uuid::now_v7()), OrgId(Uuid::now_v7()));
        let now = Instant::now();
        let first = limiter.admit(a, &limiter.defaults(), now).unwrap();
        let second = limiter.admit(a, &limiter.defaults(), now).unwrap();
        assert_eq!(second.in_flight(), 2);
        let refused = limiter.admit(a, &limiter.defaults(), now).err().unwrap();
        assert_eq!(
            refused,
            Throttled {
                refusal: Refusal::InFlight,
                retry_after_secs: 1
            }
        );
        assert!(
            limiter.admit(b, &limiter.defaults(), now).is_ok(),
            "another organization has its own count"
        );
        drop(first);
        let third = limiter.admit(a, &limiter.defaults(), now).unwrap();
        assert_eq!(third.in_flight(), 2);
        drop((second, third));
        let usage = limiter.usage_of(a);
        assert_eq!(
            usage,
            Usage {
                in_flight: 0,
                admitted: 3,
                refused_in_flight: 1,
                refused_rate: 0
            }
        );
    }

    #[test]
    fn the_bucket_admits_a_burst_then_the_rate_and_says_when_to_retry() {
        let limiter = Limiter::new(limits(0, 2.0, 3));
        let org = OrgId(Uuid::now_v7());
        let start = Instant::now();
        let rules = limiter.defaults();
        for _ in 0..3 {
            drop(limiter.admit(org, &rules, start).unwrap());
        }
        let refused = limiter.admit(org, &rules, start).err().unwrap();
        assert_eq!(refused.refusal, Refusal::Rate);
        assert_eq!(refused.retry_after_secs, 1, "half a second, rounded up");
        // Half a second later one more token has come back, not two.
        let later = start + Duration::from_millis(500);
        drop(limiter.admit(org, &rules, later).unwrap());
        assert!(limiter.admit(org, &rules, later).is_err());
        // After a quiet time the whole burst is back.
        let quiet = start + Duration::from_secs(10);
        for _ in 0..3 {
            drop(limiter.admit(org, &rules, quiet).unwrap());
        }
        assert!(limiter.admit(org, &rules, quiet).is_err());
        assert_eq!(limiter.usage_of(org).refused_rate, 3);
    }

    #[test]
    fn a_slow_rate_says_so_in_whole_seconds_and_a_raised_one_applies_at_once() {
        let limiter = Limiter::new(limits(0, 0.1, 1));
        let org = OrgId(Uuid::now_v7());
        let now = Instant::now();
        let slow = limiter.defaults();
        drop(limiter.admit(org, &slow, now).unwrap());
        let refused = limiter.admit(org, &slow, now).err().unwrap();
        assert_eq!(refused.retry_after_secs, 10);
        // Raised: the bucket is no emptier than empty under the new limits,
        // so the next token comes after the new interval, not the old one.
        let raised = limits(0, 100.0, 1);
        let soon = now + Duration::from_millis(20);
        assert_eq!(
            limiter
                .admit(org, &raised, soon)
                .err()
                .unwrap()
                .retry_after_secs,
            1
        );
        assert!(
            limiter
                .admit(org, &raised, soon + Duration::from_millis(20))
                .is_ok()
        );
    }

    #[test]
    fn a_refused_request_does_not_stay_in_flight() {
        let limiter = Limiter::new(limits(1, 1.0, 1));
        let org = OrgId(Uuid::now_v7());
        let now = Instant::now();
        drop(limiter.admit(org, &limiter.defaults(), now).unwrap());
        assert!(limiter.admit(org, &limiter.defaults(), now).is_err());
        assert_eq!(limiter.usage_of(org).in_flight, 0);
    }

    #[test]
    fn an_override_replaces_only_its_fields_and_a_change_can_reset_one() {
        let defaults = limits(8, 100.0, 200);
        let overridden = LimitOverride {
            rate_per_second: Some(5.0),
            ..LimitOverride::default()
        };
        assert_eq!(overridden.over(&defaults), limits(8, 5.0, 200));
        let change = LimitChange {
            max_in_flight: Some(Some(2)),
            rate_per_second: Some(None),
            burst: None,
        };
        let next = change.applied_to(overridden);
        assert_eq!(next.over(&defaults), limits(2, 100.0, 200));
        assert!(!next.is_empty());
        let reset = LimitChange {
            max_in_flight: Some(None),
            ..LimitChange::default()
        };
        assert!(reset.applied_to(next).is_empty());
    }

    #[test]
    fn out_of_range_limits_are_refused() {
        assert!(validated(limits(0, 0.0, 1)).is_ok(), "no limits at all");
        assert!(validated(limits(1, 0.5, 1)).is_ok());
        assert!(validated(limits(MAX_COUNT + 1, 1.0, 1)).is_err());
        assert!(validated(limits(1, -1.0, 1)).is_err());
        assert!(validated(limits(1, f64::NAN, 1)).is_err());
        assert!(validated(limits(1, f64::INFINITY, 1)).is_err());
        assert!(validated(limits(1, 1.0, 0)).is_err());
    }
}
