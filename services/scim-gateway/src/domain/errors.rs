//! Errors of the SCIM view's use cases. The HTTP adapter maps each to a status
//! and `scimType` in one place.

use scim_protocol::ProtocolError;

use super::models::ResourceKind;
use super::ports::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ScimViewError {
    /// The request breaks a rule of the protocol (syntax, value, path, filter…).
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error("{0} not found")]
    NotFound(ResourceKind),
    #[error("userName is already taken in this organization")]
    UserNameTaken,
    #[error("another group of this organization has this displayName")]
    GroupNameTaken,
    #[error("the resource was modified: its version does not match If-Match")]
    PreconditionFailed,
    #[error("the resource is being modified concurrently; retry the request")]
    ConcurrentModification,
    #[error("{}", unknown_member(.0))]
    UnknownMember(String),
    /// The write is over one of the configured bounds (string length,
    /// resource size, values per PATCH operation).
    #[error(transparent)]
    LimitExceeded(#[from] scim_protocol::limits::LimitExceeded),
    #[error("the SCIM view is unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error("the seat quota is reached: {used} of {quota} seats are in use")]
    SeatQuotaReached { used: u32, quota: u32 },
    #[error("SCIM provisioning is not included in this organization's subscription")]
    ScimNotIncluded,
    #[error("licensing cannot confirm a seat right now; retry later")]
    LicensingUnavailable(#[source] super::ports::SeatError),
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token")]
    MissingToken,
    #[error("the bearer token is not valid")]
    InvalidToken,
    #[error("credentials cannot be checked right now")]
    Unavailable(#[source] anyhow::Error),
    #[error("SCIM provisioning is not included in this organization's subscription")]
    ScimNotIncluded,
}

/// Names the member only when it is one of our ids: anything else is the
/// client's text, never echoed.
fn unknown_member(raw: &str) -> String {
    match uuid::Uuid::try_parse(raw) {
        Ok(id) => format!("member {id} is not a user or group of this organization"),
        Err(_) => "a member id is not a user or group of this organization".to_owned(),
    }
}

impl ScimViewError {
    /// Maps a store failure that the use case has no specific meaning for.
    pub(crate) fn from_store(kind: ResourceKind, err: StoreError) -> Self {
        match err {
            StoreError::Duplicate => match kind {
                ResourceKind::User => ScimViewError::UserNameTaken,
                ResourceKind::Group => ScimViewError::GroupNameTaken,
            },
            StoreError::VersionConflict => ScimViewError::ConcurrentModification,
            StoreError::NotFound => ScimViewError::NotFound(kind),
            StoreError::UnsupportedQuery(e) => ScimViewError::Protocol(e),
            StoreError::Unavailable(e) => ScimViewError::Unavailable(e),
        }
    }
}
