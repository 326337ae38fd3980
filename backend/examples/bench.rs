//! Server benchmark (not a test): telemetry ingest throughput and latency under concurrent
//! batched load, next to `/health` measured the same way in the same run; then, over a store
//! seeded with a million events across 30 days and a hundred thousand more in the current
//! hour, `/api/stats` and the 24-hour dashboard at 1 and 16 concurrent clients while ingest
//! runs (with `/health` beside them), the 30-day dashboard, and ingest while ten live
//! dashboards are open. Then the same on PostgreSQL (a throwaway cluster, when its binaries
//! are installed): ingest on one replica and on two sharing the database, and the 30-day
//! dashboard over the seeded events; then ingest on one replica and the 30-day dashboard
//! over TLS (`verify-full`, a cluster that takes TLS only), with their ratios to plain TCP.
//! After the plain-TCP figures, `backend move-store` of the seeded SQLite store into a fresh
//! database, next to seeding as many events straight through the PostgreSQL store.
//!
//! `bench SERVER_BINARY [SECONDS] [SEED_EVENTS] [JSON_OUT] [without-tls]`: the last leaves
//! the TLS cluster out (a by-hand run at 10 M events, where its seeding alone takes minutes).
//!
//! `cargo xtask bench-server` builds in release mode and runs this against the release
//! server binary. Figures are machine-dependent; compare the ratios.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use backend::testing::postgres::{PgCluster, postgres_bin};
use backend::{EventStore, NewEvent, PgStore, SqliteStore};
use protocol::telemetry::{EventKind, TelemetryEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const TOKEN: &str = "bench-admin-token";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let server_binary = PathBuf::from(
        args.next()
            .expect("usage: bench SERVER_BINARY [SECONDS] [SEED_EVENTS] [JSON_OUT] [without-tls]"),
    );
    let seconds: u64 = args.next().map_or(Ok(5), |value| value.parse())?;
    let seed_events: usize = args.next().map_or(Ok(1_000_000), |value| value.parse())?;
    let json_path = args.next().map(PathBuf::from);
    let with_tls = args.next().as_deref() != Some("without-tls");
    let mut figures = serde_json::Map::new();
    let concurrency = 32;

    let data = tempfile::tempdir()?;
    let (mut server, address) = start_server(&server_binary, data.path(), None).await?;
    let health = load(
        address,
        concurrency,
        Duration::from_secs(seconds),
        health_request,
    )
    .await?;
    let ingest = load(
        address,
        concurrency,
        Duration::from_secs(seconds),
        ingest_request,
    )
    .await?;
    let rss_kib = rss_kib(server.id());
    server.kill().await?;

    println!("concurrency {concurrency}, {seconds} s each, batches of 20 events");
    println!(
        "/health:          {:>9.0} requests/s   p50 {:>6.2} ms   p99 {:>6.2} ms",
        health.per_second(),
        health.percentile(0.50),
        health.percentile(0.99)
    );
    println!(
        "POST /api/telemetry: {:>6.0} requests/s = {:.0} events/s   p50 {:>6.2} ms   p99 {:>6.2} ms   (errors {})",
        ingest.per_second(),
        ingest.per_second() * 20.0,
        ingest.percentile(0.50),
        ingest.percentile(0.99),
        ingest.errors
    );
    println!(
        "ratio ingest requests/s ÷ health requests/s: {:.2}",
        ingest.per_second() / health.per_second()
    );
    if let Some(rss) = rss_kib {
        println!(
            "server RSS after the ingest load: {:.1} MiB",
            rss as f64 / 1024.0
        );
        figures.insert("rssMiB".into(), (rss as f64 / 1024.0).into());
    }
    figures.insert("concurrency".into(), concurrency.into());
    figures.insert("healthPerSecond".into(), health.per_second().into());
    figures.insert("healthP99Ms".into(), health.percentile(0.99).into());
    figures.insert("ingestRequestsPerSecond".into(), ingest.per_second().into());
    figures.insert(
        "ingestEventsPerSecond".into(),
        (ingest.per_second() * 20.0).into(),
    );
    figures.insert("ingestP50Ms".into(), ingest.percentile(0.50).into());
    figures.insert("ingestP99Ms".into(), ingest.percentile(0.99).into());
    figures.insert("ingestErrors".into(), ingest.errors.into());

    // The seeded SQLite store stays for the move into PostgreSQL below.
    let seeded = tempfile::tempdir()?;
    if seed_events > 0 {
        let current_hour_events = seed_events / 10;
        let started = Instant::now();
        let store = seed(seeded.path(), seed_events, current_hour_events).await?;
        println!(
            "seeded {seed_events} events over 30 days and {current_hour_events} in the current hour in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let started = Instant::now();
        let hours = store.catch_up().await?;
        println!(
            "summarised them into {hours} hourly rollups in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        drop(store);
        let started = Instant::now();
        let (mut server, address) = start_server(&server_binary, seeded.path(), None).await?;
        let start_seconds = started.elapsed().as_secs_f64();
        println!(
            "the server started over them in {start_seconds:.1} s (the last day's minute summaries rebuilt)"
        );
        figures.insert("seededEvents".into(), seed_events.into());
        figures.insert("currentHourEvents".into(), current_hour_events.into());
        figures.insert("serverStartSeconds".into(), start_seconds.into());

        let phase = Duration::from_secs(seconds);
        for (name, request) in [
            ("stats", stats_request as fn(usize, usize) -> String),
            ("dashboard24h", dashboard_24h_request),
        ] {
            for clients in [1, 16] {
                let (reads, ingest, health) = tokio::join!(
                    load(address, clients, phase, request),
                    load(address, 4, phase, ingest_request),
                    load(address, 1, phase, health_request),
                );
                let (reads, ingest, health) = (reads?, ingest?, health?);
                println!(
                    "{name:>13} × {clients:>2} clients while ingest runs: {:>6.0} requests/s   p50 {:>6.2} ms   p99 {:>6.2} ms   (errors {})   | /health p99 {:.2} ms | ingest p99 {:.2} ms ({:.0} events/s)",
                    reads.per_second(),
                    reads.percentile(0.50),
                    reads.percentile(0.99),
                    reads.errors,
                    health.percentile(0.99),
                    ingest.percentile(0.99),
                    ingest.per_second() * 20.0,
                );
                let key = |figure: &str| format!("{name}{clients}{figure}");
                figures.insert(key("PerSecond"), reads.per_second().into());
                figures.insert(key("P50Ms"), reads.percentile(0.50).into());
                figures.insert(key("P99Ms"), reads.percentile(0.99).into());
                figures.insert(key("Errors"), reads.errors.into());
                figures.insert(key("HealthP99Ms"), health.percentile(0.99).into());
                figures.insert(key("IngestP99Ms"), ingest.percentile(0.99).into());
            }
        }

        let median = dashboard_30d_median(address).await?;
        println!(
            "GET /api/dashboard/stats?range=30d over {seed_events} events: median {median:.0} ms (of 5)"
        );
        figures.insert("dashboard30dMedianMs".into(), median.into());

        let quiet = load(address, 8, phase, ingest_request).await?;
        let streams = open_live_streams(address, 10).await?;
        let watched = load(address, 8, phase, ingest_request).await?;
        drop(streams);
        println!(
            "POST /api/telemetry × 8: p99 {:.2} ms without live dashboards, {:.2} ms with 10 open ({:.0} vs {:.0} events/s)",
            quiet.percentile(0.99),
            watched.percentile(0.99),
            quiet.per_second() * 20.0,
            watched.per_second() * 20.0,
        );
        figures.insert("ingestP99QuietMs".into(), quiet.percentile(0.99).into());
        figures.insert("ingestP99LiveMs".into(), watched.percentile(0.99).into());
        server.kill().await?;
    }
    if postgres_bin().is_some() {
        let mut databases = vec![Database::plain()];
        if with_tls {
            databases.push(Database::over_tls()?);
        }
        for database in databases {
            postgres(
                &server_binary,
                seconds,
                seed_events,
                &database,
                &mut figures,
            )
            .await?;
            if seed_events > 0 && database.params.is_empty() {
                move_store(&server_binary, seeded.path(), &database, &mut figures).await?;
            }
        }
        if with_tls {
            let ratio = |figures: &serde_json::Map<String, serde_json::Value>, of: &str| {
                let figure = |name: String| figures.get(&name).and_then(serde_json::Value::as_f64);
                figure(format!("pgTls{of}")).unwrap_or(f64::NAN)
                    / figure(format!("pg{of}")).unwrap_or(f64::NAN)
            };
            let ingest = ratio(&figures, "IngestEventsPerSecond");
            figures.insert("pgTlsIngestRatio".into(), ingest.into());
            print!("PostgreSQL over TLS (verify-full) ÷ plain TCP: ingest events/s {ingest:.2}×");
            if seed_events > 0 {
                let dashboard = ratio(&figures, "Dashboard30dMedianMs");
                figures.insert("pgTlsDashboard30dRatio".into(), dashboard.into());
                print!(", 30-day dashboard time {dashboard:.2}×");
            }
            println!();
        }
    } else {
        println!("PostgreSQL is not installed: its figures are skipped");
    }
    if let Some(path) = json_path {
        std::fs::write(&path, serde_json::Value::Object(figures).to_string())?;
    }
    Ok(())
}

/// The PostgreSQL the figures are measured on: a throwaway cluster over plain TCP, or one
/// that takes TCP over TLS only, reached with `sslmode=verify-full` and a test CA (its
/// figures are named `pgTls…`).
struct Database {
    cluster: PgCluster,
    /// The URL's TLS parameters; empty for plain TCP.
    params: String,
    label: &'static str,
    prefix: &'static str,
    _files: Option<tempfile::TempDir>,
}

impl Database {
    fn plain() -> Self {
        Self {
            cluster: PgCluster::start(),
            params: String::new(),
            label: "PostgreSQL",
            prefix: "pg",
            _files: None,
        }
    }

    fn over_tls() -> anyhow::Result<Self> {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "bench CA");
        let ca = ca.self_signed(&ca_key)?;
        let server_key = KeyPair::generate()?;
        let server = CertificateParams::new(vec!["localhost".to_owned()])?.signed_by(
            &server_key,
            &ca,
            &ca_key,
        )?;
        let files = tempfile::tempdir()?;
        let ca_file = files.path().join("ca.pem");
        std::fs::write(&ca_file, ca.pem())?;
        Ok(Self {
            cluster: PgCluster::start_with_tls(&server.pem(), &server_key.serialize_pem()),
            params: format!("sslmode=verify-full&sslrootcert={}", ca_file.display()),
            label: "PostgreSQL over TLS",
            prefix: "pgTls",
            _files: Some(files),
        })
    }

    /// A fresh database's URL.
    async fn fresh_url(&self) -> String {
        let url = self.cluster.fresh_database().await;
        if self.params.is_empty() {
            url
        } else {
            format!(
                "{}?{}",
                url.replace("@127.0.0.1:", "@localhost:"),
                self.params
            )
        }
    }
}

/// Ingest on one replica (and, over plain TCP, on two) on one PostgreSQL, and the 30-day
/// dashboard over `seed_events` seeded events there.
async fn postgres(
    server_binary: &std::path::Path,
    seconds: u64,
    seed_events: usize,
    database: &Database,
    figures: &mut serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<()> {
    let (label, prefix) = (database.label, database.prefix);
    let url = database.fresh_url().await;
    let phase = Duration::from_secs(seconds);
    let (data_a, data_b) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let (mut first, first_address) = start_server(server_binary, data_a.path(), Some(&url)).await?;
    let one = load(first_address, 32, phase, ingest_request).await?;
    let rss = rss_kib(first.id()).map_or(0.0, |rss| rss as f64 / 1024.0);
    println!(
        "{label}, one replica: POST /api/telemetry {:.0} events/s   p50 {:.2} ms   p99 {:.2} ms   (errors {})   RSS {rss:.1} MiB",
        one.per_second() * 20.0,
        one.percentile(0.50),
        one.percentile(0.99),
        one.errors
    );
    figures.insert(
        format!("{prefix}IngestEventsPerSecond"),
        (one.per_second() * 20.0).into(),
    );
    figures.insert(format!("{prefix}IngestP50Ms"), one.percentile(0.50).into());
    figures.insert(format!("{prefix}IngestP99Ms"), one.percentile(0.99).into());
    figures.insert(format!("{prefix}IngestErrors"), one.errors.into());
    figures.insert(format!("{prefix}RssMiB"), rss.into());
    if !database.params.is_empty() {
        first.kill().await?;
        return seeded_dashboard(server_binary, seed_events, database, figures).await;
    }

    let (mut second, second_address) =
        start_server(server_binary, data_b.path(), Some(&url)).await?;
    let (a, b) = tokio::join!(
        load(first_address, 16, phase, ingest_request),
        load(second_address, 16, phase, ingest_request_elsewhere),
    );
    let (a, b) = (a?, b?);
    let mut both = Load {
        elapsed: a.elapsed.max(b.elapsed),
        errors: a.errors + b.errors,
        ..Load::default()
    };
    both.latencies_ms.extend(a.latencies_ms);
    both.latencies_ms.extend(b.latencies_ms);
    println!(
        "PostgreSQL, two replicas: POST /api/telemetry {:.0} events/s   p50 {:.2} ms   p99 {:.2} ms   (errors {})",
        both.per_second() * 20.0,
        both.percentile(0.50),
        both.percentile(0.99),
        both.errors
    );
    figures.insert(
        "pgTwoReplicasEventsPerSecond".into(),
        (both.per_second() * 20.0).into(),
    );
    figures.insert("pgTwoReplicasP50Ms".into(), both.percentile(0.50).into());
    figures.insert("pgTwoReplicasP99Ms".into(), both.percentile(0.99).into());
    first.kill().await?;
    second.kill().await?;
    seeded_dashboard(server_binary, seed_events, database, figures).await
}

/// The 30-day dashboard over `seed_events` events seeded in a fresh database.
async fn seeded_dashboard(
    server_binary: &std::path::Path,
    seed_events: usize,
    database: &Database,
    figures: &mut serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<()> {
    let (label, prefix) = (database.label, database.prefix);
    if seed_events > 0 {
        let url = database.fresh_url().await;
        let store = PgStore::connect(&url, tokio::sync::broadcast::channel(16).0).await?;
        let started = Instant::now();
        seed_into(&store, seed_events, seed_events / 10).await?;
        let seeding = started.elapsed().as_secs_f64();
        println!(
            "{label}: seeded {seed_events} events over 30 days and {} in the current hour in {seeding:.1} s",
            seed_events / 10,
        );
        let started = Instant::now();
        let hours = store.catch_up().await?;
        let summarising = started.elapsed().as_secs_f64();
        println!("{label}: summarised them into {hours} hourly rollups in {summarising:.1} s");
        figures.insert(
            format!("{prefix}SeedEventsPerSecond"),
            ((seed_events + seed_events / 10) as f64 / (seeding + summarising)).into(),
        );
        drop(store);
        let data = tempfile::tempdir()?;
        let (mut server, address) = start_server(server_binary, data.path(), Some(&url)).await?;
        let median = dashboard_30d_median(address).await?;
        println!(
            "{label}: GET /api/dashboard/stats?range=30d over {seed_events} events: median {median:.0} ms (of 5)"
        );
        figures.insert(format!("{prefix}Dashboard30dMedianMs"), median.into());
        server.kill().await?;
    }
    Ok(())
}

/// `backend move-store` of the seeded SQLite store into a fresh database, timed from the
/// command's start to its end (connecting, the events, summarising the hours), next to
/// seeding and summarising as many events straight through the PostgreSQL store in this run.
async fn move_store(
    server_binary: &std::path::Path,
    sqlite: &std::path::Path,
    database: &Database,
    figures: &mut serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<()> {
    // The seeded events and those the SQLite server took during its loads.
    let events: i64 = rusqlite::Connection::open(sqlite.join("events.sqlite3"))?.query_row(
        "SELECT COUNT(*) FROM events",
        [],
        |row| row.get(0),
    )?;
    let url = database.fresh_url().await;
    let started = Instant::now();
    let run = tokio::process::Command::new(server_binary)
        .args(["move-store", "--from"])
        .arg(sqlite)
        .args(["--to", &url])
        .output()
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        run.status.success(),
        "move-store failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let rate = events as f64 / seconds;
    let seeding = figures
        .get("pgSeedEventsPerSecond")
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(f64::NAN);
    println!(
        "backend move-store of {events} events from SQLite into PostgreSQL: {seconds:.1} s, \
         {rate:.0} events/s ({:.2}× seeding and summarising them straight through the PostgreSQL \
         store, {seeding:.0} events/s)",
        rate / seeding
    );
    print!("{}", String::from_utf8_lossy(&run.stdout));
    figures.insert("moveEvents".into(), events.into());
    figures.insert("moveSeconds".into(), seconds.into());
    figures.insert("moveEventsPerSecond".into(), rate.into());
    figures.insert("moveToSeedingRatio".into(), (rate / seeding).into());
    Ok(())
}

/// The median time of five 30-day dashboard requests, in milliseconds.
async fn dashboard_30d_median(address: SocketAddr) -> anyhow::Result<f64> {
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let mut connection = Connection::open(address).await?;
        let status = connection
            .request(&format!(
                "GET /api/dashboard/stats?range=30d HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
            ))
            .await?;
        anyhow::ensure!(status == 200, "the dashboard answered {status}");
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[2])
}

fn health_request(_: usize, _: usize) -> String {
    "GET /health HTTP/1.1\r\nHost: bench\r\n\r\n".to_owned()
}

fn stats_request(_: usize, _: usize) -> String {
    "GET /api/stats HTTP/1.1\r\nHost: bench\r\n\r\n".to_owned()
}

fn dashboard_24h_request(_: usize, _: usize) -> String {
    format!(
        "GET /api/dashboard/stats?range=24h HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    )
}

/// A batch of 20 new events; ids unique per worker, round and process run.
fn ingest_request(worker: usize, round: usize) -> String {
    static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = if round == 0 {
        RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    } else {
        RUN.load(std::sync::atomic::Ordering::Relaxed)
    };
    let events: Vec<TelemetryEvent> = (0..20)
        .map(|n| event(&format!("x{run}-w{worker}-r{round}-{n}")))
        .collect();
    let body = serde_json::json!({ "events": events }).to_string();
    format!(
        "POST /api/telemetry HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// [`ingest_request`] with ids of its own, for a load beside another.
fn ingest_request_elsewhere(worker: usize, round: usize) -> String {
    ingest_request(worker + 1_000_000, round)
}

/// `count` live dashboards (half on the last hour, half on the last day), each read as a
/// browser would; they close when the returned tasks are dropped.
async fn open_live_streams(address: SocketAddr, count: usize) -> anyhow::Result<LiveStreams> {
    let mut readers = Vec::new();
    for index in 0..count {
        let range = if index % 2 == 0 { "1h" } else { "24h" };
        let mut stream = TcpStream::connect(address).await?;
        stream
            .write_all(
                format!(
                    "GET /api/dashboard/live?range={range} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {TOKEN}\r\nX-Forwarded-For: 10.0.0.{index}\r\n\r\n"
                )
                .as_bytes(),
            )
            .await?;
        readers.push(tokio::spawn(async move {
            let mut buffer = vec![0u8; 1 << 16];
            while matches!(stream.read(&mut buffer).await, Ok(read) if read > 0) {}
        }));
    }
    Ok(LiveStreams(readers))
}

/// Open live streams; dropping this closes them.
struct LiveStreams(Vec<tokio::task::JoinHandle<()>>);

impl Drop for LiveStreams {
    fn drop(&mut self) {
        for reader in &self.0 {
            reader.abort();
        }
    }
}

fn event(id: &str) -> TelemetryEvent {
    TelemetryEvent {
        event_id: id.to_owned(),
        session_id: "bench".into(),
        kind: EventKind::Execution,
        code_sha256: Some("ab".repeat(32)),
        code_bytes: Some(42),
        duration_ms: Some(12.5),
        success: Some(true),
        error_type: None,
        stdout_bytes: Some(10),
        stderr_bytes: Some(0),
        package: None,
        version: None,
        file_ext: None,
        file_bytes: None,
        pyodide_version: Some("0.27.7".into()),
        client_time: Some("2026-11-27T10:00:00.000Z".into()),
    }
}

/// Fills a store with `count` events spread over 30 days and `current_hour` more received
/// since the current hour began, straight through the store.
async fn seed(
    data: &std::path::Path,
    count: usize,
    current_hour: usize,
) -> anyhow::Result<SqliteStore> {
    let store = SqliteStore::open(data)?;
    seed_into(&store, count, current_hour).await?;
    Ok(store)
}

/// Inserts `count` events spread over 30 days and `current_hour` more received since the
/// current hour began.
async fn seed_into(
    store: &dyn EventStore,
    count: usize,
    current_hour: usize,
) -> anyhow::Result<()> {
    let now = backend::now_ms();
    let span = 30 * 24 * 3_600_000_i64;
    let hour_so_far = (now % 3_600_000).max(1);
    let errors = ["ZeroDivisionError", "NameError", "TypeError", "KeyError"];
    let total = count + current_hour;
    for chunk in 0..total.div_ceil(5000) {
        let events: Vec<NewEvent> = (0..5000.min(total - chunk * 5000))
            .map(|n| {
                let index = chunk * 5000 + n;
                let received_at = if index < count {
                    now - (index as i64 * 7919) % span
                } else {
                    now - (index as i64 * 7919) % hour_so_far
                };
                let mut event = event(&format!("seed-{index}"));
                event.success = Some(index % 7 != 0);
                event.error_type = (index % 7 == 0).then(|| errors[index % 4].to_owned());
                event.duration_ms = Some((index % 1000) as f64);
                event.session_id = format!("s{}", index % 5000);
                NewEvent {
                    event,
                    received_at,
                    client_addr: format!("203.0.{}.0/24", index % 200),
                    visitor_id: format!("v{}", index % 3000),
                    user_agent: Some(format!("Agent/{}", index % 50)),
                    code_key: Some(format!("{:064x}", index % 10_000)),
                }
            })
            .collect();
        store.insert(events).await?;
    }
    Ok(())
}

async fn start_server(
    binary: &std::path::Path,
    data: &std::path::Path,
    database_url: Option<&str>,
) -> anyhow::Result<(tokio::process::Child, SocketAddr)> {
    use tokio::io::AsyncBufReadExt;
    let mut command = tokio::process::Command::new(binary);
    if let Some(url) = database_url {
        command.env("WORKBENCH_DATABASE_URL", url);
    }
    let mut server = command
        .args([
            "--addr",
            "127.0.0.1:0",
            "--ingest-rate",
            "1000000000",
            "--ingest-burst",
            "1000000000",
            // The live dashboards come "from" ten clients, within the per-client cap.
            "--trusted-proxy",
            "127.0.0.1",
        ])
        .arg("--data-dir")
        .arg(data)
        .env("WORKBENCH_ADMIN_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = server.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    while let Some(line) = lines.next_line().await? {
        if let Some(rest) = line.split("http://").nth(1) {
            return Ok((server, rest.trim_end_matches('/').parse()?));
        }
    }
    anyhow::bail!("the server did not start")
}

#[derive(Debug, Default)]
struct Load {
    latencies_ms: Vec<f64>,
    elapsed: Duration,
    errors: u64,
}

impl Load {
    fn per_second(&self) -> f64 {
        self.latencies_ms.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, fraction: f64) -> f64 {
        let mut sorted = self.latencies_ms.clone();
        sorted.sort_by(f64::total_cmp);
        let rank = ((fraction * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
        sorted.get(rank - 1).copied().unwrap_or(0.0)
    }
}

/// `concurrency` keep-alive connections sending `request(worker, round)` for `duration`.
async fn load(
    address: SocketAddr,
    concurrency: usize,
    duration: Duration,
    request: fn(usize, usize) -> String,
) -> anyhow::Result<Load> {
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        workers.push(tokio::spawn(async move {
            let mut load = Load::default();
            let Ok(mut connection) = Connection::open(address).await else {
                load.errors += 1;
                return load;
            };
            let mut round = 0;
            while started.elapsed() < duration {
                let text = request(worker, round);
                round += 1;
                let sent = Instant::now();
                match connection.request(&text).await {
                    Ok(200 | 202) => load
                        .latencies_ms
                        .push(sent.elapsed().as_secs_f64() * 1000.0),
                    _ => load.errors += 1,
                }
            }
            load
        }));
    }
    let mut total = Load::default();
    for worker in workers {
        let load = worker.await?;
        total.latencies_ms.extend(load.latencies_ms);
        total.errors += load.errors;
    }
    total.elapsed = started.elapsed();
    Ok(total)
}

/// One keep-alive HTTP/1.1 connection that reads `Content-Length` answers.
struct Connection {
    stream: BufReader<TcpStream>,
}

impl Connection {
    async fn open(address: SocketAddr) -> anyhow::Result<Self> {
        Ok(Self {
            stream: BufReader::new(TcpStream::connect(address).await?),
        })
    }

    async fn request(&mut self, text: &str) -> anyhow::Result<u16> {
        self.stream.get_mut().write_all(text.as_bytes()).await?;
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let byte = self.stream.read_u8().await?;
            head.push(byte);
        }
        let head = String::from_utf8_lossy(&head);
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        let length: usize = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body).await?;
        Ok(status)
    }
}

fn rss_kib(pid: Option<u32>) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
