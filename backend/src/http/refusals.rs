//! How the server refuses, before and after routing, so that every refusal is the app's JSON
//! error (`{success: false, error, code}`):
//!
//! - before routing, [`refuse_oversized`]: a URI over [`MAX_URI_BYTES`] (414), more than
//!   [`MAX_HEADER_FIELDS`] header fields or over [`MAX_HEADER_BYTES`] of them (431), and a
//!   path segment longer than a file name may be (404 — no file or route has one; the file
//!   system would fail on it);
//! - after routing, [`json_errors`]: an error answer that is not JSON yet (axum's 405, the
//!   file server's 404s under `/pyodide`, …) gets the JSON body its status calls for;
//! - [`panic_answer`]: a handler that panics answers a JSON 500 (the details are logged) and
//!   the server keeps serving.
//!
//! hyper still answers by itself, without a body, a request head beyond its own parser's
//! limits (a URI over 64 KiB, more than 200 header fields, a head over 400 KiB).

use std::any::Any;

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::http::error::AppError;

/// Longest request target (path and query) the app reads.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Most header fields the app reads.
pub const MAX_HEADER_FIELDS: usize = 100;
/// Most bytes of header names and values the app reads.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// Longest path segment: what file systems allow for a file name.
pub const MAX_SEGMENT_BYTES: usize = 255;

/// Refuses requests too big to route (see the module's comment).
pub async fn refuse_oversized(request: Request, next: Next) -> Response {
    let uri_bytes = request
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    if uri_bytes > MAX_URI_BYTES {
        return refusal(
            StatusCode::URI_TOO_LONG,
            format!("the request target has {uri_bytes} bytes; at most {MAX_URI_BYTES} are read"),
        );
    }
    let headers = request.headers();
    let header_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers.len() > MAX_HEADER_FIELDS || header_bytes > MAX_HEADER_BYTES {
        return refusal(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "{} header fields of {header_bytes} bytes; at most {MAX_HEADER_FIELDS} fields of {MAX_HEADER_BYTES} bytes are read",
                headers.len()
            ),
        );
    }
    let path = request.uri().path();
    if path
        .split('/')
        .any(|segment| segment.len() > MAX_SEGMENT_BYTES)
    {
        return AppError::NotFound(format!("nothing at {}", shortened(path))).into_response();
    }
    next.run(request).await
}

/// Gives error answers that are not JSON the app's JSON error body.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = shortened(request.uri().path());
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    if status.is_server_error() {
        tracing::error!("{method} {path} answered {status}");
    }
    let message = match status {
        StatusCode::NOT_FOUND => format!("nothing at {path}"),
        StatusCode::METHOD_NOT_ALLOWED => format!("{method} is not allowed at {path}"),
        _ if status.is_server_error() => "internal error".to_owned(),
        _ => status
            .canonical_reason()
            .unwrap_or("refused")
            .to_lowercase(),
    };
    let (mut parts, _) = response.into_parts();
    for header in [CONTENT_LENGTH, CONTENT_ENCODING] {
        parts.headers.remove(header);
    }
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, Body::from(json_body(status, message)))
}

/// The answer to a panicking handler: a JSON 500, with the panic's message in the log only.
pub fn panic_answer(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    AppError::Internal(format!("a handler panicked: {message}")).into_response()
}

fn refusal(status: StatusCode, message: String) -> Response {
    let mut response = (status, json_body(status, message)).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn json_body(status: StatusCode, message: String) -> String {
    serde_json::to_string(&protocol::ApiError {
        success: false,
        error: message,
        code: protocol::ErrorCode::for_status(status.as_u16()),
    })
    .unwrap_or_default()
}

/// A client's path, short enough to repeat in an answer or a log line.
fn shortened(path: &str) -> String {
    const SHOWN: usize = 200;
    if path.len() <= SHOWN {
        return path.to_owned();
    }
    let mut end = SHOWN;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &path[..end])
}
