//! The package index with an upstream (`--upstream-index`): a fake upstream index on a real
//! socket serves one good wheel and one whose bytes do not match its listed hash.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use backend::{AppState, Config, app};
use protocol::ErrorCode;
use serde_json::{Value, json};
use sha2::Digest;
use tower::ServiceExt;

const GOOD: &[u8] = b"the real wheel's bytes";
const TAMPERED: &[u8] = b"something else entirely";
const WHEEL: &str = "demo_pkg-1.0-py3-none-any.whl";

fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", sha2::Sha256::digest(bytes))
}

/// A fake PEP 691 index; returns its base URL, how many wheel downloads it served, and a
/// handle that stops it.
async fn fake_upstream() -> (String, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let downloads = Arc::new(AtomicUsize::new(0));
    let page = |files: Value| {
        (
            [("content-type", "application/vnd.pypi.simple.v1+json")],
            json!({"meta": {"api-version": "1.1"}, "name": "x", "files": files}).to_string(),
        )
    };
    let counted = Arc::clone(&downloads);
    let router = axum::Router::new()
        .route(
            "/simple/demo-pkg/",
            get(move || async move {
                page(json!([
                    {"filename": WHEEL, "url": format!("../../files/{WHEEL}"),
                     "hashes": {"sha256": sha256(GOOD)}, "size": GOOD.len()},
                    {"filename": "demo_pkg-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
                     "url": "/files/binary.whl", "hashes": {"sha256": sha256(GOOD)}},
                ]))
            }),
        )
        .route(
            "/simple/binary-pkg/",
            get(move || async move {
                page(
                    json!([{"filename": "binary_pkg-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
                    "url": "/files/binary.whl", "hashes": {"sha256": sha256(GOOD)}}]),
                )
            }),
        )
        .route(
            "/simple/tampered-pkg/",
            get(move || async move {
                page(json!([{"filename": "tampered_pkg-1.0-py3-none-any.whl",
                    "url": "/files/tampered_pkg-1.0-py3-none-any.whl",
                    "hashes": {"sha256": sha256(GOOD)}}]))
            }),
        )
        .route(
            "/files/{name}",
            get(
                move |axum::extract::Path(name): axum::extract::Path<String>| async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    if name.starts_with("tampered") {
                        TAMPERED.to_vec()
                    } else {
                        GOOD.to_vec()
                    }
                },
            ),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let address = listener.local_addr().expect("address");
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serves");
    });
    (format!("http://{address}/simple/"), downloads, server)
}

fn router(folder: &std::path::Path, upstream: Option<String>) -> axum::Router {
    let config = Config {
        addr: "127.0.0.1:0".parse().expect("address"),
        dist_dir: folder.join("dist"),
        public_dir: folder.join("public"),
        data_dir: folder.join("data"),
        upstream_index: upstream,
        public_url: Some("http://workbench.test".parse().expect("a URL")),
        ..Config::with_defaults()
    };
    app(AppState::new(config).expect("state").0)
}

async fn get_from(router: &axum::Router, path: &str) -> (StatusCode, Vec<u8>) {
    let response = router
        .clone()
        .oneshot(
            Request::get(path)
                .header("host", "workbench.test")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("answers");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, body.to_vec())
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).expect("JSON")
}

