//! Helpers for the end-to-end tests: [`spawn_app`] starts the real server on a free port
//! (the server's own test harness, `backend::testing`), serving the real Trunk build
//! (`dist/`) and the real Pyodide files (`public/`), and [`Browser::start`] starts Debian's
//! headless Chromium through ChromeDriver.
//!
//! `cargo xtask test` builds `dist/` and lays out `public/` before it runs these tests.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

pub use backend::testing::{ADMIN_TOKEN, TestApp, until, until_ok};

/// Records the body of every `fetch` and `sendBeacon` the page makes from now on in
/// `window.sentBodies` (gloo-net sends a `Request`, whose body is read from a clone).
pub const RECORD_REQUEST_BODIES: &str = "
    window.sentBodies = [];
    const originalFetch = window.fetch.bind(window);
    window.fetch = (input, init) => {
        if (init && typeof init.body === 'string') window.sentBodies.push(init.body);
        else if (input instanceof Request) input.clone().text().then((body) => body && window.sentBodies.push(body));
        return originalFetch(input, init);
    };
    const originalBeacon = navigator.sendBeacon.bind(navigator);
    navigator.sendBeacon = (url, data) => {
        window.sentBodies.push(String(data));
        return originalBeacon(url, data);
    };";

/// How long a page may take to load Python; cold Pyodide start-up on two cores is ~10 s.
pub const PYTHON_LOAD_TIMEOUT: Duration = Duration::from_secs(120);

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The repository root, where `dist/` and `public/` are.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

/// Starts the real server on a free port with the real build and assets.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// [`spawn_app`], after `adjust` has changed the configuration.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut backend::Config)) -> TestApp {
    let root = workspace_root();
    for needed in [
        "dist/index.html",
        "dist/pyodide-worker.js",
        "public/pyodide",
    ] {
        assert!(
            root.join(needed).exists(),
            "{needed} is missing: run the tests with `cargo xtask test`, which builds and lays it out first"
        );
    }
    backend::testing::spawn_app_with(|config| {
        config.dist_dir = root.join("dist");
        config.public_dir = root.join("public");
        adjust(config);
    })
    .await
}

