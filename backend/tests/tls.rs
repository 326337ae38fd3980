//! PostgreSQL over TLS with libpq's parameters: a throwaway cluster that takes TCP over TLS
//! only (`hostssl`), its certificate made here by a test CA (rcgen), and the store and the
//! server connecting to it as an operator's URL says.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use backend::PgStore;
use backend::testing::postgres::PgCluster;
use backend::testing::{
    ADMIN_TOKEN, Client, execution_event, live_dashboard, spawn_app_with, until,
};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio_postgres::NoTls;

/// The TLS-only cluster of this test binary, and the files of its CA and of another CA.
struct Tls {
    cluster: PgCluster,
    ca: PathBuf,
    other_ca: PathBuf,
    _files: tempfile::TempDir,
}

fn certificate_authority(name: &str) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().expect("a CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    (params.self_signed(&key).expect("a CA certificate"), key)
}

/// A server certificate for `localhost` signed by `ca` (PEM), and its key; expired long ago
/// if `expired`.
fn server_certificate(
    ca: &rcgen::Certificate,
    ca_key: &KeyPair,
    expired: bool,
) -> (String, String) {
    let key = KeyPair::generate().expect("a server key");
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("names");
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let certificate = params
        .signed_by(&key, ca, ca_key)
        .expect("a server certificate");
    (certificate.pem(), key.serialize_pem())
}

fn tls() -> &'static Tls {
    static TLS: OnceLock<Tls> = OnceLock::new();
    TLS.get_or_init(|| {
        let (ca, ca_key) = certificate_authority("Workbench test CA");
        let (other_ca, _) = certificate_authority("Someone else's CA");
        let (server, server_key) = server_certificate(&ca, &ca_key, false);
        let files = tempfile::tempdir().expect("a folder for the CA files");
        let write = |name: &str, pem: String| {
            let path = files.path().join(name);
            std::fs::write(&path, pem).expect("writes a CA file");
            path
        };
        Tls {
            cluster: PgCluster::start_with_tls(&server, &server_key),
            ca: write("ca.pem", ca.pem()),
            other_ca: write("other-ca.pem", other_ca.pem()),
            _files: files,
        }
    })
}

/// A fresh database of the TLS cluster, reached at `host` with these parameters.
async fn database_url(host: &str, params: &str) -> String {
    let tls = tls();
    let plain = tls.cluster.fresh_database().await;
    let name = plain.rsplit('/').next().expect("a database name");
    format!(
        "postgres://postgres@{host}:{}/{name}?{params}",
        tls.cluster.port()
    )
}

async fn refusal(url: &str) -> String {
    let (changes, _) = broadcast::channel(4);
    PgStore::connect(url, changes)
        .await
        .expect_err("the connection is refused")
        .to_string()
}

async fn post(client: &Client, prefix: &str, count: usize) {
    let events: Vec<Value> = (0..count)
        .map(|n| execution_event(&format!("{prefix}-{n}")))
        .collect();
    let answer = client
        .post_json("/api/telemetry", &json!({ "events": events }))
        .await;
    assert_eq!(answer.status, 202, "{}", answer.body);
}

async fn total(client: &Client) -> Value {
    let answer = client.get_as_admin("/api/dashboard/stats?range=24h").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()["stats"]["overview"].clone()
}

/// (connections of the server, of which over TLS) in the cluster, and the same for the
/// connections that listen for other replicas' events.
async fn server_connections() -> ((i64, i64), (i64, i64)) {
    let (client, connection) =
        tokio_postgres::connect(&tls().cluster.socket_url("postgres"), NoTls)
            .await
            .expect("connects through the socket");
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE ssl),
                    count(*) FILTER (WHERE query LIKE 'LISTEN%'),
                    count(*) FILTER (WHERE query LIKE 'LISTEN%' AND ssl)
             FROM pg_stat_activity JOIN pg_stat_ssl USING (pid)
             WHERE application_name = 'pyodide-workbench'",
            &[],
        )
        .await
        .expect("reads the connections");
    ((row.get(0), row.get(1)), (row.get(2), row.get(3)))
}

