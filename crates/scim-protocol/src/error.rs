//! Protocol-level errors (RFC 7644 §3.12). The HTTP status is decided by the
//! adapter that speaks HTTP; this crate only says what kind of error it is.

use serde::{Deserialize, Serialize};

/// The `scimType` keywords of RFC 7644 §3.12, plus the kinds that carry no keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorKind {
    InvalidFilter,
    TooMany,
    Uniqueness,
    Mutability,
    InvalidSyntax,
    InvalidPath,
    NoTarget,
    InvalidValue,
    InvalidVers,
    Sensitive,
    /// RFC 9865 §2.1: a cursor that is not one this server issued for this
    /// query (garbage, altered, another query's or organization's).
    InvalidCursor,
    /// RFC 9865 §2.1: a cursor older than the advertised `cursorTimeout`.
    ExpiredCursor,
    /// Over a Bulk limit (`maxOperations`, `maxPayloadSize`): HTTP 413.
    TooLarge,
}

impl ErrorKind {
    /// The `scimType` string as it appears on the wire.
    pub fn scim_type(self) -> &'static str {
        match self {
            ErrorKind::InvalidFilter => "invalidFilter",
            ErrorKind::TooMany => "tooMany",
            ErrorKind::Uniqueness => "uniqueness",
            ErrorKind::Mutability => "mutability",
            ErrorKind::InvalidSyntax => "invalidSyntax",
            ErrorKind::InvalidPath => "invalidPath",
            ErrorKind::NoTarget => "noTarget",
            ErrorKind::InvalidValue => "invalidValue",
            ErrorKind::InvalidVers => "invalidVers",
            ErrorKind::Sensitive => "sensitive",
            ErrorKind::InvalidCursor => "invalidCursor",
            ErrorKind::ExpiredCursor => "expiredCursor",
            ErrorKind::TooLarge => "tooLarge",
        }
    }
}

/// A request the protocol rules reject. `detail` is safe to show to the client:
/// it never echoes attribute values, only names and positions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {detail}", kind.scim_type())]
pub struct ProtocolError {
    pub kind: ErrorKind,
    pub detail: String,
}

impl ProtocolError {
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidFilter, detail)
    }
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidSyntax, detail)
    }
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidValue, detail)
    }
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidPath, detail)
    }
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::NoTarget, detail)
    }
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::Mutability, detail)
    }
    pub fn too_many(detail: impl Into<String>) -> Self {
        Self::new(ErrorKind::TooMany, detail)
    }
}

pub type ProtocolResult<T> = Result<T, ProtocolError>;
