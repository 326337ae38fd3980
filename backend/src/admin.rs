//! Admin authentication: one token, from configuration or made on first start (kept in the
//! data directory, 0600, printed once). API clients send `Authorization: Bearer <token>`;
//! the browser logs in once and gets an HttpOnly, SameSite=Strict cookie.

use axum::Json;
use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use protocol::admin::{LoginRequest, SessionAnswer};

use crate::error::AppError;
use crate::secrets::secrets_match;

/// The cookie that carries the admin session.
pub const COOKIE_NAME: &str = "workbench_admin";
/// A login lasts a week.
const COOKIE_MAX_AGE: cookie::time::Duration = cookie::time::Duration::days(7);

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
    CookieJar::from_headers(headers)
        .get(COOKIE_NAME)
        .map(|cookie| cookie.value().to_owned())
}

/// The session cookie: HttpOnly (scripts cannot read it), SameSite=Strict (other sites
/// cannot send it), for the whole site.
fn session_cookie(token: String) -> Cookie<'static> {
    Cookie::build((COOKIE_NAME, token))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .build()
}

/// `POST /api/admin/login {token}`: sets the session cookie.
pub async fn login(
    State(expected): State<AdminToken>,
    jar: CookieJar,
    crate::extract::Json(login): crate::extract::Json<LoginRequest>,
) -> Result<(CookieJar, Json<SessionAnswer>), AppError> {
    if !secrets_match(&login.token, &expected.0) {
        return Err(AppError::Unauthorized("the admin token is wrong".into()));
    }
    let mut cookie = session_cookie(login.token);
    cookie.set_max_age(COOKIE_MAX_AGE);
    Ok((jar.add(cookie), Json(SessionAnswer { success: true })))
}

/// `POST /api/admin/logout`: clears the session cookie (always, whether or not this request
/// carried it).
pub async fn logout(jar: CookieJar) -> (CookieJar, Json<SessionAnswer>) {
    let mut cookie = session_cookie(String::new());
    cookie.make_removal();
    (jar.add(cookie), Json(SessionAnswer { success: true }))
}
