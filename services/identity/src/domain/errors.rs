use super::ports::StoreError;

/// Why an admin request about accounts failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("account not found")]
    NotFound,
    #[error("unknown role {0:?}; allowed: {1}")]
    UnknownRole(String, String),
    #[error("unknown permission {0:?}; allowed: {1}")]
    UnknownPermission(String, String),
    #[error("the access of an erased account cannot change")]
    Erased,
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}