#[tokio::test]
async fn a_package_from_upstream_is_fetched_once_verified_and_kept() {
    let folder = tempfile::tempdir().expect("dir");
    let (upstream, downloads, upstream_server) = fake_upstream().await;
    let index = router(folder.path(), Some(upstream.clone()));

    let (status, body) = get_from(&index, "/pypi/simple/Demo_Pkg/").await;
    assert_eq!(status, StatusCode::OK);
    let page = json_of(&body);
    assert_eq!(
        page["files"],
        json!([{
            "filename": WHEEL,
            "url": format!("http://workbench.test/wheelhouse/{WHEEL}"),
            "hashes": {"sha256": sha256(GOOD)},
            "size": GOOD.len(),
        }]),
        "only the pure-Python wheel, served from here"
    );
    // A name upstream does not know (it answers 404): the answer says so, typed.
    let (status, body) = get_from(&index, "/pypi/simple/no-such-pkg/").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        json_of(&body)["missing"],
        "notUpstream",
        "{}",
        json_of(&body)
    );
    // A package upstream has only in wheels built for other platforms: said as such.
    let (status, body) = get_from(&index, "/pypi/simple/binary-pkg/").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        json_of(&body)["missing"],
        "noPureWheel",
        "{}",
        json_of(&body)
    );
    assert_eq!(page["versions"], json!(["1.0"]));

    for _ in 0..2 {
        let (status, body) = get_from(&index, &format!("/wheelhouse/{WHEEL}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, GOOD);
    }
    assert_eq!(downloads.load(Ordering::SeqCst), 1, "downloaded once");
    assert_eq!(
        std::fs::read(folder.path().join("data/wheelhouse").join(WHEEL)).expect("kept"),
        GOOD
    );

    // Upstream goes away; a restarted server still lists and serves the kept wheel.
    upstream_server.abort();
    let _ = upstream_server.await;
    let index = router(folder.path(), Some(upstream));
    let (status, body) = get_from(&index, "/pypi/simple/demo-pkg/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json_of(&body)["files"][0]["filename"], WHEEL);
    let (status, body) = get_from(&index, &format!("/wheelhouse/{WHEEL}")).await;
    assert_eq!((status, body.as_slice()), (StatusCode::OK, GOOD));

    // A package never fetched is a clear 404 while upstream is unreachable.
    let (status, body) = get_from(&index, "/pypi/simple/tampered-pkg/").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        json_of(&body)["error"],
        "no package named tampered-pkg in this server's wheelhouse, and the upstream index cannot be reached"
    );
    assert_eq!(json_of(&body)["missing"], "upstreamUnreachable");
    assert_eq!(json_of(&body)["code"], json!(ErrorCode::NotFound));
}

#[tokio::test]
async fn a_wheel_whose_hash_does_not_match_its_listing_is_refused_and_not_kept() {
    let folder = tempfile::tempdir().expect("dir");
    let (upstream, downloads, _server) = fake_upstream().await;
    let index = router(folder.path(), Some(upstream));
    let (status, _) = get_from(&index, "/pypi/simple/tampered-pkg/").await;
    assert_eq!(status, StatusCode::OK);
    for attempt in 1..=2 {
        let (status, body) =
            get_from(&index, "/wheelhouse/tampered_pkg-1.0-py3-none-any.whl").await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        let error = json_of(&body);
        assert_eq!(error["code"], json!(ErrorCode::Upstream));
        let message = error["error"].as_str().expect("message");
        assert!(message.contains(&sha256(TAMPERED)), "{message}");
        assert!(message.contains(&sha256(GOOD)), "{message}");
        assert_eq!(
            downloads.load(Ordering::SeqCst),
            attempt,
            "asked again, never kept"
        );
    }
    assert!(
        !folder
            .path()
            .join("data/wheelhouse/tampered_pkg-1.0-py3-none-any.whl")
            .exists()
    );
}

#[tokio::test]
async fn without_upstream_unknown_packages_and_wheels_are_404_and_bad_names_400() {
    let folder = tempfile::tempdir().expect("dir");
    let index = router(folder.path(), None);
    let (status, body) = get_from(&index, "/pypi/simple/demo-pkg/").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        json_of(&body)["error"],
        "no package named demo-pkg in this server's wheelhouse"
    );
    assert_eq!(json_of(&body)["missing"], "noUpstream");
    let (status, _) = get_from(&index, &format!("/wheelhouse/{WHEEL}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    std::fs::create_dir_all(folder.path().join("data")).expect("data dir");
    std::fs::write(folder.path().join("data/secret.whl"), "private").expect("written");
    for bad in ["/wheelhouse/.hidden.whl", "/wheelhouse/a%20b.whl"] {
        let (status, _) = get_from(&index, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    for outside in ["/wheelhouse/..%2Fsecret.whl", "/wheelhouse/a/b.whl"] {
        let (status, _) = get_from(&index, outside).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{outside}");
    }
}

#[tokio::test]
async fn a_project_the_wheelhouse_holds_is_answered_from_its_pins_alone() {
    let folder = tempfile::tempdir().expect("dir");
    let pinned = "demo_pkg-0.9-py3-none-any.whl";
    let pinned_bytes: &[u8] = b"the pinned wheel";
    std::fs::create_dir_all(folder.path().join("public/wheelhouse")).expect("dir");
    std::fs::write(
        folder.path().join("public/wheelhouse").join(pinned),
        pinned_bytes,
    )
    .expect("write");
    let (upstream, downloads, _server) = fake_upstream().await;
    let index = router(folder.path(), Some(upstream));

    // Upstream has demo-pkg 1.0, but the wheelhouse's pin is what installs: a newer
    // upstream release would otherwise win micropip's choice and pull in what the pinned
    // set was chosen to avoid.
    let (status, body) = get_from(&index, "/pypi/simple/demo-pkg/").await;
    assert_eq!(status, StatusCode::OK);
    let page = json_of(&body);
    assert_eq!(page["versions"], json!(["0.9"]), "{page}");
    assert_eq!(page["files"][0]["filename"], pinned);
    assert_eq!(page["files"][0]["hashes"]["sha256"], sha256(pinned_bytes));
    assert_eq!(
        get_from(&index, &format!("/wheelhouse/{WHEEL}")).await.0,
        StatusCode::NOT_FOUND,
        "upstream's release was never listed, so it is not served"
    );
    assert_eq!(downloads.load(Ordering::SeqCst), 0);
}
