//! Request extractors whose rejections answer in the app's own error shape
//! (`{success: false, error, code}`) instead of axum's plain text, and which give a body
//! only the time the connection allows it ([`BodyTimeout`]).

use std::future::Future;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;

use crate::http::connections::BodyTimeout;
use crate::http::error::AppError;

/// The body deadline when a request did not come through the server's accept loop (tests
/// calling the router in-process).
const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(15);

/// `axum::Json`, with JSON error answers.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let deadline = body_timeout(&request);
        match within(deadline, axum::Json::<T>::from_request(request, state)).await? {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(AppError::Rejected {
                status: rejection.status(),
                message: rejection.body_text(),
            }),
        }
    }
}

/// The raw body, within the route's body limit; too large is a JSON 413.
#[derive(Debug)]
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let deadline = body_timeout(&request);
        within(deadline, Bytes::from_request(request, state))
            .await?
            .map(Self)
            .map_err(|rejection: BytesRejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::PayloadTooLarge(format!(
                        "the body is larger than {} bytes",
                        protocol::telemetry::MAX_BATCH_BYTES
                    ))
                } else {
                    AppError::Rejected {
                        status: rejection.status(),
                        message: rejection.body_text(),
                    }
                }
            })
    }
}

fn body_timeout(request: &Request) -> Duration {
    request
        .extensions()
        .get::<BodyTimeout>()
        .map_or(DEFAULT_BODY_TIMEOUT, |BodyTimeout(timeout)| *timeout)
}

/// Reading a body, or a 408 when it takes longer than `deadline`.
async fn within<T>(deadline: Duration, reading: impl Future<Output = T>) -> Result<T, AppError> {
    tokio::time::timeout(deadline, reading).await.map_err(|_| {
        AppError::RequestTimeout(format!(
            "the request's body did not arrive within {} s",
            deadline.as_secs_f64()
        ))
    })
}