#[tokio::test]
async fn two_replicas_over_verified_tls_store_once_and_show_the_exact_sum() {
    let url = database_url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={}", tls().ca.display()),
    )
    .await;
    let replica = |url: String| spawn_app_with(move |config| config.database_url = Some(url));
    let (a, b) = (replica(url.clone()).await, replica(url.clone()).await);
    let mut live = live_dashboard(&b.client()).await;
    post(&a.client(), "a", 30).await;
    tokio::time::timeout(
        Duration::from_secs(2),
        live.read_until("\"totalExecutions\":30"),
    )
    .await
    .unwrap_or_else(|_| {
        panic!(
            "the events sent to A reach B's live dashboard within 2 s: {}",
            live.seen()
        )
    });
    post(&b.client(), "b", 12).await;
    // The same events again through the other replica: stored once.
    post(&b.client(), "a", 30).await;
    for app in [&a, &b] {
        let overview = total(&app.client()).await;
        assert_eq!(overview["totalExecutions"], 42);
        assert_eq!(overview["uniqueVisitors"], 1);
    }
    let ((all, encrypted), (listening, listening_encrypted)) = server_connections().await;
    assert!(all >= 2, "the replicas hold connections ({all})");
    assert_eq!(encrypted, all, "every connection of the server is over TLS");
    assert!(listening >= 1, "a replica listens for the other's events");
    assert_eq!(
        listening_encrypted, listening,
        "the listeners' connections too"
    );
}

#[tokio::test]
async fn require_encrypts_without_a_ca_and_verify_ca_accepts_any_host_name() {
    let (changes, _) = broadcast::channel(4);
    let url = database_url("127.0.0.1", "sslmode=require").await;
    PgStore::connect(&url, changes.clone())
        .await
        .expect("require needs no CA");
    let url = database_url(
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={}", tls().ca.display()),
    )
    .await;
    PgStore::connect(&url, changes)
        .await
        .expect("verify-ca checks the CA, not the host name");
}

#[tokio::test]
async fn a_certificate_that_does_not_verify_is_refused_naming_what_to_change() {
    let wrong_ca = refusal(
        &database_url(
            "localhost",
            &format!(
                "sslmode=verify-full&sslrootcert={}",
                tls().other_ca.display()
            ),
        )
        .await,
    )
    .await;
    assert!(
        wrong_ca.contains("not signed by a CA in sslrootcert"),
        "{wrong_ca}"
    );
    let wrong_host = refusal(
        &database_url(
            "127.0.0.1",
            &format!("sslmode=verify-full&sslrootcert={}", tls().ca.display()),
        )
        .await,
    )
    .await;
    assert!(
        wrong_host.contains("does not name the host") && wrong_host.contains("sslmode=verify-ca"),
        "{wrong_host}"
    );
    let missing = refusal(
        &database_url(
            "localhost",
            "sslmode=verify-full&sslrootcert=/nowhere/ca.pem",
        )
        .await,
    )
    .await;
    assert!(
        missing.contains("cannot read sslrootcert=/nowhere/ca.pem"),
        "{missing}"
    );
}

#[tokio::test]
async fn disable_against_a_tls_only_server_fails_with_the_servers_words() {
    let refused = refusal(&database_url("127.0.0.1", "sslmode=disable").await).await;
    assert!(
        refused.contains("no pg_hba.conf entry") && refused.contains("no encryption"),
        "{refused}"
    );
}

#[tokio::test]
async fn require_against_a_server_without_tls_says_that_the_server_offers_none() {
    let plain = PgCluster::shared().fresh_database().await;
    let refused = refusal(&format!("{plain}?sslmode=require")).await;
    assert!(
        refused.contains("does not offer TLS") && refused.contains("sslmode=require"),
        "{refused}"
    );
    // The default, prefer, connects plainly to it.
    let (changes, _) = broadcast::channel(4);
    PgStore::connect(&plain, changes)
        .await
        .expect("prefer falls back to plain TCP");
}

#[tokio::test]
async fn the_server_stops_at_start_with_one_line_that_names_the_parameter() {
    let url = database_url(
        "localhost",
        &format!(
            "sslmode=verify-full&sslrootcert={}",
            tls().other_ca.display()
        ),
    )
    .await;
    let data = tempfile::tempdir().expect("a data folder");
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_backend"))
        .args(["--addr", "127.0.0.1:0", "--admin-token", &"t".repeat(40)])
        .arg("--data-dir")
        .arg(data.path())
        .env("WORKBENCH_DATABASE_URL", url)
        .env("RUST_LOG", "off")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the server gives up within a minute")
        .expect("the server binary runs");
    assert!(!output.status.success(), "a non-zero exit");
    let said = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = said
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    assert!(
        lines.len() == 1 && lines[0].contains("sslrootcert"),
        "one line naming sslrootcert: {said}"
    );
}

