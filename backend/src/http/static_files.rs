//! Static files and the headers every response carries.
//!
//! - `Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy: require-corp`
//!   on **every** response (errors included): they make the page cross-origin isolated,
//!   which `SharedArrayBuffer` — and so the Stop button — needs.
//! - Files under `/pyodide/v{version}/`, `/duckdb/v{version}/` (the SQL engine) and the
//!   chart renderers' `/plotly/v{version}/`, `/vega/…`, `/vega-lite/…`, `/vega-embed/…`
//!   ([`VERSIONED_NPM_FOLDERS`]) never change for a given URL, so they are cached for a year as immutable; the lock and everything else revalidate (`no-cache`), so a new
//!   build is picked up at once.
//! - The Pyodide, DuckDB and chart renderers' files are sent precompressed where set-up made `.br` / `.gz` copies;
//!   everything else compressible is compressed on the fly.
//! - Unknown paths under `/api`, `/pypi`, `/pyodide`, the folders above and `/wheelhouse` (the folders
//!   themselves included) are JSON 404s; any other unknown path gets the HTML shell, so the
//!   app's own routes work on reload.
//! - `/sw.js`, the service worker, is stamped with the build's identity (a hash of every
//!   file in `dist/`), the Pyodide version and the list of shell files, so each build gets
//!   its own caches and a new build replaces the old one.

use axum::Router;
use axum::extract::Request;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, VARY};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::predicate::{NotForContentType, Predicate};
use tower_http::compression::{CompressionLayer, DefaultPredicate};
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::Config;
use crate::http::refusals;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

/// The routes that serve files: the Pyodide distribution, the SQL engine (DuckDB-Wasm) and
/// the app shell (wheels are the package index's).
pub fn routes(config: &Config) -> Router {
    let shell = ServeDir::new(&config.dist_dir)
        .fallback(ServeFile::new(config.dist_dir.join("index.html")));
    let router = Router::new().nest_service(
        "/pyodide",
        // `xtask setup` writes `.br` and `.gz` copies of the big core files: sent as they
        // are, instead of compressing 10 MB of WebAssembly again for every browser.
        ServeDir::new(config.public_dir.join("pyodide"))
            .precompressed_br()
            .precompressed_gzip(),
    );
    VERSIONED_NPM_FOLDERS
        .iter()
        .fold(router, |router, folder| {
            router.nest_service(
                &format!("/{folder}"),
                ServeDir::new(config.public_dir.join(folder))
                    .precompressed_br()
                    .precompressed_gzip(),
            )
        })
        .fallback_service(shell)
}

/// The folders of files set-up takes from npm packages, each under `v{version}/`: the SQL
/// engine (DuckDB-Wasm) and the chart renderers (`manifest.json`'s `sqlEngine` and
/// `chartRenderers`).
pub const VERSIONED_NPM_FOLDERS: [&str; 5] =
    ["duckdb", "plotly", "vega", "vega-lite", "vega-embed"];

/// Whether `path` is under one of the folders whose files never change for a URL.
fn is_versioned(path: &str) -> bool {
    path.strip_prefix("/pyodide/")
        .is_some_and(|rest| rest.starts_with('v'))
        || VERSIONED_NPM_FOLDERS.iter().any(|folder| {
            path.strip_prefix('/')
                .and_then(|rest| rest.strip_prefix(folder))
                .and_then(|rest| rest.strip_prefix("/v"))
                .is_some()
        })
}

