//! The server's HTTP surface, in-process: isolation headers, MIME types, caching, health
//! and the 404 rules, against a temporary folder laid out like a real build.

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use backend::{AppState, Config, app};
use protocol::ErrorCode;
use sha2::Digest;
use tower::ServiceExt;

const SEABORN_WHEEL: &[u8] = b"pretend wheel bytes";

struct Site {
    _folder: tempfile::TempDir,
    router: axum::Router,
}

/// A server over a temporary `dist/` and `public/` with one file of each kind that matters.
fn site() -> Site {
    let folder = tempfile::tempdir().expect("temp dir");
    let write = |path: &str, contents: &[u8]| {
        let path = folder.path().join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, contents).expect("write");
    };
    write("dist/index.html", b"<!doctype html><title>shell</title>");
    write("dist/frontend-1234_bg.wasm", b"\0asm\x01\0\0\0");
    write(
        "public/pyodide/v0.27.7/pyodide.asm.wasm",
        b"\0asm\x01\0\0\0",
    );
    write("public/pyodide/v0.27.7/pyodide.mjs", b"export const x = 1;");
    // As `xtask setup` leaves it: a brotli copy beside the big file (fake bytes, so a test
    // can tell which file was sent).
    write(
        "public/pyodide/v0.27.7/pyodide.asm.wasm.br",
        b"pretend brotli",
    );
    write(
        "public/pyodide/v0.27.7/pyodide-lock.json",
        br#"{"packages": {"numpy": {"name": "numpy"}}}"#,
    );
    write("public/duckdb/v1.32.0/duckdb-eh.wasm", b"\0asm\x01\0\0\0");
    write(
        "public/duckdb/v1.32.0/duckdb-eh.wasm.br",
        b"pretend brotli duckdb",
    );
    write(
        "public/duckdb/v1.32.0/duckdb-browser-blocking.js",
        b"module.exports = {};",
    );
    write(
        "public/plotly/v2.35.2/plotly.min.js",
        b"window.Plotly = {};",
    );
    write(
        "public/wheelhouse/seaborn-0.13.2-py3-none-any.whl",
        SEABORN_WHEEL,
    );
    write(
        "public/wheelhouse/numpy-2.0.0-py3-none-any.whl",
        b"not pyodide's numpy",
    );
    let config = Config {
        addr: "127.0.0.1:0".parse().expect("address"),
        dist_dir: folder.path().join("dist"),
        public_dir: folder.path().join("public"),
        data_dir: folder.path().join("data"),
        public_url: Some("http://workbench.test:8080".parse().expect("a URL")),
        ..Config::with_defaults()
    };
    Site {
        router: app(AppState::new(config).expect("state").0),
        _folder: folder,
    }
}

async fn get(site: &Site, path: &str) -> Response<Body> {
    get_accepting(site, path, "identity").await
}

async fn get_accepting(site: &Site, path: &str, encodings: &str) -> Response<Body> {
    site.router
        .clone()
        .oneshot(
            Request::get(path)
                .header("host", "workbench.test:8080")
                .header("accept-encoding", encodings)
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("the router answers")
}

fn header<'a>(response: &'a Response<Body>, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().expect("ASCII header"))
        .unwrap_or("")
}

async fn body_text(response: Response<Body>) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    String::from_utf8_lossy(&bytes).into_owned()
}

#[tokio::test]
async fn every_response_is_cross_origin_isolated() {
    let site = site();
    for path in [
        "/",
        "/health",
        "/frontend-1234_bg.wasm",
        "/pyodide/v0.27.7/pyodide.asm.wasm",
        "/pyodide/v0.27.7/missing.whl",
        "/api/nothing-here",
        "/some/app/route",
    ] {
        let response = get(&site, path).await;
        assert_eq!(
            header(&response, "cross-origin-opener-policy"),
            "same-origin",
            "COOP on {path}"
        );
        assert_eq!(
            header(&response, "cross-origin-embedder-policy"),
            "require-corp",
            "COEP on {path}"
        );
    }
}