#[tokio::test]
async fn a_certificate_expired_before_a_reconnect_makes_health_say_unreachable_and_the_log_why() {
    let (ca, ca_key) = certificate_authority("Expiry test CA");
    let (server, server_key) = server_certificate(&ca, &ca_key, false);
    let cluster = PgCluster::start_with_tls(&server, &server_key);
    let files = tempfile::tempdir().expect("a folder");
    let ca_file = files.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).expect("writes the CA");
    let plain = cluster.fresh_database().await;
    let name = plain.rsplit('/').next().expect("a database name");
    let url = format!(
        "postgres://postgres@localhost:{}/{name}?sslmode=verify-full&sslrootcert={}",
        cluster.port(),
        ca_file.display()
    );
    let data = tempfile::tempdir().expect("a data folder");
    let mut binary = tokio::process::Command::new(env!("CARGO_BIN_EXE_backend"))
        .args(["--addr", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(data.path())
        .env("WORKBENCH_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("WORKBENCH_DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the server binary starts");
    let stdout = binary.stdout.take().expect("stdout");
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let mut address = None;
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(rest) = line.split("http://").nth(1) {
            address = Some(rest.trim_end_matches('/').parse().expect("an address"));
            break;
        }
    }
    let client = Client::new(address.expect("the server says where it serves"));
    let log = Arc::new(Mutex::new(String::new()));
    let kept = Arc::clone(&log);
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let mut log = kept.lock().expect("the log");
            log.push_str(&line);
            log.push('\n');
        }
    });
    let database = async || client.get("/health").await.json()["database"].clone();
    assert_eq!(database().await, "reachable");

    let (expired, expired_key) = server_certificate(&ca, &ca_key, true);
    cluster.replace_tls(&expired, &expired_key);
    // The server's connections end (as after a network break); the pool makes new ones.
    let (admin, connection) = tokio_postgres::connect(&cluster.socket_url("postgres"), NoTls)
        .await
        .expect("connects through the socket");
    tokio::spawn(connection);
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = 'pyodide-workbench'",
            &[],
        )
        .await
        .expect("ends the server's connections");
    // Each look asks /health again, as a load balancer would; the first after the break may
    // still find an old connection, which fails without a cause to give.
    until(
        "/health saying the database is unreachable, and the log saying the certificate expired",
        Duration::from_secs(30),
        async || {
            database().await == "unreachable"
                && log
                    .lock()
                    .expect("the log")
                    .contains("certificate has expired")
        },
    )
    .await;
}

#[tokio::test]
async fn a_client_certificate_from_sslcert_and_sslkey_is_shown_when_the_server_asks() {
    let (ca, ca_key) = certificate_authority("Client test CA");
    let (server, server_key) = server_certificate(&ca, &ca_key, false);
    let cluster = PgCluster::start_with_tls(&server, &server_key);
    let files = tempfile::tempdir().expect("a folder");
    let write = |name: &str, pem: &str| {
        let path = files.path().join(name);
        std::fs::write(&path, pem).expect("writes a file");
        path
    };
    let ca_file = write("ca.pem", &ca.pem());
    cluster.require_client_certificates(&ca.pem());
    // A client certificate for the user `postgres`, signed by the CA the server trusts.
    let client_key = KeyPair::generate().expect("a client key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("parameters");
    params
        .distinguished_name
        .push(DnType::CommonName, "postgres");
    let client = params
        .signed_by(&client_key, &ca, &ca_key)
        .expect("a client certificate");
    let (cert_file, key_file) = (
        write("client.pem", &client.pem()),
        write("client.key", &client_key.serialize_pem()),
    );
    let plain = cluster.fresh_database().await;
    let name = plain.rsplit('/').next().expect("a database name");
    let url = |extra: &str| {
        format!(
            "postgres://postgres@localhost:{}/{name}?sslmode=verify-full&sslrootcert={}{extra}",
            cluster.port(),
            ca_file.display()
        )
    };
    let refused = refusal(&url("")).await;
    assert!(
        refused.contains("requires a valid client certificate"),
        "{refused}"
    );
    let (changes, _) = broadcast::channel(4);
    PgStore::connect(
        &url(&format!(
            "&sslcert={}&sslkey={}",
            cert_file.display(),
            key_file.display()
        )),
        changes,
    )
    .await
    .expect("the client certificate lets it in");
}
