//! The one error type of the API: it becomes `{success: false, error, code}` with the right
//! status. Details of server-side failures are logged, never sent.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    NotFound(String),
}

impl AppError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let body = protocol::ApiError {
            success: false,
            error: self.to_string(),
            code: code.to_owned(),
        };
        (status, Json(body)).into_response()
    }
}
