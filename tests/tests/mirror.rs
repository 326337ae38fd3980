//! The package index's upstream, end to end: micropip in the browser installs a package the
//! wheelhouse lacks, which the server fetches from a fake upstream index, verifies, keeps and
//! then serves with the upstream gone; a wheel whose hash does not match is refused.

use std::io::{Cursor, Write};

use serde_json::json;
use sha2::Digest;
use tests::{Browser, spawn_app_with};
use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

const WHEEL: &str = "upstream_demo-1.0-py3-none-any.whl";

/// A minimal pure-Python wheel: a zip (stored, not deflated) of a module and its metadata.
fn demo_wheel() -> Vec<u8> {
    let files: [(&str, &str); 4] = [
        (
            "upstream_demo/__init__.py",
            "VALUE = 'fetched from upstream'\n",
        ),
        (
            "upstream_demo-1.0.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: upstream-demo\nVersion: 1.0\n",
        ),
        (
            "upstream_demo-1.0.dist-info/WHEEL",
            "Wheel-Version: 1.0\nGenerator: workbench-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        ),
        (
            "upstream_demo-1.0.dist-info/RECORD",
            "upstream_demo/__init__.py,,\nupstream_demo-1.0.dist-info/METADATA,,\nupstream_demo-1.0.dist-info/WHEEL,,\nupstream_demo-1.0.dist-info/RECORD,,\n",
        ),
    ];
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    for (name, contents) in files {
        zip.start_file(name, stored).expect("a zip entry");
        zip.write_all(contents.as_bytes()).expect("written");
    }
    zip.finish().expect("a complete zip").into_inner()
}

fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", sha2::Sha256::digest(bytes))
}

/// Serves `upstream-demo` (correct hash), `tampered-demo` (listed with a wrong hash) and
/// `binary-demo` (only a wheel built for Linux).
async fn fake_upstream() -> (String, tokio::task::JoinHandle<()>) {
    use axum::routing::get;
    let wheel = demo_wheel();
    let listing = |name: &str, filename: &str, sha: String| {
        let body = json!({
            "meta": {"api-version": "1.1"},
            "name": name,
            "files": [{"filename": filename, "url": format!("/files/{filename}"),
                       "hashes": {"sha256": sha}}],
        })
        .to_string();
        move || {
            let body = body.clone();
            async move {
                (
                    [("content-type", "application/vnd.pypi.simple.v1+json")],
                    body,
                )
            }
        }
    };
    let served = wheel.clone();
    let router = axum::Router::new()
        .route(
            "/simple/upstream-demo/",
            get(listing("upstream-demo", WHEEL, sha256(&wheel))),
        )
        .route(
            "/simple/tampered-demo/",
            get(listing(
                "tampered-demo",
                "tampered_demo-1.0-py3-none-any.whl",
                "0".repeat(64),
            )),
        )
        .route(
            "/simple/binary-demo/",
            get(listing(
                "binary-demo",
                "binary_demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
                sha256(&wheel),
            )),
        )
        .route(
            "/files/{name}",
            get(move || {
                let served = served.clone();
                async move { served }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let address = listener.local_addr().expect("address");
    let server = tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serves");
    });
    (format!("http://{address}/simple"), server)
}

#[tokio::test(flavor = "multi_thread")]
async fn micropip_installs_from_upstream_through_the_server_which_keeps_the_wheel() {
    let (upstream, upstream_server) = fake_upstream().await;
    let app = spawn_app_with(|config| config.upstream_index = Some(upstream)).await;
    let browser = Browser::start().await;
    browser.open_workbench(&app).await;

    let installed = browser
        .eval("return window.workbench.install('upstream-demo')")
        .await;
    assert_eq!(installed["success"], true, "{installed}");
    assert_eq!(installed["version"], "1.0");
    let imported = browser
        .execute(json!({"code": "import upstream_demo\nupstream_demo.VALUE"}))
        .await;
    assert_eq!(imported["result"], "fetched from upstream", "{imported}");
    assert!(
        app.data.path().join("wheelhouse").join(WHEEL).exists(),
        "the server keeps the fetched wheel"
    );

    let tampered = browser
        .eval("return window.workbench.install('tampered-demo')")
        .await;
    assert_eq!(tampered["success"], false, "{tampered}");
    browser.close().await;

    // Upstream gone; a browser that never saw the package installs it from the server.
    upstream_server.abort();
    let _ = upstream_server.await;
    let browser = Browser::start().await;
    browser.open_workbench(&app).await;
    let installed = browser
        .eval("return window.workbench.install('upstream-demo')")
        .await;
    assert_eq!(installed["success"], true, "{installed}");
    let imported = browser
        .execute(json!({"code": "import upstream_demo\nupstream_demo.VALUE"}))
        .await;
    assert_eq!(imported["result"], "fetched from upstream", "{imported}");
    browser.close().await;
}

/// The error text of a run of `code`, and its class.
async fn failure(browser: &Browser, code: &str) -> (String, String) {
    let answer = browser.execute(json!({ "code": code })).await;
    assert_eq!(answer["success"], false, "{answer}");
    (
        answer["errorType"].as_str().unwrap_or_default().to_owned(),
        answer["error"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_installs_and_missing_modules_say_what_would_help() {
    // No upstream index: every way of installing says the server needs one.
    let app = spawn_app_with(|config| config.upstream_index = None).await;
    let browser = Browser::start().await;
    browser.open_workbench(&app).await;
    let (_, pip) = failure(&browser, "%pip install upstream-demo").await;
    assert!(
        pip.contains("no upstream index") && pip.contains("--upstream-index"),
        "{pip}"
    );
    let panel = browser
        .eval("return window.workbench.install('upstream-demo')")
        .await;
    let panel = panel["error"].as_str().unwrap_or_default().to_owned();
    assert!(panel.contains("--upstream-index"), "{panel}");
    let (_, in_code) = failure(
        &browser,
        "import micropip\nawait micropip.install('upstream-demo')",
    )
    .await;
    assert!(in_code.contains("--upstream-index"), "{in_code}");
    let (class, import) = failure(&browser, "import upstream_demo").await;
    assert_eq!(class, "ModuleNotFoundError");
    assert!(import.contains("--upstream-index"), "{import}");

    // With an upstream: a module it has says `%pip install` gets it; a name nobody has,
    // and a package with only a Linux wheel, say so; once it is gone, that it cannot be
    // reached.
    let (upstream, upstream_server) = fake_upstream().await;
    let app = spawn_app_with(|config| config.upstream_index = Some(upstream)).await;
    browser.open_workbench(&app).await;
    let (class, import) = failure(&browser, "import upstream_demo").await;
    assert_eq!(class, "ModuleNotFoundError");
    assert!(
        import.contains("`%pip install upstream_demo` installs it"),
        "{import}"
    );
    let (_, unknown) = failure(&browser, "%pip install no-such-demo").await;
    assert!(unknown.contains("check the name"), "{unknown}");
    let (_, binary) = failure(&browser, "%pip install binary-demo").await;
    assert!(binary.contains("no pure-Python wheel"), "{binary}");
    upstream_server.abort();
    let _ = upstream_server.await;
    let (_, gone) = failure(&browser, "%pip install other-demo").await;
    assert!(gone.contains("cannot be reached right now"), "{gone}");
    browser.close().await;
}
