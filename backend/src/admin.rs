//! Admin authentication: one token, from configuration or made on first start (kept in the
//! data directory, 0600, printed once). API clients send `Authorization: Bearer <token>`;
//! the browser logs in once and gets an HttpOnly, SameSite=Strict cookie.

use axum::Json;
use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;

use crate::error::AppError;
use crate::privacy::secrets_match;

/// The cookie that carries the admin session.
pub const COOKIE_NAME: &str = "workbench_admin";
/// A login lasts a week.
const COOKIE_MAX_AGE_SECONDS: u32 = 7 * 24 * 3600;

/// The admin token the server accepts.
#[derive(Debug, Clone)]
pub struct AdminToken(pub std::sync::Arc<str>);

/// Proof that the request came from an admin; handlers that take it are admin-only.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl<S> FromRequestParts<S> for Admin
where
    AdminToken: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let expected = AdminToken::from_ref(state);
        match presented_token(&parts.headers) {
            Some(token) if secrets_match(&token, &expected.0) => Ok(Admin),
            Some(_) => Err(AppError::Unauthorized("the admin token is wrong".into())),
            None => Err(AppError::Unauthorized(
                "admin login required: send Authorization: Bearer <token> or log in".into(),
            )),
        }
    }
}

fn presented_token(headers: &HeaderMap) -> Option<String> {
    if let Some(bearer) = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
    {
        return Some(bearer.trim().to_owned());
    }
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|cookie| cookie.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.to_owned())
}

#[derive(Debug, Deserialize)]
pub struct Login {
    token: String,
}

/// `POST /api/admin/login {token}`: sets the session cookie.
pub async fn login(
    State(expected): State<AdminToken>,
    crate::json::Json(login): crate::json::Json<Login>,
) -> Result<impl IntoResponse, AppError> {
    if !secrets_match(&login.token, &expected.0) {
        return Err(AppError::Unauthorized("the admin token is wrong".into()));
    }
    // The token is hex, so it needs no cookie escaping.
    let cookie = format!(
        "{COOKIE_NAME}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={COOKIE_MAX_AGE_SECONDS}",
        login.token
    );
    let cookie = HeaderValue::from_str(&cookie).map_err(|_| {
        AppError::BadRequest("the token has characters a cookie cannot carry".into())
    })?;
    Ok((
        StatusCode::OK,
        [(SET_COOKIE, cookie)],
        Json(serde_json::json!({"success": true})),
    ))
}

/// `POST /api/admin/logout`: clears the session cookie.
pub async fn logout() -> impl IntoResponse {
    (
        [(
            SET_COOKIE,
            HeaderValue::from_static(
                "workbench_admin=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
            ),
        )],
        Json(serde_json::json!({"success": true})),
    )
}
