//! Admin login: the browser trades the admin token for an HttpOnly session cookie once,
//! and logs out by clearing it.

use serde::{Deserialize, Serialize};

/// `POST /api/admin/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRequest {
    /// The admin token, as configured or as made on the server's first start.
    pub token: String,
}

/// The answer of `POST /api/admin/login` and `POST /api/admin/logout` when they worked (a
/// wrong token is an [`crate::ApiError`] with status 401).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionAnswer {
    /// Always `true`.
    pub success: bool,
}