/// Headless Chromium driven through ChromeDriver, with its own fresh profile. Dropping it
/// without [`Browser::close`] (a failed test) still ends its Chromium, which would otherwise
/// outlive ChromeDriver and slow every later test.
#[derive(Debug)]
pub struct Browser {
    pub client: Client,
    driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

/// Headless Chromium with its own profile.
fn chrome_capabilities(profile: &Path) -> serde_json::Map<String, Value> {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--window-size=1280,800",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    capabilities
}

impl Browser {
    pub async fn start() -> Browser {
        for needed in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(needed).exists(),
                "{needed} is missing: `cargo xtask test` installs Debian's chromium and chromium-driver"
            );
        }
        let profile = tempfile::tempdir().expect("a temporary browser profile");
        // A port picked free may be taken by another test's server or driver before this
        // ChromeDriver binds it; then the session request meets the wrong process, and a new
        // port is tried.
        let mut last_error = String::new();
        let mut session = None;
        for _ in 0..3 {
            let port = free_port();
            let mut driver = tokio::process::Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("chromedriver starts");
            wait_for_port(port).await;
            match ClientBuilder::new(HttpConnector::new())
                .capabilities(chrome_capabilities(profile.path()))
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => {
                    session = Some((client, driver));
                    break;
                }
                Err(error) => {
                    last_error = error.to_string();
                    driver.kill().await.ok();
                }
            }
        }
        let (client, driver) =
            session.unwrap_or_else(|| panic!("no ChromeDriver session: {last_error}"));
        // Scripts may await slow work (loading pandas, a run that times out).
        client
            .update_timeouts(TimeoutConfiguration::new(
                Some(PYTHON_LOAD_TIMEOUT),
                Some(PYTHON_LOAD_TIMEOUT),
                None,
            ))
            .await
            .expect("timeouts are accepted");
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    /// Ends the browser session and ChromeDriver.
    pub async fn close(mut self) {
        self.client.clone().close().await.ok();
        self.driver.kill().await.ok();
    }

    /// The element with this `data-testid`, waiting up to 10 s for it to appear (a page the
    /// browser just navigated to shows its parts once its app has loaded).
    pub async fn find(&self, test_id: &str) -> Element {
        until_ok(
            &format!("an element with data-testid {test_id} appearing"),
            Duration::from_secs(10),
            async || {
                self.client
                    .find(Locator::Css(&format!("[data-testid=\"{test_id}\"]")))
                    .await
                    .map_err(|error| error.to_string())
            },
        )
        .await
    }

    /// The text of the element with this `data-testid` (empty if it has none).
    pub async fn text(&self, test_id: &str) -> String {
        self.find(test_id).await.text().await.unwrap_or_default()
    }

    /// Replaces the editor's code by typing, as a person would (select all, delete, type).
    /// The editor closes brackets and quotes as they are typed and overtypes them when
    /// the closing one is typed, so typed code arrives as written — except indentation
    /// after a colon, which the editor adds itself.
    pub async fn type_code(&self, code: &str) {
        self.type_into(&self.find("editor").await, code).await;
    }

    /// Types `code` into the editor, runs it, presses Stop `after` it started running, and
    /// gives the milliseconds from Stop until the Run button is free again.
    pub async fn run_then_stop(&self, code: &str, after: Duration) -> f64 {
        self.type_code(code).await;
        self.find("run").await.click().await.expect("run");
        self.wait_for_text("run", Duration::from_secs(10), |text| {
            text.contains("Running")
        })
        .await;
        // Not a wait for something: how long the run has been going when Stop is pressed is
        // what the caller asks for.
        tokio::time::sleep(after).await;
        self.find("stop").await.click().await.expect("stop");
        self.eval(
            "const started = performance.now();
             return new Promise((resolve) => {
               const check = () => document.querySelector('[data-testid=run]').disabled
                 ? setTimeout(check, 10)
                 : resolve(performance.now() - started);
               check();
             });",
        )
        .await
        .as_f64()
        .expect("milliseconds")
    }

    /// [`Browser::type_code`] into this editor (a notebook cell's, say).
    pub async fn type_into(&self, editor: &Element, code: &str) {
        editor.click().await.expect("the editor takes focus");
        editor
            .send_keys("\u{e009}a\u{e000}\u{e003}")
            .await
            .expect("select all and delete");
        editor.send_keys(code).await.expect("typing works");
    }

    /// Waits until the element's text satisfies `accept`, and returns that text.
    pub async fn wait_for_text(
        &self,
        test_id: &str,
        timeout: Duration,
        accept: impl Fn(&str) -> bool,
    ) -> String {
        // What the element said last (`None` while there is no such element).
        until_ok(
            &format!("[data-testid={test_id}] saying what the test waits for"),
            timeout,
            async || match self
                .client
                .find(Locator::Css(&format!("[data-testid=\"{test_id}\"]")))
                .await
            {
                Ok(element) => {
                    let text = element.text().await.unwrap_or_default();
                    if accept(&text) {
                        Ok(text)
                    } else {
                        Err(Some(text))
                    }
                }
                Err(_) => Err(None),
            },
        )
        .await
    }

    /// Runs a script in the page and returns its JSON value (a returned Promise is awaited).
    pub async fn eval(&self, script: &str) -> Value {
        self.eval_with(script, Vec::new()).await
    }

    /// Like [`Browser::eval`], with `arguments[0..]` set to `args`.
    pub async fn eval_with(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|error| panic!("script {script:?} failed: {error}"))
    }

    /// Opens the workbench and waits until `window.workbench` is there and Python is ready.
    pub async fn open_workbench(&self, app: &TestApp) {
        self.client
            .goto(&app.url("/"))
            .await
            .expect("the page opens");
        self.wait_for_python().await;
        assert_eq!(self.eval("return typeof window.workbench").await, "object");
    }

    /// Waits (up to a minute) until the service worker's caches hold Pyodide's core files, its
    /// lock and the wheels of these packages. It copies what Python's worker used once the
    /// worker lists it, after the preloads, not while the files pass (frontend/sw.js).
    pub async fn wait_for_kept_files(&self, packages: &[&str]) {
        until(
            &format!("the service worker keeping Pyodide's files and the wheels of {packages:?}"),
            Duration::from_secs(60),
            async || {
                self.eval_with(
                    // (The query keeps this read of the lock out of the cache under test.)
                    "const folder = '/pyodide/v0.27.7-pyc/';
                     const lock = await (await fetch(folder + 'pyodide-lock.json?read-by-the-test')).json();
                     const name = (await caches.keys()).find((name) => name.startsWith('workbench-files-'));
                     const cache = name && (await caches.open(name));
                     const core = ['pyodide.js', 'pyodide.asm.js', 'pyodide.asm.wasm', 'python_stdlib.zip'];
                     const wheels = arguments[0].map((wheel) => lock.packages[wheel].file_name);
                     for (const file of [...core, ...wheels]) {
                       const url = new URL(folder + file, location.href).href;
                       if (!cache || !(await cache.match(url))) return false;
                     }
                     return (await caches.match(new URL(folder + 'pyodide-lock.json', location.href).href)) !== undefined;",
                    vec![serde_json::json!(packages)],
                )
                .await
                    == Value::Bool(true)
            },
        )
        .await;
    }

    /// Waits until the status line says Python is ready (and fails if it says it failed).
    pub async fn wait_for_python(&self) {
        let status = self
            .wait_for_text("status", PYTHON_LOAD_TIMEOUT, |text| {
                text.contains("ready") || text.contains("failed")
            })
            .await;
        assert!(status.contains("Python ready"), "status line: {status}");
    }

    /// Sends a Chrome DevTools Protocol command to the page (through ChromeDriver), for what
    /// WebDriver cannot do, such as making a download fail.
    pub async fn devtools(&self, command: &'static str, params: Value) -> Value {
        self.client
            .issue_cmd(DevTools { command, params })
            .await
            .unwrap_or_else(|error| panic!("DevTools command {command} failed: {error}"))
    }

    /// `window.workbench.execute(request)`: the execution result as JSON.
    pub async fn execute(&self, request: Value) -> Value {
        self.eval_with(
            "return window.workbench.execute(arguments[0])",
            vec![request],
        )
        .await
    }
}

