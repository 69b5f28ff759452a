//! The one place where domain errors become HTTP statuses and SCIM error bodies.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use scim_protocol::{ErrorKind, ProtocolError, messages::error_body};

use crate::domain::errors::{AuthError, BulkError, BulkOperationError, ScimViewError};
use crate::domain::limits::{Refusal, Throttled};
use crate::domain::ports::SeatError;

pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    View(#[from] ScimViewError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("the request body could not be read")]
    BodyUnreadable,
    #[error("the content type is not supported; send application/scim+json or application/json")]
    UnsupportedMediaType,
    #[error("no endpoint at this path")]
    NoRoute,
    #[error("method not allowed on this endpoint")]
    MethodNotAllowed,
    #[error("too many failed authentications from this address; retry later")]
    TooManyFailedAuthentications(std::time::Duration),
    #[error("{}", throttled_detail(.0))]
    Throttled(Throttled),
    #[error(transparent)]
    Bulk(#[from] BulkError),
    #[error("the bulk request is larger than {0} bytes (maxPayloadSize)")]
    BulkPayloadTooLarge(usize),
    /// One operation of a Bulk request: its status and body, never the
    /// whole response's.
    #[error(transparent)]
    BulkOperation(BulkOperationError),
}

impl From<BulkOperationError> for ApiError {
    /// An operation's failure as the same request alone would have failed.
    fn from(e: BulkOperationError) -> Self {
        match e {
            BulkOperationError::View(e) => ApiError::View(e),
            BulkOperationError::NoRoute => ApiError::NoRoute,
            BulkOperationError::MethodNotAllowed => ApiError::MethodNotAllowed,
            other => ApiError::BulkOperation(other),
        }
    }
}

fn throttled_detail(throttled: &Throttled) -> String {
    let limit = match throttled.refusal {
        Refusal::InFlight => "too many requests of this organization are in progress",
        Refusal::Rate => "this organization is over its request rate",
    };
    format!("{limit}; retry after {} s", throttled.retry_after_secs)
}

impl From<ProtocolError> for ApiError {
    fn from(e: ProtocolError) -> Self {
        ApiError::View(ScimViewError::Protocol(e))
    }
}

impl ApiError {
    fn kind(&self) -> Option<ErrorKind> {
        match self {
            ApiError::View(ScimViewError::Protocol(e)) => Some(e.kind),
            ApiError::View(ScimViewError::UserNameTaken | ScimViewError::GroupNameTaken) => {
                Some(ErrorKind::Uniqueness)
            }
            ApiError::View(ScimViewError::UnknownMember(_)) => Some(ErrorKind::InvalidValue),
            ApiError::BodyUnreadable => Some(ErrorKind::InvalidSyntax),
            ApiError::Bulk(BulkError::Protocol(e)) => Some(e.kind),
            ApiError::Bulk(BulkError::TooManyOperations { .. })
            | ApiError::BulkPayloadTooLarge(_) => Some(ErrorKind::TooLarge),
            // RFC 7644 §3.7.3: an unresolvable bulkId is a 409 invalidValue.
            ApiError::BulkOperation(_) => Some(ErrorKind::InvalidValue),
            _ => None,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::View(e) => match e {
                ScimViewError::Protocol(p) if p.kind == ErrorKind::Uniqueness => {
                    StatusCode::CONFLICT
                }
                ScimViewError::Protocol(_) | ScimViewError::UnknownMember(_) => {
                    StatusCode::BAD_REQUEST
                }
                ScimViewError::NotFound(_) => StatusCode::NOT_FOUND,
                ScimViewError::UserNameTaken
                | ScimViewError::GroupNameTaken
                | ScimViewError::ConcurrentModification => StatusCode::CONFLICT,
                ScimViewError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
                ScimViewError::LimitExceeded(_) => StatusCode::PAYLOAD_TOO_LARGE,
                ScimViewError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                ScimViewError::SeatQuotaReached { .. } | ScimViewError::ScimNotIncluded => {
                    StatusCode::FORBIDDEN
                }
                ScimViewError::LicensingUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            },
            ApiError::Auth(AuthError::MissingToken | AuthError::InvalidToken) => {
                StatusCode::UNAUTHORIZED
            }
            ApiError::Auth(AuthError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Auth(AuthError::ScimNotIncluded) => StatusCode::FORBIDDEN,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyUnreadable => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NoRoute => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooManyFailedAuthentications(_) | ApiError::Throttled(_) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Bulk(BulkError::Protocol(_)) => StatusCode::BAD_REQUEST,
            ApiError::Bulk(BulkError::TooManyOperations { .. })
            | ApiError::BulkPayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BulkOperation(_) => StatusCode::CONFLICT,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (status, body) = self.status_and_body();
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CONTENT_TYPE, SCIM_CONTENT_TYPE));
        if status == StatusCode::UNAUTHORIZED {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scim\""),
            ));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
        }
        if let ApiError::TooManyFailedAuthentications(wait) = self {
            response.insert_header((header::RETRY_AFTER, wait.as_secs().max(1).to_string()));
        }
        if let ApiError::Throttled(throttled) = self {
            response.insert_header((
                header::RETRY_AFTER,
                throttled.retry_after_secs.max(1).to_string(),
            ));
        }
        response.body(body.to_string())
    }
}

impl ApiError {
    /// The status and the SCIM error body: what a response carries, and
    /// what a Bulk operation's `status` and `response` are.
    pub fn status_and_body(&self) -> (StatusCode, serde_json::Value) {
        let status = self.status_code();
        let detail = match self {
            // Never show storage internals to the client; the log has them.
            ApiError::View(ScimViewError::Unavailable(e))
            | ApiError::Auth(AuthError::Unavailable(e)) => {
                tracing::error!(error = format!("{e:#}"), "storage unavailable");
                "the service is temporarily unavailable; retry later".to_owned()
            }
            ApiError::View(ScimViewError::Protocol(e)) | ApiError::Bulk(BulkError::Protocol(e)) => {
                e.detail.clone()
            }
            ApiError::View(ScimViewError::LicensingUnavailable(e)) => {
                tracing::warn!(error = %e, "seat reservation unavailable");
                ScimViewError::LicensingUnavailable(SeatError::Unavailable(String::new()))
                    .to_string()
            }
            other => other.to_string(),
        };
        (status, error_body(status.as_u16(), self.kind(), &detail))
    }
}
