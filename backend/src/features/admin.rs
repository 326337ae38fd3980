//! Admin authentication. There is one token, from configuration or made on first start (kept
//! in the data directory, 0600, printed once), of at least [`MIN_TOKEN_LEN`] characters. API
//! clients send it as `Authorization: Bearer <token>`; the browser trades it once for a
//! session:
//!
//! - The cookie holds a random session id, never the token. The server keeps the id's SHA-256
//!   and when it expires (a week, the cookie's max age); logout revokes it. With SQLite,
//!   sessions live in memory, so a restart logs admins out; with PostgreSQL they are rows of
//!   `admin_sessions`, so any replica accepts them and restarts keep them.
//! - The cookie is HttpOnly and SameSite=Strict, and `Secure` when the request came over
//!   HTTPS ([`Site::https`]).
//! - Logins are rate limited per client and for everyone together, and failures are logged.
//! - A request that changes something and signs in by cookie must be JSON and come from this
//!   site (`Sec-Fetch-Site: same-origin`, or an `Origin` equal to [`Site::origin`]): SameSite=Strict does
//!   not cover a page on another port of the same host or on a sibling subdomain. Bearer
//!   requests carry no ambient credential and are not checked.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, ORIGIN};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use protocol::admin::{LoginRequest, SessionAnswer};
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::http::client::{ClientKey, Site};
use crate::http::error::AppError;
use crate::storage::PgStore;
use crate::util::clock;
use crate::util::counters::Counters;
use crate::util::privacy;
use crate::util::rate_limit::{RateLimiter, SharedLimit};
use crate::util::secrets::{random_bytes, secrets_match};

/// The cookie that carries the admin session.
pub const COOKIE_NAME: &str = "workbench_admin";
/// The shortest admin token the server starts with.
pub const MIN_TOKEN_LEN: usize = 16;
/// A login lasts a week.
const SESSION_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// Sessions kept at most; beyond, the one closest to expiring is dropped.
const MAX_SESSIONS: usize = 1000;
/// Login attempts per client: 10 at once, then one every 6 seconds.
const LOGINS_PER_CLIENT: (f64, f64) = (1.0 / 6.0, 10.0);
/// Login attempts from everyone together: 30 at once, then one a second.
const LOGINS_IN_ALL: (f64, f64) = (1.0, 30.0);

/// The admin token, the open sessions and the login limits.
#[derive(Debug)]
pub struct AdminAuth {
    token: String,
    /// SHA-256 of each open session's id, and when it expires (without a shared store).
    sessions: Mutex<HashMap<[u8; 32], Instant>>,
    /// Where replicas share the sessions, when there are several.
    shared: Option<PgStore>,
    per_client: RateLimiter,
    in_all: SharedLimit,
}

impl AdminAuth {
    /// Refuses a token shorter than [`MIN_TOKEN_LEN`]; `source` says where it came from.
    pub fn new(token: &str, source: &str) -> anyhow::Result<Self> {
        let token = token.trim();
        let length = token.chars().count();
        if length < MIN_TOKEN_LEN {
            anyhow::bail!(
                "the admin token from {source} has {length} characters; it must have at least {MIN_TOKEN_LEN}. \
                 Make one with `openssl rand -hex 32`, or leave WORKBENCH_ADMIN_TOKEN unset (and delete a short \
                 data/admin-token) to have the server make one"
            );
        }
        Ok(Self {
            token: token.to_owned(),
            sessions: Mutex::new(HashMap::new()),
            shared: None,
            per_client: RateLimiter::new(LOGINS_PER_CLIENT.0, LOGINS_PER_CLIENT.1),
            in_all: SharedLimit::new(LOGINS_IN_ALL.0, LOGINS_IN_ALL.1),
        })
    }

    /// Keeps the sessions in `store`, shared by every replica.
    pub fn shared_in(self, store: PgStore) -> Self {
        Self {
            shared: Some(store),
            ..self
        }
    }

    /// Opens a session; returns its id, for the cookie.
    async fn start_session(&self) -> Result<String, AppError> {
        let id =
            hex::encode(random_bytes().map_err(|error| AppError::Internal(error.to_string()))?);
        if let Some(store) = &self.shared {
            let now = clock::now_ms();
            let lifetime = i64::try_from(SESSION_LIFETIME.as_millis()).unwrap_or(i64::MAX);
            store
                .start_session(&session_hash(&id), now + lifetime, now, MAX_SESSIONS)
                .await?;
            return Ok(id);
        }
        let now = Instant::now();
        let mut sessions = self.lock();
        sessions.retain(|_, expires| *expires > now);
        if sessions.len() >= MAX_SESSIONS
            && let Some(closest) = sessions
                .iter()
                .min_by_key(|(_, expires)| **expires)
                .map(|(hash, _)| *hash)
        {
            sessions.remove(&closest);
        }
        sessions.insert(session_hash(&id), now + SESSION_LIFETIME);
        Ok(id)
    }

    async fn session_is_open(&self, id: &str) -> Result<bool, AppError> {
        if let Some(store) = &self.shared {
            return Ok(store
                .session_is_open(&session_hash(id), clock::now_ms())
                .await?);
        }
        Ok(self
            .lock()
            .get(&session_hash(id))
            .is_some_and(|expires| *expires > Instant::now()))
    }

