//! Throwaway PostgreSQL clusters for tests: `initdb` into a temporary folder and `pg_ctl
//! start` on a free port, a real server (no mock, no container). `initdb` refuses to run as
//! root, so as root the cluster runs as the `postgres` user (Debian's package makes it) and
//! its folder is handed to that user. [`PgCluster::shared`] is one cluster per test binary,
//! and [`PgCluster::fresh_database`] a new database in it per test; a test that stops the
//! server starts its own with [`PgCluster::start`].
//!
//! Without the PostgreSQL binaries the tests fail, saying how to install them (`cargo xtask
//! test` does it first).

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio_postgres::NoTls;

use super::postgres_bin;

/// The user a cluster runs as when the tests run as root.
const UNPRIVILEGED_USER: &str = "postgres";

/// A running PostgreSQL server with its own data folder; stopped and deleted when dropped
/// (and, should the test process die first, by a watchdog).
#[derive(Debug)]
pub struct PgCluster {
    bin: PathBuf,
    folder: tempfile::TempDir,
    port: u16,
    /// Whether commands run as [`UNPRIVILEGED_USER`] (the tests run as root).
    as_other_user: bool,
}

impl PgCluster {
    /// The cluster shared by the tests of this binary, started on first use.
    pub fn shared() -> &'static Self {
        static SHARED: OnceLock<PgCluster> = OnceLock::new();
        SHARED.get_or_init(Self::start)
    }

    /// Starts a new cluster; panics, saying how to install PostgreSQL, if it cannot.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// Starts a new cluster that takes TCP connections over TLS only (`hostssl`), with this
    /// server certificate and key (PEM). Set-up reaches it through its Unix socket.
    pub fn start_with_tls(certificate_pem: &str, key_pem: &str) -> Self {
        Self::start_with(Some((certificate_pem, key_pem)))
    }

    fn start_with(tls: Option<(&str, &str)>) -> Self {
        let bin = postgres_bin().unwrap_or_else(|| {
            panic!(
                "PostgreSQL's initdb and pg_ctl were not found (on PATH, in $WORKBENCH_PG_BIN or \
                 /usr/lib/postgresql/*/bin): these tests need a real PostgreSQL 14+. Install it \
                 with `apt-get install -y postgresql`, or run `cargo xtask test`, which does"
            )
        });
        let folder = tempfile::Builder::new()
            .prefix("workbench-pg-")
            .tempdir()
            .expect("a temporary folder for the cluster");
        let as_other_user = running_as_root();
        if as_other_user {
            let status = Command::new("chown")
                .arg(format!("{UNPRIVILEGED_USER}:"))
                .arg(folder.path())
                .status()
                .expect("chown runs");
            assert!(
                status.success(),
                "could not hand {} to the {UNPRIVILEGED_USER} user (does it exist? Debian's \
                 postgresql package makes it)",
                folder.path().display()
            );
        }
        let port = free_port();
        let cluster = Self {
            bin,
            folder,
            port,
            as_other_user,
        };
        cluster.run(
            "initdb",
            &[
                "-D",
                &cluster.data().display().to_string(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        if let Some((certificate, key)) = tls {
            cluster.require_tls(certificate, key);
        }
        cluster.watch_over_this_process();
        cluster.start_server();
        cluster
    }

    /// `ssl = on` with these files, and TCP for TLS connections only.
    fn require_tls(&self, certificate: &str, key: &str) {
        self.write_tls_files(certificate, key);
        let data = self.data();
        let mut settings = std::fs::read_to_string(data.join("postgresql.conf")).expect("settings");
        settings
            .push_str("\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        std::fs::write(data.join("postgresql.conf"), settings).expect("writes the settings");
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n",
        )
        .expect("writes the access rules");
    }

    /// Puts another certificate and key in place and has the running server load them; the
    /// connections made from now on get them.
    pub fn replace_tls(&self, certificate: &str, key: &str) {
        self.write_tls_files(certificate, key);
        self.run(
            "pg_ctl",
            &["-D", &self.data().display().to_string(), "reload"],
        );
    }

    /// From now on a TCP connection must also show a client certificate signed by this CA
    /// (PEM) and naming its user (`clientcert=verify-full`).
    pub fn require_client_certificates(&self, ca: &str) {
        let data = self.data();
        std::fs::write(data.join("client-ca.crt"), ca).expect("writes the client CA");
        let mut settings = std::fs::read_to_string(data.join("postgresql.conf")).expect("settings");
        settings.push_str("\nssl_ca_file = 'client-ca.crt'\n");
        std::fs::write(data.join("postgresql.conf"), settings).expect("writes the settings");
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust clientcert=verify-full\n\
             hostssl all all ::1/128 trust clientcert=verify-full\n",
        )
        .expect("writes the access rules");
        self.run(
            "pg_ctl",
            &["-D", &self.data().display().to_string(), "reload"],
        );
    }

    fn write_tls_files(&self, certificate: &str, key: &str) {
        use std::os::unix::fs::PermissionsExt;
        let data = self.data();
        let owner = std::fs::metadata(&data).expect("the data folder");
        for (name, text) in [("server.crt", certificate), ("server.key", key)] {
            let path = data.join(name);
            std::fs::write(&path, text).expect("writes the server's TLS files");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .expect("the key is the server's alone");
            std::os::unix::fs::chown(&path, Some(owner.uid()), Some(owner.gid()))
                .expect("hands the TLS files to the server's user");
        }
    }

    /// This cluster's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://…` for `database` in this cluster.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// The connection string for `database` through the cluster's Unix socket.
    pub fn socket_url(&self, database: &str) -> String {
        format!(
            "host={} port={} user=postgres dbname={database}",
            self.folder.path().display(),
            self.port
        )
    }

    /// A new, empty database; returns its URL (TCP, [`Self::url`]).
    pub async fn fresh_database(&self) -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let (client, connection) = tokio_postgres::connect(&self.socket_url("postgres"), NoTls)
            .await
            .expect("connects to the test cluster");
        let driver = tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("creates a test database");
        drop(client);
        let _ = driver.await;
        self.url(&name)
    }

    /// Stops the server (fast shutdown: connections are cut, committed data stays).
    pub fn stop_server(&self) {
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        );
    }

    /// Starts the server (again) on the same port.
    pub fn start_server(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=400",
            self.port,
            self.folder.path().display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-l",
                &self.folder.path().join("server.log").display().to_string(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
    }

    fn data(&self) -> PathBuf {
        self.folder.path().join("data")
    }

    /// Runs one of PostgreSQL's programs, as the unprivileged user when needed.
    fn run(&self, program: &str, args: &[&str]) {
        let program = self.bin.join(program);
        let mut command = if self.as_other_user {
            let mut command = Command::new("runuser");
            command.args(["-u", UNPRIVILEGED_USER, "--"]).arg(&program);
            command
        } else {
            Command::new(&program)
        };
        let output = command
            .args(args)
            .current_dir(self.folder.path())
            .output()
            .unwrap_or_else(|error| panic!("could not run {}: {error}", program.display()));
        assert!(
            output.status.success(),
            "{} {args:?} failed: {}{}",
            program.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// A process of its own stops the server and deletes its folder once this test process
    /// is gone, however it ended (a static cluster is never dropped).
    fn watch_over_this_process(&self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let stop = format!(
            "{} '{}' -D '{}' -m immediate stop",
            if self.as_other_user {
                format!("runuser -u {UNPRIVILEGED_USER} --")
            } else {
                String::new()
            },
            pg_ctl.display(),
            self.data().display()
        );
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf '{folder}'",
            pid = std::process::id(),
            folder = self.folder.path().display()
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn();
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let mut command = if self.as_other_user {
            let mut command = Command::new("runuser");
            command.args(["-u", UNPRIVILEGED_USER, "--"]).arg(&pg_ctl);
            command
        } else {
            Command::new(&pg_ctl)
        };
        let _ = command
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

/// The folder holding `initdb` and `pg_ctl`: `$WORKBENCH_PG_BIN`, `PATH`, or the newest
/// `/usr/lib/postgresql/<version>/bin` (where Debian puts them).
pub fn postgres_bin() -> Option<PathBuf> {
    if let Some(folder) = std::env::var_os("WORKBENCH_PG_BIN").map(PathBuf::from) {
        let found = postgres_bin::find(Path::new(""), folder.as_os_str());
        return found.filter(|found| *found == folder);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    postgres_bin::find(Path::new(postgres_bin::DEBIAN_LIB), &path)
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|metadata| metadata.uid() == 0)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}