/// ChromeDriver's endpoint for DevTools commands.
#[derive(Debug)]
struct DevTools {
    command: &'static str,
    params: Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for DevTools {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        let body = serde_json::json!({ "cmd": self.command, "params": self.params });
        (http::Method::POST, Some(body.to_string()))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Every process of this browser has its profile folder on its command line.
        let _ = std::process::Command::new("pkill")
            .args(["-f", "--"])
            .arg(format!(
                "--user-data-dir={}",
                self._profile.path().display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free local port")
}

async fn wait_for_port(port: u16) {
    until(
        &format!("chromedriver listening on port {port}"),
        Duration::from_secs(20),
        async || {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        },
    )
    .await;
}

/// What a test knows of the trips CSV it made ([`make_trips`]): per zone, the trips and the
/// sum of their fares (in cents), and the file's last 200 bytes.
#[derive(Debug)]
pub struct Trips {
    pub by_zone: std::collections::BTreeMap<u32, (u64, u64)>,
    pub tail: Vec<u8>,
    pub bytes: u64,
}

/// Writes a trips CSV of at least `bytes` bytes: `id,zone,fare,passengers,note`.
pub fn make_trips(path: &Path, bytes: u64) -> Trips {
    let file = std::fs::File::create(path).expect("create the CSV");
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut by_zone = std::collections::BTreeMap::new();
    let mut written = 0u64;
    let header = b"id,zone,fare,passengers,note\n";
    std::io::Write::write_all(&mut out, header).expect("write");
    written += header.len() as u64;
    let mut line = String::new();
    let mut id = 0u64;
    while written < bytes {
        let zone = ((id * 7919) % 263) as u32;
        let fare = (id * 104_729) % 9_000 + 250;
        let passengers = id % 4 + 1;
        line.clear();
        use std::fmt::Write as _;
        writeln!(
            line,
            "{id},{zone},{fare},{passengers},a trip across the city and back again"
        )
        .expect("format");
        std::io::Write::write_all(&mut out, line.as_bytes()).expect("write");
        written += line.len() as u64;
        let entry = by_zone.entry(zone).or_insert((0, 0));
        entry.0 += 1;
        entry.1 += fare;
        id += 1;
    }
    std::io::Write::flush(&mut out).expect("flush");
    drop(out);
    let mut tail = vec![0; 200];
    let mut file = std::fs::File::open(path).expect("read back");
    std::io::Seek::seek(&mut file, std::io::SeekFrom::End(-200)).expect("seek");
    std::io::Read::read_exact(&mut file, &mut tail).expect("the tail");
    Trips {
        by_zone,
        tail,
        bytes: written,
    }
}

/// How long the notebook helpers below wait for the page.
const NOTEBOOK_WAIT: Duration = Duration::from_secs(60);

/// The open notebook's cells as `window.workbench.notebook.cells()` gives them.
pub async fn cells(browser: &Browser) -> Vec<Value> {
    match browser
        .eval("return window.workbench.notebook.cells()")
        .await
    {
        Value::Array(cells) => cells,
        other => panic!("cells() gave {other}"),
    }
}

/// Opens a notebook of these nbformat cells through `window.workbench.notebook.open`.
pub async fn open_notebook_of(browser: &Browser, cells: Value) {
    let notebook = json!({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5});
    browser
        .eval_with(
            "return window.workbench.notebook.open(arguments[0])",
            vec![json!(notebook.to_string())],
        )
        .await;
}

/// Waits (up to a minute) until `check` accepts the cells, and returns them.
pub async fn cells_until(
    browser: &Browser,
    what: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    until_ok(what, NOTEBOOK_WAIT, async || {
        let cells = cells(browser).await;
        if check(&cells) { Ok(cells) } else { Err(cells) }
    })
    .await
}

/// The editor of the open notebook's cell `index`, waiting (up to a minute) for it to show.
pub async fn editor_of(browser: &Browser, index: usize) -> Element {
    until_ok(
        &format!("cell {index}'s editor showing"),
        NOTEBOOK_WAIT,
        async || {
            browser
                .client
                .find_all(Locator::Css(&format!(
                    "[data-testid=cell]:nth-child({}) [data-testid=editor]",
                    index + 1
                )))
                .await
                .unwrap_or_default()
                .into_iter()
                .next()
                .ok_or("no such editor on the page")
        },
    )
    .await
}

/// Waits until the service worker controls the page (after a first visit's load).
pub async fn service_worker_in_control(browser: &Browser) {
    until(
        "the service worker taking control",
        Duration::from_secs(30),
        async || {
            browser
                .eval("return navigator.serviceWorker.controller !== null")
                .await
                == true
        },
    )
    .await;
}

/// Loses the network as a laptop losing Wi-Fi does (the browser's own emulation), and stops
/// the server too, so nothing can reach it; the browser's HTTP cache is emptied as well, so
/// only what the service worker kept is left.
pub async fn go_offline(app: &mut TestApp, browser: &Browser) {
    browser.devtools("Network.enable", json!({})).await;
    browser
        .devtools(
            "Network.emulateNetworkConditions",
            json!({"offline": true, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}),
        )
        .await;
    app.stop().await;
    browser
        .devtools("Network.clearBrowserCache", json!({}))
        .await;
}

/// The network and the server back.
pub async fn go_online(app: &mut TestApp, browser: &Browser) {
    // The server first: the page's retries meet a server, not a refused connection and a
    // longer backoff.
    app.start_again().await;
    browser
        .devtools(
            "Network.emulateNetworkConditions",
            json!({"offline": false, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}),
        )
        .await;
}
