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

/// A Bulk request refused whole, before any of its operations ran.
#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    /// The request is not a BulkRequest (shape, duplicate bulkId…).
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error("the bulk request has more than {max} operations (maxOperations)")]
    TooManyOperations { max: usize },
}

/// Why one operation of a Bulk request failed. The details never echo the
/// client's `bulkId`s: they are the client's own text.
#[derive(Debug, thiserror::Error)]
pub enum BulkOperationError {
    /// What the same request alone would have answered.
    #[error(transparent)]
    View(#[from] ScimViewError),
    #[error("no endpoint at this path; Bulk operations address /Users and /Groups")]
    NoRoute,
    #[error("this method is not allowed on this path")]
    MethodNotAllowed,
    #[error("the operation refers to a bulkId that no operation of this request defines")]
    UnknownBulkId,
    #[error("the operation refers to a bulkId whose operation failed")]
    FailedBulkId,
    #[error("the operation's bulkId references are circular and could not be resolved")]
    CircularReference,
}