    async fn end_session(&self, id: &str) -> Result<(), AppError> {
        if let Some(store) = &self.shared {
            return Ok(store.end_session(&session_hash(id)).await?);
        }
        self.lock().remove(&session_hash(id));
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Instant>> {
        self.sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn session_hash(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// Proof that the request came from an admin; handlers that take it are admin-only.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let auth = state.admin();
        if let Some(bearer) = bearer_token(&parts.headers) {
            return if secrets_match(bearer, &auth.token) {
                Ok(Admin)
            } else {
                Err(AppError::Unauthorized("the admin token is wrong".into()))
            };
        }
        let Ok(site) = Site::from_request_parts(parts, state).await;
        let session = session_id(&parts.headers);
        let open = match &session {
            Some(id) => auth.session_is_open(id).await?,
            None => false,
        };
        match session {
            Some(_) if open => {
                if !matches!(parts.method, Method::GET | Method::HEAD) {
                    check_same_site(&parts.headers, &site)?;
                }
                Ok(Admin)
            }
            Some(_) => Err(AppError::Unauthorized(
                "the session has ended: log in again".into(),
            )),
            None => Err(AppError::Unauthorized(
                "admin login required: send Authorization: Bearer <token> or log in".into(),
            )),
        }
    }
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
}

fn session_id(headers: &HeaderMap) -> Option<String> {
    CookieJar::from_headers(headers)
        .get(COOKIE_NAME)
        .map(|cookie| cookie.value().to_owned())
}

/// Refuses a cookie-signed request that is not JSON or does not come from this site.
fn check_same_site(headers: &HeaderMap, site: &Site) -> Result<(), AppError> {
    let text = |name| headers.get(name).and_then(|value| value.to_str().ok());
    let is_json = text(CONTENT_TYPE)
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(AppError::Rejected {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            message: "a request signed in by cookie must send Content-Type: application/json"
                .into(),
        });
    }
    if let Some(site) = text("sec-fetch-site".parse().expect("a header name")) {
        return if site == "same-origin" {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "cross-site request refused (Sec-Fetch-Site: {site})"
            )))
        };
    }
    match text(ORIGIN) {
        Some(origin) if origin.eq_ignore_ascii_case(&site.origin) => Ok(()),
        Some(origin) => Err(AppError::Forbidden(format!(
            "cross-site request refused: {origin} is not this site"
        ))),
        None => Err(AppError::Forbidden(
            "cross-site request refused: a request signed in by cookie needs an Origin header (API clients send Authorization: Bearer instead)".into(),
        )),
    }
}

/// The session cookie: HttpOnly (scripts cannot read it), SameSite=Strict (other sites
/// cannot send it), for the whole site, `Secure` over HTTPS.
fn session_cookie(value: String, secure: bool) -> Cookie<'static> {
    Cookie::build((COOKIE_NAME, value))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .path("/")
        .build()
}

/// `POST /api/admin/login {token}`: opens a session and sets its cookie.
pub async fn login(
    State(state): State<AppState>,
    site: Site,
    jar: CookieJar,
    crate::http::extract::Json(login): crate::http::extract::Json<LoginRequest>,
) -> Result<(CookieJar, Json<SessionAnswer>), AppError> {
    let config = state.config();
    let client = site.client;
    let auth = state.admin();
    if let Err(retry_after) = auth
        .per_client
        .check(ClientKey::of(client))
        .and_then(|()| auth.in_all.check())
    {
        Counters::add(&state.counters().logins_refused, 1);
        return Err(AppError::TooManyRequests { retry_after });
    }
    if !secrets_match(&login.token, &auth.token) {
        Counters::add(&state.counters().login_failures, 1);
        tracing::warn!(
            "failed admin login from {}",
            privacy::stored_address(client, config.store_full_ip)
        );
        return Err(AppError::Unauthorized("the admin token is wrong".into()));
    }
    let mut cookie = session_cookie(auth.start_session().await?, site.https);
    cookie.set_max_age(cookie::time::Duration::seconds(
        SESSION_LIFETIME.as_secs().try_into().unwrap_or(i64::MAX),
    ));
    Ok((jar.add(cookie), Json(SessionAnswer { success: true })))
}

/// `POST /api/admin/logout`: ends the session this request carries (a cross-site request
/// cannot) and clears its cookie.
pub async fn logout(
    State(state): State<AppState>,
    site: Site,
    headers: HeaderMap,
    jar: CookieJar,
) -> Result<(CookieJar, Json<SessionAnswer>), AppError> {
    if let Some(id) = session_id(&headers) {
        check_same_site(&headers, &site)?;
        state.admin().end_session(&id).await?;
    }
    let mut cookie = session_cookie(String::new(), site.https);
    cookie.make_removal();
    Ok((jar.add(cookie), Json(SessionAnswer { success: true })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_tokens_are_refused_with_a_way_to_make_one() {
        let error = AdminAuth::new("  too-short  ", "WORKBENCH_ADMIN_TOKEN")
            .expect_err("9 characters")
            .to_string();
        assert!(error.contains("has 9 characters"), "{error}");
        assert!(error.contains("openssl rand -hex 32"), "{error}");
        assert!(AdminAuth::new("sixteen-chars-ok", "a test").is_ok());
    }

    #[tokio::test]
    async fn sessions_are_random_revocable_and_never_the_token() {
        let auth = AdminAuth::new("a-token-of-some-length", "a test").expect("auth");
        let first = auth.start_session().await.expect("session");
        let second = auth.start_session().await.expect("session");
        assert_ne!(first, second);
        assert_eq!(first.len(), 64);
        assert!(!first.contains("a-token"));
        let open = async |id: &str| auth.session_is_open(id).await.expect("answers");
        assert!(open(&first).await);
        auth.end_session(&first).await.expect("ended");
        assert!(!open(&first).await);
        assert!(open(&second).await);
        assert!(!open("a-token-of-some-length").await);
    }
}
