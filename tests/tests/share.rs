//! Share by link: a notebook carried in the link's `#nb=…` part opens in a fresh browser
//! with the same cells (and outputs when asked), as "Shared — not saved yet" until it is
//! kept; no request that browser makes carries the notebook's text; it opens offline after
//! one visit; and damaged or hostile links say what is wrong, change nothing kept and run no
//! script.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tests::{Browser, TestApp, go_offline, service_worker_in_control, spawn_app, until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Text that appears only in the shared notebook.
const MARKER: &str = "share-marker-4f1c";

/// A two-cell notebook whose code prints the marker (upper-cased, so its output differs).
fn marked_notebook() -> String {
    json!({
        "cells": [
            {"cell_type": "markdown", "id": "intro", "metadata": {},
             "source": format!("# Trip costs\n\nNotes: {MARKER}")},
            {"cell_type": "code", "id": "sum", "metadata": {}, "execution_count": null,
             "outputs": [], "source": format!("total = 17 + 25\nprint('{MARKER}'.upper(), total)")},
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5
    })
    .to_string()
}

/// Opens [`marked_notebook`] as a kept notebook.
async fn open_marked(browser: &Browser) {
    browser
        .eval_with(
            "return window.workbench.notebook.open(arguments[0])",
            vec![json!(marked_notebook())],
        )
        .await;
}

/// Every byte browsers send to the server through it, in order: a plain TCP relay in front
/// of the server, so nothing a page sends (a fetch, a beacon, a service worker's request, a
/// header) can pass unseen.
#[derive(Debug, Clone)]
struct Recorder {
    address: SocketAddr,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl Recorder {
    async fn start(server: SocketAddr) -> Recorder {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the recorder");
        let address = listener.local_addr().expect("its address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let kept = seen.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let seen = kept.clone();
                tokio::spawn(async move {
                    let Ok(upstream) = tokio::net::TcpStream::connect(server).await else {
                        return;
                    };
                    let (mut from_client, mut to_client) = client.into_split();
                    let (mut from_server, mut to_server) = upstream.into_split();
                    let up = async move {
                        let mut buffer = vec![0u8; 64 * 1024];
                        while let Ok(read) = from_client.read(&mut buffer).await {
                            if read == 0 {
                                break;
                            }
                            seen.lock()
                                .expect("not poisoned")
                                .extend_from_slice(&buffer[..read]);
                            if to_server.write_all(&buffer[..read]).await.is_err() {
                                break;
                            }
                        }
                        let _ = to_server.shutdown().await;
                    };
                    let down = async move {
                        let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
                        let _ = to_client.shutdown().await;
                    };
                    tokio::join!(up, down);
                });
            }
        });
        Recorder { address, seen }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    fn contains(&self, text: &str) -> bool {
        let seen = self.seen.lock().expect("not poisoned");
        seen.windows(text.len())
            .any(|window| window == text.as_bytes())
    }
}

/// The link's `#nb=` payload.
fn payload_of(link: &str) -> &str {
    link.split_once("#nb=").expect("a share link").1
}

async fn cells(browser: &Browser) -> Value {
    browser
        .eval("return window.workbench.notebook.cells()")
        .await
}

/// Waits until the open notebook is a shared one, not kept yet.
async fn wait_for_shared(browser: &Browser) {
    browser
        .wait_for_text("save-state", Duration::from_secs(30), |text| {
            text == "Shared — not saved yet"
        })
        .await;
    browser.find("shared").await;
}

/// `text` compressed as a share link's payload.
fn as_payload(text: &[u8]) -> String {
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(text).expect("in memory");
    URL_SAFE_NO_PAD.encode(encoder.finish().expect("in memory"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_link_carries_the_notebook_to_a_fresh_browser_and_never_reaches_the_server() {
    let app = spawn_app().await;
    let sender = Browser::start().await;
    sender.open_workbench(&app).await;
    open_marked(&sender).await;
    let outcomes = sender
        .eval("return window.workbench.notebook.runAll()")
        .await;
    assert_eq!(outcomes.as_array().map(Vec::len), Some(1), "{outcomes}");
    let sent_cells = cells(&sender).await;
    assert_eq!(
        sent_cells[1]["outputs"][0]["text"],
        format!("{} 42\n", MARKER.to_uppercase()),
        "{sent_cells}"
    );

    // The Share button shows the same link the API makes, with its length, and what it
    // carries.
    sender
        .find("share")
        .await
        .click()
        .await
        .expect("Share opens");
    let shown = sender
        .find("share-link")
        .await
        .prop("value")
        .await
        .expect("the link")
        .expect("a value");
    let with_outputs = sender
        .eval("return window.workbench.notebook.shareLink()")
        .await;
    assert_eq!(json!(shown), with_outputs);
    let size = sender.text("share-size").await.replace(',', "");
    assert!(
        size.starts_with(&format!("{} characters with outputs", shown.len())),
        "{size}"
    );
    assert!(shown.starts_with(&app.url("/#nb=")), "{shown}");
    let without_outputs = sender
        .eval("return window.workbench.notebook.shareLink({outputs: false})")
        .await;
    let without_outputs = without_outputs.as_str().expect("a link").to_owned();
    assert!(without_outputs.len() < shown.len());
    sender.close().await;

    // A colleague's fresh browser opens it through a relay that sees every byte it sends.
    let recorder = Recorder::start(app.address).await;
    let receiver = Browser::start().await;
    let link = recorder.url(&format!("/#nb={}", payload_of(&shown)));
    receiver.client.goto(&link).await.expect("the link opens");
    wait_for_shared(&receiver).await;
    let received = cells(&receiver).await;
    assert_eq!(received, sent_cells, "the same cells, with their outputs");
    assert_eq!(receiver.text("notebook-name").await, "Trip costs");
    // Nothing is kept in this browser until the colleague changes or keeps it.
    assert_eq!(
        receiver
            .eval("return window.workbench.notebook.list()")
            .await,
        json!([])
    );

    // The link without outputs, opened in the same tab: only the cells.
    receiver
        .eval_with(
            "location.hash = arguments[0]",
            vec![json!(format!("#nb={}", payload_of(&without_outputs)))],
        )
        .await;
    until(
        "the link without outputs opening",
        Duration::from_secs(10),
        async || cells(&receiver).await[1]["outputs"] == json!([]),
    )
    .await;
    // The page shows the new notebook (its cells have the same ids as the one before).
    until(
        "the outputs gone from the page",
        Duration::from_secs(10),
        async || {
            receiver
                .eval("return document.querySelectorAll('[data-testid=output]').length")
                .await
                == 0
        },
    )
    .await;
    let plain = cells(&receiver).await;
    for (cell, sent) in plain
        .as_array()
        .expect("cells")
        .iter()
        .zip(sent_cells.as_array().expect("cells"))
    {
        assert_eq!(cell["source"], sent["source"]);
        assert_eq!(cell["type"], sent["type"]);
        assert_eq!(cell["executionCount"], Value::Null);
    }

    // Running it keeps it, and the address loses the link.
    receiver.wait_for_python().await;
    let outcomes = receiver
        .eval("return window.workbench.notebook.runAll()")
        .await;
    assert_eq!(outcomes.as_array().map(Vec::len), Some(1), "{outcomes}");
    receiver
        .wait_for_text("save-state", Duration::from_secs(10), |text| {
            text == "saved in this browser"
        })
        .await;
    let kept = receiver
        .eval("return window.workbench.notebook.list()")
        .await;
    assert_eq!(kept.as_array().map(Vec::len), Some(1), "{kept}");
    assert_eq!(kept[0]["title"], "Trip costs");
    assert_eq!(receiver.eval("return location.hash").await, "");
    receiver
        .wait_for_text("telemetry-status", Duration::from_secs(30), |text| {
            text == "all sent"
        })
        .await;

    // The relay saw the page, Python's files and the run's statistics — and neither the
    // notebook's text, nor its output, nor the link.
    assert!(
        recorder.contains("POST /api/telemetry"),
        "the relay records"
    );
    assert!(recorder.contains("GET /pyodide/"), "the relay records");
    for secret in [
        MARKER,
        &MARKER.to_uppercase(),
        "Trip costs",
        "Trip%20costs",
        &payload_of(&shown)[..40],
        &payload_of(&without_outputs)[..40],
    ] {
        assert!(!recorder.contains(secret), "{secret:?} reached the server");
    }
    receiver.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_link_opens_offline_after_one_visit() {
    let mut app = spawn_app().await;
    let browser = Browser::start().await;
    browser.open_workbench(&app).await;
    service_worker_in_control(&browser).await;
    open_marked(&browser).await;
    let link = browser
        .eval("return window.workbench.notebook.shareLink()")
        .await;
    let link = link.as_str().expect("a link").to_owned();
    let sent = cells(&browser).await;

    go_offline(&mut app, &browser).await;
    browser.client.goto("about:blank").await.expect("leaves");
    browser.client.goto(&link).await.expect("opens offline");
    wait_for_shared(&browser).await;
    assert_eq!(cells(&browser).await, sent);
    assert_eq!(
        browser
            .eval("return fetch('/health').then(() => 'reachable', () => 'unreachable')")
            .await,
        "unreachable",
        "the server really is gone"
    );
    // "Keep a copy" keeps it without a change.
    browser
        .find("keep-shared")
        .await
        .click()
        .await
        .expect("keeps");
    browser
        .wait_for_text("save-state", Duration::from_secs(10), |text| {
            text == "saved in this browser"
        })
        .await;
    let titles = browser
        .eval("return (await window.workbench.notebook.list()).map((entry) => entry.title)")
        .await;
    assert!(
        titles
            .as_array()
            .expect("titles")
            .contains(&json!("Trip costs")),
        "{titles}"
    );
    browser.close().await;
}

/// Opens `payload` in the tab (the `#` part changes) and waits for the notice that says
/// `expected`.
async fn open_in_tab(browser: &Browser, payload: &str, expected: &str) -> String {
    browser
        .eval_with(
            "location.hash = arguments[0]",
            vec![json!(format!("#nb={payload}"))],
        )
        .await;
    browser
        .wait_for_text("notebooks-notice", Duration::from_secs(10), |text| {
            text.contains(expected)
        })
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn damaged_and_hostile_links_change_nothing_and_run_nothing() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    browser.open_workbench(&app).await;
    open_marked(&browser).await;
    let kept_before = browser
        .eval("return window.workbench.notebook.list()")
        .await;
    let open_before = cells(&browser).await;

    // A bomb: a gigabyte of spaces from about a megabyte of link.
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let block = vec![b' '; 1024 * 1024];
    for _ in 0..1024 {
        encoder.write_all(&block).expect("in memory");
    }
    let bomb = URL_SAFE_NO_PAD.encode(encoder.finish().expect("in memory"));
    let newer = as_payload(
        json!({"cells": [], "metadata": {}, "nbformat": 5, "nbformat_minor": 0})
            .to_string()
            .as_bytes(),
    );
    for (payload, expected) in [
        (bomb.as_str(), "over 8.0 MB once unpacked"),
        ("not*base64!", "it is not base64url text"),
        (&bomb[..4000], "it does not unpack"),
        (newer.as_str(), "nbformat 5 is not supported yet"),
        (&as_payload(b"{\"cells\": 3}"), "\"cells\" is not a list"),
    ] {
        open_in_tab(&browser, payload, expected).await;
        assert_eq!(
            cells(&browser).await,
            open_before,
            "the open notebook stays"
        );
        assert_eq!(browser.eval("return location.hash").await, "");
    }
    // A damaged link loaded with the page: the usual notebook opens, with the reason.
    browser.client.goto("about:blank").await.expect("leaves");
    browser
        .client
        .goto(&app.url("/#nb=AAAA"))
        .await
        .expect("opens");
    let notice = browser
        .wait_for_text("notebooks-notice", Duration::from_secs(30), |_| true)
        .await;
    assert!(notice.contains("this link is damaged"), "{notice}");
    assert_eq!(cells(&browser).await, open_before);
    assert_eq!(
        browser
            .eval("return window.workbench.notebook.list()")
            .await,
        kept_before,
        "nothing kept changed"
    );

    // Scripts in Markdown and in an HTML output: shown safely, never run.
    let hostile = json!({
        "cells": [
            {"cell_type": "markdown", "id": "md", "metadata": {},
             "source": "# Hello\n\n<script>window.pwned = 1</script><img src=x onerror=\"window.pwned = 2\">"},
            {"cell_type": "code", "id": "out", "metadata": {}, "execution_count": 1, "source": "x",
             "outputs": [{"output_type": "display_data", "metadata": {}, "data": {
                 "text/html": "<b onmouseover=\"window.pwned = 3\">bold</b><script>window.pwned = 4</script><iframe src=\"https://example.com\"></iframe>",
                 "text/plain": "x"}}]},
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5
    });
    browser
        .eval_with(
            "location.hash = arguments[0]",
            vec![json!(format!(
                "#nb={}",
                as_payload(hostile.to_string().as_bytes())
            ))],
        )
        .await;
    wait_for_shared(&browser).await;
    browser
        .wait_for_text("notebook", Duration::from_secs(10), |text| {
            text.contains("bold")
        })
        .await;
    assert_eq!(
        browser
            .eval(
                "const notebook = document.querySelector('[data-testid=notebook]');
                 for (const element of notebook.querySelectorAll('b')) element.dispatchEvent(new MouseEvent('mouseover'));
                 return [typeof window.pwned, notebook.querySelectorAll('script, iframe, [onerror], [onmouseover]').length];"
            )
            .await,
        json!(["undefined", 0])
    );
    browser.close().await;
}

/// A notebook too big for the default link: the API says so, the Share box offers the file,
/// and a longer limit makes the link.
#[tokio::test(flavor = "multi_thread")]
async fn a_notebook_too_big_for_a_chat_link_is_offered_as_a_file() {
    let app: TestApp = spawn_app().await;
    let browser = Browser::start().await;
    browser.open_workbench(&app).await;
    let big: String = (0..3000)
        .map(|n| {
            format!(
                "value_{n} = {}\n",
                (n as u64).wrapping_mul(2_654_435_761) % 1_000_003
            )
        })
        .collect();
    let notebook = json!({
        "cells": [{"cell_type": "code", "id": "big", "metadata": {}, "execution_count": null,
                   "outputs": [], "source": big}],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5
    });
    browser
        .eval_with(
            "return window.workbench.notebook.open(arguments[0])",
            vec![json!(notebook.to_string())],
        )
        .await;
    let refused = browser
        .eval(
            "return window.workbench.notebook.shareLink().then(() => 'made', (error) => error.message)",
        )
        .await;
    let refused = refused.as_str().expect("a message");
    assert!(
        refused.contains("over the 8000 allowed") && refused.contains("send the file instead"),
        "{refused}"
    );
    browser
        .find("share")
        .await
        .click()
        .await
        .expect("Share opens");
    let error = browser.text("share-error").await;
    assert!(error.contains("send the file instead"), "{error}");
    browser.find("share-download").await;
    // The longest limit takes it, and the choice is kept for the next time.
    browser
        .eval("const select = document.querySelector('[data-testid=share-limit]'); select.value = '2097152'; select.dispatchEvent(new Event('change'));")
        .await;
    let link = browser
        .find("share-link")
        .await
        .prop("value")
        .await
        .expect("the link")
        .expect("a value");
    assert!(link.len() > 8000, "{}", link.len());
    assert_eq!(
        browser
            .eval("return localStorage.getItem('workbench.share.limit')")
            .await,
        "2097152"
    );
    let longer = browser
        .eval("return window.workbench.notebook.shareLink({maxLength: 2097152})")
        .await;
    assert_eq!(json!(link), longer);
    browser.close().await;
}

/// A Run pressed in the page's shell before the app arrives, on a link's page, where the
/// shell shows an empty cell: the shared notebook's first cell, which the user has not seen,
/// does not run.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_asked_before_the_app_arrives_does_not_run_a_shared_cell_unseen() {
    let app = spawn_app().await;
    let sender = Browser::start().await;
    sender.open_workbench(&app).await;
    sender
        .eval_with(
            "return window.workbench.notebook.open(arguments[0])",
            vec![json!(json!({
                "cells": [{"cell_type": "code", "id": "unseen", "metadata": {}, "execution_count": null,
                           "outputs": [], "source": "ran_unseen = True\nprint('ran unseen')"}],
                "metadata": {}, "nbformat": 4, "nbformat_minor": 5
            }).to_string())],
        )
        .await;
    let link = sender
        .eval("return window.workbench.notebook.shareLink()")
        .await;
    sender.close().await;

    let browser = Browser::start().await;
    browser.devtools("Network.enable", json!({})).await;
    browser
        .devtools("Network.setBlockedURLs", json!({"urls": ["*_bg.wasm"]}))
        .await;
    browser
        .client
        .goto(link.as_str().expect("a link"))
        .await
        .expect("opens");
    browser
        .wait_for_text("editor", Duration::from_secs(30), |text| text.is_empty())
        .await;
    browser
        .find("editor")
        .await
        .send_keys("\u{e009}\u{e007}\u{e000}")
        .await
        .expect("ctrl+enter");
    browser
        .devtools("Network.setBlockedURLs", json!({"urls": []}))
        .await;
    browser
        .eval(
            "const app = document.createElement('script');
             app.type = 'module';
             app.textContent = document.querySelector('script[type=module]').textContent;
             document.head.append(app);",
        )
        .await;
    wait_for_shared(&browser).await;
    browser.wait_for_python().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ran = browser
        .execute(json!({"code": "'ran_unseen' in globals()"}))
        .await;
    assert_eq!(ran["result"], false, "{ran}");
    assert_eq!(
        browser
            .eval("return document.querySelectorAll('[data-testid=output]').length")
            .await,
        0
    );
    // The cell is there to be read, and runs when asked.
    assert_eq!(
        cells(&browser).await[0]["source"],
        "ran_unseen = True\nprint('ran unseen')"
    );
    browser.close().await;
}
