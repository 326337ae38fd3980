//! The one error type of the API: it becomes `{success: false, error, code}` with the right
//! status. Details of server-side failures are logged, never sent.

use std::time::Duration;

use axum::Json;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use protocol::ErrorCode;

use crate::storage::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but refused (a cross-site request).
    #[error("{0}")]
    Forbidden(String),
    /// The request's body did not arrive in time.
    #[error("{0}")]
    RequestTimeout(String),
    /// A live stream over the per-client or total cap.
    #[error("{0}")]
    TooManyStreams(String),
    #[error("too many requests: try again in {} s", retry_after.as_secs().max(1))]
    TooManyRequests { retry_after: Duration },
    /// A request axum's extractors refused (wrong content type, malformed JSON, …).
    #[error("{message}")]
    Rejected { status: StatusCode, message: String },
    /// An upstream server failed or sent something we refuse.
    #[error("{0}")]
    BadGateway(String),
    /// The database cannot be reached for now; the client should try again after a while.
    #[error("the database cannot be reached right now: try again in {} s", retry_after.as_secs().max(1))]
    ServiceUnavailable { retry_after: Duration },
    /// A failure on our side; the details are logged, the client gets a generic message.
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            Self::Unauthorized(_) => ErrorCode::Unauthorized,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::RequestTimeout(_) => ErrorCode::Timeout,
            Self::TooManyRequests { .. } => ErrorCode::RateLimited,
            Self::TooManyStreams(_) => ErrorCode::TooManyStreams,
            Self::Rejected { status, .. } => ErrorCode::for_status(status.as_u16()),
            Self::BadGateway(_) => ErrorCode::Upstream,
            Self::ServiceUnavailable { .. } => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            // An extractor's own status (415, 422, …) is kept; its code is the usual one.
            Self::Rejected { status, .. } => *status,
            other => StatusCode::from_u16(other.code().status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

/// How long a client is asked to wait while the database is unreachable.
pub const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(5);

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(details) => {
                tracing::warn!("{details}");
                Self::ServiceUnavailable {
                    retry_after: UNAVAILABLE_RETRY_AFTER,
                }
            }
            other => Self::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = (self.status(), self.code());
        if let Self::Internal(details) = &self {
            tracing::error!("internal error: {details}");
        }
        let body = protocol::ApiError {
            success: false,
            error: self.to_string(),
            code,
        };
        let mut response = (status, Json(body)).into_response();
        if let Self::TooManyRequests { retry_after } | Self::ServiceUnavailable { retry_after } =
            &self
            && let Ok(seconds) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string())
        {
            response.headers_mut().insert(RETRY_AFTER, seconds);
        }
        response
    }
}
