//! Static files and the headers every response carries.
//!
//! - `Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy: require-corp`
//!   on **every** response (errors included): they make the page cross-origin isolated,
//!   which `SharedArrayBuffer` — and so the Stop button — needs.
//! - Files under `/pyodide/v{version}/` never change for a given URL, so they are cached for
//!   a year as immutable; the lock and everything else revalidate (`no-cache`), so a new
//!   build is picked up at once.
//! - Unknown paths under `/pyodide/` and `/wheelhouse/` are plain 404s; any other unknown
//!   path gets the HTML shell, so the app's own routes work on reload.

use axum::Router;
use axum::extract::Request;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use tower_http::compression::predicate::{NotForContentType, Predicate};
use tower_http::compression::{CompressionLayer, DefaultPredicate};
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::Config;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

/// The routes that serve files: the Pyodide distribution, the wheelhouse and the app shell.
pub fn routes(config: &Config) -> Router {
    let shell = ServeDir::new(&config.dist_dir)
        .fallback(ServeFile::new(config.dist_dir.join("index.html")));
    Router::new()
        .nest_service("/pyodide", ServeDir::new(config.public_dir.join("pyodide")))
        .nest_service(
            "/wheelhouse",
            ServeDir::new(config.public_dir.join("wheelhouse")),
        )
        .fallback_service(shell)
}

/// Adds what every response needs: isolation headers, cache policy, MIME fixes, compression.
pub fn wrap(router: Router) -> Router {
    // Wheels and zips are compressed already; compressing them again only costs CPU.
    let worth_compressing = DefaultPredicate::new()
        .and(NotForContentType::const_new("application/zip"))
        .and(NotForContentType::const_new("application/octet-stream"));
    router
        .layer(middleware::from_fn(cache_and_types))
        .layer(CompressionLayer::new().compress_when(worth_compressing))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("cross-origin-embedder-policy"),
            HeaderValue::from_static("require-corp"),
        ))
}

async fn cache_and_types(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    let immutable = path.starts_with("/pyodide/v")
        && !path.ends_with("/pyodide-lock.json")
        && response.status().is_success();
    let headers = response.headers_mut();
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static(if immutable { IMMUTABLE } else { REVALIDATE }),
    );
    // ES modules must be served as JavaScript or the browser refuses to run them.
    if path.ends_with(".mjs") {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/javascript"));
    }
    response
}