#[tokio::test]
async fn files_have_the_content_types_browsers_require() {
    let site = site();
    for (path, content_type) in [
        ("/frontend-1234_bg.wasm", "application/wasm"),
        ("/pyodide/v0.27.7/pyodide.asm.wasm", "application/wasm"),
        ("/pyodide/v0.27.7/pyodide.mjs", "text/javascript"),
        ("/duckdb/v1.32.0/duckdb-eh.wasm", "application/wasm"),
        ("/plotly/v2.35.2/plotly.min.js", "text/javascript"),
        (
            "/duckdb/v1.32.0/duckdb-browser-blocking.js",
            "text/javascript",
        ),
        ("/", "text/html"),
    ] {
        let response = get(&site, path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(
            header(&response, "content-type").starts_with(content_type),
            "{path} is served as {:?}, not {content_type}",
            header(&response, "content-type")
        );
    }
}

#[tokio::test]
async fn pyodide_files_are_immutable_but_the_shell_and_lock_revalidate() {
    let site = site();
    for path in [
        "/pyodide/v0.27.7/pyodide.asm.wasm",
        "/duckdb/v1.32.0/duckdb-eh.wasm",
        "/plotly/v2.35.2/plotly.min.js",
    ] {
        let response = get(&site, path).await;
        assert!(
            header(&response, "cache-control").contains("immutable"),
            "{path}"
        );
    }
    for path in [
        "/",
        "/pyodide/v0.27.7/pyodide-lock.json",
        "/frontend-1234_bg.wasm",
    ] {
        let response = get(&site, path).await;
        assert_eq!(header(&response, "cache-control"), "no-cache", "{path}");
    }
}

#[tokio::test]
async fn pyodide_files_are_sent_precompressed_to_browsers_that_accept_it() {
    let site = site();
    let path = "/pyodide/v0.27.7/pyodide.asm.wasm";
    let brotli = get_accepting(&site, path, "gzip, deflate, br, zstd").await;
    assert_eq!(brotli.status(), StatusCode::OK);
    assert_eq!(header(&brotli, "content-encoding"), "br");
    assert_eq!(header(&brotli, "content-type"), "application/wasm");
    assert_eq!(header(&brotli, "vary"), "accept-encoding");
    assert!(header(&brotli, "cache-control").contains("immutable"));
    assert_eq!(body_text(brotli).await, "pretend brotli");

    let plain = get_accepting(&site, path, "gzip").await;
    assert_eq!(header(&plain, "vary"), "accept-encoding");
    let plain = get(&site, path).await;
    assert_eq!(header(&plain, "content-encoding"), "");
    assert_eq!(body_text(plain).await, "\0asm\x01\0\0\0");
}

#[tokio::test]
async fn the_sql_engine_is_served_like_pyodide_precompressed_and_immutable() {
    let site = site();
    let path = "/duckdb/v1.32.0/duckdb-eh.wasm";
    let brotli = get_accepting(&site, path, "gzip, deflate, br, zstd").await;
    assert_eq!(brotli.status(), StatusCode::OK);
    assert_eq!(header(&brotli, "content-encoding"), "br");
    assert_eq!(header(&brotli, "content-type"), "application/wasm");
    assert_eq!(header(&brotli, "vary"), "accept-encoding");
    assert!(header(&brotli, "cache-control").contains("immutable"));
    assert_eq!(
        header(&brotli, "cross-origin-embedder-policy"),
        "require-corp"
    );
    assert_eq!(body_text(brotli).await, "pretend brotli duckdb");

    let missing = get(&site, "/duckdb/v1.32.0/duckdb-coi.wasm").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(
        header(&missing, "content-type").starts_with("application/json"),
        "a missing engine file is a JSON 404, not the app's shell"
    );
}

#[tokio::test]
async fn unknown_pyodide_files_are_404_not_the_html_shell() {
    let site = site();
    let response = get(&site, "/pyodide/v0.27.7/numpy-9.9.9.whl").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(!body_text(response).await.contains("<title>shell"));
    let response = get(&site, "/wheelhouse/requests-0.0.0-py3-none-any.whl").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn app_routes_get_the_html_shell_and_unknown_api_paths_a_json_404() {
    let site = site();
    let shell = get(&site, "/dashboard").await;
    assert_eq!(shell.status(), StatusCode::OK);
    assert!(body_text(shell).await.contains("<title>shell"));

    let api = get(&site, "/api/nothing-here").await;
    assert_eq!(api.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value =
        serde_json::from_str(&body_text(api).await).expect("JSON error body");
    assert_eq!(body["success"], false);
    assert_eq!(body["code"], serde_json::json!(ErrorCode::NotFound));
    assert_eq!(body["error"], "nothing at /api/nothing-here");
}

#[tokio::test]
async fn health_answers_over_a_real_socket() {
    let folder = tempfile::tempdir().expect("temp dir");
    let config = Config {
        addr: "127.0.0.1:0".parse().expect("address"),
        dist_dir: folder.path().join("dist"),
        public_dir: folder.path().join("public"),
        data_dir: folder.path().join("data"),
        ..Config::with_defaults()
    };
    let application = backend::Application::build(config).await.expect("binds");
    let address = application.local_addr();
    assert_ne!(address.port(), 0);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until(async {
        stopped.await.ok();
    }));

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connects");
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("sends");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("reads");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let body = answer.split("\r\n\r\n").nth(1).expect("a body");
    let health: protocol::Health = serde_json::from_str(body).expect("the health answer");
    assert_eq!(health.status, protocol::HealthStatus::Ok);

    stop.send(()).expect("the server is running");
    server.await.expect("joins").expect("shuts down cleanly");
}

#[tokio::test]
async fn the_package_index_serves_wheelhouse_projects_as_pep_691_json() {
    let site = site();
    for path in [
        "/pypi/simple/seaborn/",
        "/pypi/simple/Seaborn",
        "/pypi/simple/seaborn",
    ] {
        let response = get(&site, path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            header(&response, "content-type"),
            "application/vnd.pypi.simple.v1+json",
            "micropip needs the exact content type"
        );
        let page: serde_json::Value =
            serde_json::from_str(&body_text(response).await).expect("JSON");
        assert_eq!(page["name"], "seaborn");
        assert_eq!(page["versions"], serde_json::json!(["0.13.2"]));
        let file = &page["files"][0];
        assert_eq!(file["filename"], "seaborn-0.13.2-py3-none-any.whl");
        assert_eq!(
            file["url"],
            "http://workbench.test:8080/wheelhouse/seaborn-0.13.2-py3-none-any.whl"
        );
        let expected = format!("{:x}", sha2::Sha256::digest(SEABORN_WHEEL));
        assert_eq!(file["hashes"]["sha256"], expected);
    }
    let wheel = get(&site, "/wheelhouse/seaborn-0.13.2-py3-none-any.whl").await;
    assert_eq!(wheel.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_package_index_answers_404_for_lock_packages_and_unknown_names() {
    let site = site();
    for (path, mentions) in [
        ("/pypi/simple/numpy/", "numpy"),
        ("/pypi/simple/no-such-package-xyz/", "no-such-package-xyz"),
    ] {
        let response = get(&site, path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let body: serde_json::Value =
            serde_json::from_str(&body_text(response).await).expect("JSON");
        assert_eq!(body["code"], serde_json::json!(ErrorCode::NotFound));
        assert!(
            body["error"].as_str().expect("message").contains(mentions),
            "{body}"
        );
    }
}

#[tokio::test]
async fn the_package_index_refuses_names_that_are_not_package_names() {
    let site = site();
    let long = format!("/pypi/simple/{}/", "a".repeat(101));
    for path in [
        "/pypi/simple/..%2F..%2Fetc/",
        "/pypi/simple/-x/",
        long.as_str(),
    ] {
        let response = get(&site, path).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        let body: serde_json::Value =
            serde_json::from_str(&body_text(response).await).expect("JSON");
        assert_eq!(body["code"], serde_json::json!(ErrorCode::BadRequest));
    }
}

#[tokio::test]
async fn the_service_worker_is_stamped_with_the_build_and_changes_with_it() {
    let site = site();
    let dist = site._folder.path().join("dist");
    std::fs::write(
        dist.join("sw.js"),
        "const BUILD = \"__WORKBENCH_BUILD__\";\nconst PYODIDE = \"__WORKBENCH_PYODIDE__\";\nconst SHELL_FILES = [\"__WORKBENCH_SHELL_FILES__\"];\n",
    )
    .expect("written");
    let stamped = |text: &str, name: &str| -> String {
        let line = text
            .lines()
            .find(|line| line.starts_with(&format!("const {name} = ")))
            .unwrap_or_else(|| panic!("no {name} in {text}"));
        line[name.len() + 9..line.len() - 1].to_owned()
    };
    let response = get(&site, "/sw.js").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "content-type"), "text/javascript");
    assert_eq!(header(&response, "cache-control"), "no-cache");
    let first = body_text(response).await;
    let build = stamped(&first, "BUILD");
    assert!(
        build.len() == 18 && build[1..17].chars().all(|c| c.is_ascii_hexdigit()),
        "{build}"
    );
    assert_eq!(stamped(&first, "PYODIDE"), "\"0.27.7\"");
    assert_eq!(
        stamped(&first, "SHELL_FILES"),
        "[\"/\",\"/frontend-1234_bg.wasm\"]"
    );

    let same = body_text(get(&site, "/sw.js").await).await;
    assert_eq!(
        stamped(&same, "BUILD"),
        build,
        "the same build, the same worker"
    );
    std::fs::write(
        dist.join("frontend-1234_bg.wasm"),
        b"\0asm\x01\0\0\0 rebuilt",
    )
    .expect("rebuilt");
    let next = body_text(get(&site, "/sw.js").await).await;
    assert_ne!(stamped(&next, "BUILD"), build, "a new build, a new worker");
}

async fn send(site: &Site, method: &str, path: &str) -> Response<Body> {
    site.router
        .clone()
        .oneshot(
            Request::builder()
                .method(method)
                .uri(path)
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("the router answers")
}

#[tokio::test]
async fn every_error_is_json_where_the_router_or_the_file_server_answers() {
    let site = site();
    let long_query = format!("/health?q={}", "x".repeat(9000));
    for (method, path, status, code) in [
        (
            "GET",
            "/pyodide/v0.27.7/missing.js",
            404,
            ErrorCode::NotFound,
        ),
        ("GET", "/pyodide/", 404, ErrorCode::NotFound),
        ("GET", "/pyodide/nothing/", 404, ErrorCode::NotFound),
        ("GET", "/wheelhouse", 404, ErrorCode::NotFound),
        ("GET", "/wheelhouse/", 404, ErrorCode::NotFound),
        ("GET", "/api", 404, ErrorCode::NotFound),
        ("GET", "/api/", 404, ErrorCode::NotFound),
        ("GET", "/pypi", 404, ErrorCode::NotFound),
        ("GET", "/pypi/", 404, ErrorCode::NotFound),
        ("POST", "/health", 405, ErrorCode::MethodNotAllowed),
        ("GET", "/api/telemetry", 405, ErrorCode::MethodNotAllowed),
        ("GET", long_query.as_str(), 414, ErrorCode::UriTooLong),
    ] {
        let response = send(&site, method, path).await;
        assert_eq!(response.status().as_u16(), status, "{method} {path}");
        assert_eq!(
            header(&response, "cross-origin-embedder-policy"),
            "require-corp",
            "{method} {path}"
        );
        let body: serde_json::Value = serde_json::from_str(&body_text(response).await)
            .unwrap_or_else(|error| panic!("{method} {path}: not JSON: {error}"));
        assert_eq!(body["success"], false, "{method} {path}");
        assert_eq!(body["code"], serde_json::json!(code), "{method} {path}");
    }
}

#[tokio::test]
async fn a_path_segment_longer_than_a_file_name_is_a_json_404_without_an_error_log() {
    use std::sync::{Arc, Mutex};
    let site = site();
    let logged = Arc::new(Mutex::new(Vec::<u8>::new()));
    let writer = {
        let logged = Arc::clone(&logged);
        move || LogBuffer(Arc::clone(&logged))
    };
    let subscriber = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);
    let segment = "a".repeat(300);
    for path in [
        format!("/{segment}"),
        format!("/dashboard/{segment}"),
        format!("/pyodide/v0.27.7/{segment}"),
        format!("/wheelhouse/{segment}.whl"),
    ] {
        let response = get(&site, &path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let body: serde_json::Value =
            serde_json::from_str(&body_text(response).await).expect("JSON");
        assert_eq!(body["code"], serde_json::json!(ErrorCode::NotFound));
    }
    let logged = String::from_utf8_lossy(&logged.lock().expect("log")).into_owned();
    assert!(!logged.contains("ERROR"), "{logged}");
}

/// Collects what a test's tracing subscriber writes.
struct LogBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn too_many_header_fields_get_a_json_431_over_a_real_socket() {
    let app = backend::testing::spawn_app().await;
    let names: Vec<String> = (0..150).map(|index| format!("x-filler-{index}")).collect();
    let headers: Vec<(&str, &str)> = names.iter().map(|name| (name.as_str(), "1")).collect();
    let answer = app.client().send("GET", "/health", &headers, b"").await;
    assert_eq!(answer.status, 431, "{}", answer.body);
    assert_eq!(answer.error().code, ErrorCode::HeadersTooLarge);
    let big = "v".repeat(40 * 1024);
    let answer = app
        .client()
        .send("GET", "/health", &[("x-big", big.as_str())], b"")
        .await;
    assert_eq!(answer.status, 431, "{}", answer.body);
}

#[tokio::test]
async fn a_panicking_handler_answers_a_json_500_and_the_server_keeps_serving() {
    let routes = axum::Router::new().route(
        "/api/test/boom",
        axum::routing::get(|| async {
            let numbers: Vec<u32> = Vec::new();
            // A bug in a handler: indexing past the end.
            numbers[3].to_string()
        }),
    );
    let app = backend::testing::spawn_app_with_routes(|_| {}, routes).await;
    let client = app.client();
    let boom = client.get("/api/test/boom").await;
    assert_eq!(boom.status, 500);
    assert_eq!(
        boom.json(),
        serde_json::json!({"success": false, "error": "internal error", "code": ErrorCode::Internal}),
        "the panic's details stay in the log"
    );
    assert_eq!(client.get("/health").await.status, 200);
    assert_eq!(client.get("/api/test/boom").await.status, 500);
    assert_eq!(client.get("/health").await.status, 200);
}

/// `panic = "abort"` is for the WebAssembly build only: in the server, a panicking handler
/// would take the whole process down with it instead of answering 500.
#[test]
fn the_servers_release_profile_unwinds() {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml"))
        .expect("the workspace manifest");
    let release = manifest
        .split("\n[")
        .find(|section| section.starts_with("profile.release]"))
        .expect("a release profile");
    assert!(
        !release.contains("panic ="),
        "the release profile must unwind:\n[{release}"
    );
    let wasm = manifest
        .split("\n[")
        .find(|section| section.starts_with("profile.wasm-release]"))
        .expect("the WebAssembly build's own profile");
    assert!(wasm.contains("panic = \"abort\""), "[{wasm}");
}

#[tokio::test]
async fn wheel_urls_come_from_configuration_a_trusted_proxy_or_our_own_address() {
    let public = tempfile::tempdir().expect("dir");
    let wheel = "seaborn-0.13.2-py3-none-any.whl";
    std::fs::create_dir_all(public.path().join("wheelhouse")).expect("mkdir");
    std::fs::write(public.path().join("wheelhouse").join(wheel), SEABORN_WHEEL).expect("wheel");
    let url_of = |answer: backend::testing::Answer| -> String {
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.json()["files"][0]["url"]
            .as_str()
            .expect("a URL")
            .to_owned()
    };

    let direct = backend::testing::spawn_app_with(|config| {
        config.public_dir = public.path().to_path_buf();
    })
    .await;
    let own = format!("http://{}/wheelhouse/{wheel}", direct.address);
    let localhost = format!("localhost:{}", direct.address.port());
    for (headers, expected, why) in [
        (
            vec![("Host", "evil.example")],
            own.clone(),
            "a stranger's Host",
        ),
        (
            vec![
                ("Host", "evil.example"),
                ("X-Forwarded-Host", "evil.example"),
                ("X-Forwarded-Proto", "https"),
            ],
            own.clone(),
            "forwarding headers from a client that is no proxy",
        ),
        (
            vec![("Host", localhost.as_str())],
            format!("http://{localhost}/wheelhouse/{wheel}"),
            "localhost at our port names this server",
        ),
        (vec![], own.clone(), "our own address"),
    ] {
        let answer = direct
            .client()
            .send("GET", "/pypi/simple/seaborn/", &headers, b"")
            .await;
        assert_eq!(url_of(answer), expected, "{why}");
    }

    let behind_proxy = backend::testing::spawn_app_with(|config| {
        config.public_dir = public.path().to_path_buf();
        config.trusted_proxy = vec!["127.0.0.1".parse().expect("ip")];
    })
    .await;
    let answer = behind_proxy
        .client()
        .send(
            "GET",
            "/pypi/simple/seaborn/",
            &[
                ("X-Forwarded-Host", "workbench.example.org"),
                ("X-Forwarded-Proto", "https"),
            ],
            b"",
        )
        .await;
    assert_eq!(
        url_of(answer),
        format!("https://workbench.example.org/wheelhouse/{wheel}")
    );

    let configured = backend::testing::spawn_app_with(|config| {
        config.public_dir = public.path().to_path_buf();
        config.public_url = Some("https://python.example.net".parse().expect("a URL"));
    })
    .await;
    let answer = configured
        .client()
        .send(
            "GET",
            "/pypi/simple/seaborn/",
            &[("Host", "evil.example")],
            b"",
        )
        .await;
    assert_eq!(
        url_of(answer),
        format!("https://python.example.net/wheelhouse/{wheel}")
    );
}