/// Adds what every response needs: isolation headers, cache policy, MIME fixes, JSON errors,
/// compression; and refuses what is too big to route, and answers a panicking handler.
pub fn wrap(router: Router) -> Router {
    // Wheels and zips are compressed already; compressing them again only costs CPU.
    let worth_compressing = DefaultPredicate::new()
        .and(NotForContentType::const_new("application/zip"))
        .and(NotForContentType::const_new("application/octet-stream"));
    router
        .layer(middleware::from_fn(cache_and_types))
        .layer(middleware::from_fn(refusals::json_errors))
        .layer(middleware::from_fn(refusals::refuse_oversized))
        .layer(CatchPanicLayer::custom(refusals::panic_answer))
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

/// `GET /sw.js`
pub async fn service_worker(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
) -> Result<Response, crate::http::error::AppError> {
    let config = state.config().clone();
    let script = tokio::task::spawn_blocking(move || stamped_service_worker(&config))
        .await
        .map_err(|error| crate::http::error::AppError::Internal(error.to_string()))?
        .map_err(|error| {
            crate::http::error::AppError::NotFound(format!(
                "no service worker in this build: {error}"
            ))
        })?;
    Ok((
        [(CONTENT_TYPE, HeaderValue::from_static("text/javascript"))],
        script,
    )
        .into_response())
}

/// The build's `sw.js` with its placeholders filled in.
fn stamped_service_worker(config: &Config) -> std::io::Result<String> {
    let template = std::fs::read_to_string(config.dist_dir.join("sw.js"))?;
    let mut names: Vec<String> = std::fs::read_dir(&config.dist_dir)?
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_file()))
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    names.sort();
    let mut build = Sha256::new();
    let mut shell = vec!["/".to_owned()];
    for name in &names {
        build.update(name.as_bytes());
        build.update(std::fs::read(config.dist_dir.join(name))?);
        if name != "sw.js" && name != "index.html" {
            shell.push(format!("/{name}"));
        }
    }
    let build = hex::encode(&build.finalize()[..8]);
    let mut pyodide: Vec<String> = std::fs::read_dir(config.public_dir.join("pyodide"))
        .map(|versions| {
            versions
                .filter_map(Result::ok)
                .filter_map(|entry| entry.file_name().into_string().ok())
                .filter_map(|name| name.strip_prefix('v').map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    pyodide.sort();
    let quoted = |text: &str| serde_json::Value::from(text).to_string();
    Ok(template
        .replace("\"__WORKBENCH_BUILD__\"", &quoted(&build))
        .replace("\"__WORKBENCH_PYODIDE__\"", &quoted(&pyodide.join("+")))
        .replace(
            "[\"__WORKBENCH_SHELL_FILES__\"]",
            &serde_json::Value::from(shell).to_string(),
        ))
}

async fn cache_and_types(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    let immutable = is_versioned(&path)
        && !path.ends_with("/pyodide-lock.json")
        && response.status().is_success();
    let headers = response.headers_mut();
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static(if immutable { IMMUTABLE } else { REVALIDATE }),
    );
    // Which copy a Pyodide or DuckDB file is sent as depends on Accept-Encoding; say so to
    // caches (ServeDir leaves it out on the precompressed copies).
    if is_versioned(&path) {
        headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
    }
    // ES modules must be served as JavaScript or the browser refuses to run them.
    if path.ends_with(".mjs") {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/javascript"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_npm_folder_set_up_lays_out_is_served_as_versioned() {
        let manifest: serde_json::Value =
            serde_json::from_str(include_str!("../../../pyodide-loader/manifest.json"))
                .expect("manifest.json is JSON");
        let mut folders: Vec<String> = manifest["chartRenderers"]
            .as_object()
            .expect("chartRenderers")
            .keys()
            .cloned()
            .collect();
        folders.push("duckdb".to_owned());
        folders.sort();
        let mut served: Vec<String> = VERSIONED_NPM_FOLDERS.map(str::to_owned).to_vec();
        served.sort();
        assert_eq!(folders, served);
    }

    #[test]
    fn only_version_folders_are_versioned() {
        for path in [
            "/pyodide/v0.27.7/pyodide.asm.wasm",
            "/vega/v5.33.1/vega.min.js",
            "/vega-lite/v5.23.0/vega-lite.min.js",
            "/plotly/v2.35.2/plotly.min.js",
        ] {
            assert!(is_versioned(path), "{path}");
        }
        for path in [
            "/",
            "/vega",
            "/vega/",
            "/vegan/v1/x.js",
            "/vega-lite.js",
            "/wheelhouse/vega-1.0-py3-none-any.whl",
            "/pyodide/pyodide.js",
        ] {
            assert!(!is_versioned(path), "{path}");
        }
    }
}
