//! Admission of an authenticated request under its organization's limits
//! (`domain::limits`): after the token named the organization, before any
//! work. The permit rides in the request's extensions, so the organization's
//! in-flight count goes down when actix drops the request, after the
//! handler answered. The request's span gets `org.id`, `org.in_flight` and
//! `throttled` (ids and counts only).

use std::time::Instant;

use actix_web::{HttpMessage, HttpRequest};

use super::ScimApi;
use super::errors::ApiError;
use crate::domain::models::Tenant;

pub(super) fn admit<S, C>(
    req: &HttpRequest,
    api: &ScimApi<S, C>,
    tenant: &Tenant,
) -> Result<(), ApiError> {
    let limiter = api.fairness.limiter();
    let limits = limiter.limits_of(tenant);
    let span = tracing::Span::current();
    span.record("org.id", tracing::field::display(tenant.org));
    match limiter.admit(tenant.org, &limits, Instant::now()) {
        Ok(permit) => {
            span.record("org.in_flight", permit.in_flight());
            span.record("throttled", false);
            req.extensions_mut().insert(permit);
            Ok(())
        }
        Err(throttled) => {
            span.record("throttled", true);
            Err(ApiError::Throttled(throttled))
        }
    }
}

/// A Bulk request counts one request per operation against its
/// organization's rate: its admission took one token, its other operations
/// take theirs now (never refused: the organization's next requests wait).
pub(super) fn charge_bulk<S, C>(api: &ScimApi<S, C>, tenant: &Tenant, operations: usize) {
    let limiter = api.fairness.limiter();
    let extra = u32::try_from(operations.saturating_sub(1)).unwrap_or(u32::MAX);
    limiter.charge(
        tenant.org,
        &limiter.limits_of(tenant),
        extra,
        Instant::now(),
    );
}
