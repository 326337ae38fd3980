//! TLS to PostgreSQL with libpq's own connection parameters, so the URL a database provider
//! hands out works as it is: `sslmode` (`disable`, `prefer` — the default —, `require`,
//! `verify-ca`, `verify-full`, with libpq's meanings), `sslrootcert` (a CA file, or `system`
//! for the operating system's roots), and a client certificate with `sslcert` / `sslkey`.
//!
//! tokio-postgres knows only `disable`/`prefer`/`require` and none of the file parameters,
//! so they are taken out of the URL here, and what they ask for becomes the rustls
//! configuration every connection uses (the pool's, the migration's and the listener's).
//! Failures are explained in one line naming the parameter to change ([`explain`]).

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres::config::SslMode as DriverMode;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP only.
    Disable,
    /// TLS when the server offers it, else plain; the certificate is not checked.
    Prefer,
    /// TLS or no connection; the certificate is checked only if `sslrootcert` is given
    /// (then as `verify-ca`), as libpq does.
    Require,
    /// TLS, the certificate signed by a CA of `sslrootcert`; any host name.
    VerifyCa,
    /// TLS, the certificate signed by a CA of `sslrootcert` and naming the host.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<Self, String> {
        Ok(match value {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            // libpq's `allow` (plain first, TLS if refused) is no safer than prefer here.
            "allow" => Self::Prefer,
            other => {
                return Err(format!(
                    "sslmode={other} is not one of disable, prefer, require, verify-ca, verify-full"
                ));
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }
}

/// Where the database is, and how to talk to it.
#[derive(Clone)]
pub struct Target {
    /// The driver's settings, with the TLS parameters taken out.
    pub config: tokio_postgres::Config,
    /// The TLS every connection uses (unused under `sslmode=disable`).
    pub tls: MakeRustlsConnect,
    pub mode: SslMode,
}

/// Shows the mode only: the URL holds a password.
impl std::fmt::Debug for Target {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Target")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

/// The TLS parameters a connection string may hold.
#[derive(Debug, Default, PartialEq, Eq)]
struct TlsParams {
    mode: Option<String>,
    root_cert: Option<String>,
    cert: Option<String>,
    key: Option<String>,
}

impl Target {
    /// Reads a `postgres://` URL or a `key=value` connection string. Errors are one line that
    /// names the parameter at fault.
    pub fn parse(url: &str) -> Result<Self, String> {
        let (rest, params) = take_tls_params(url)?;
        let mut config: tokio_postgres::Config = rest
            .parse()
            .map_err(|error| format!("bad database URL: {error}"))?;
        // libpq: `sslrootcert=system` makes verify-full the default, and nothing weaker.
        let system_roots = params.root_cert.as_deref() == Some("system");
        let mode = match params.mode.as_deref() {
            Some(value) => SslMode::parse(value)?,
            None if system_roots => SslMode::VerifyFull,
            None => SslMode::Prefer,
        };
        if system_roots && mode != SslMode::VerifyFull {
            return Err(format!(
                "sslrootcert=system needs sslmode=verify-full (or no sslmode), not sslmode={}",
                mode.name()
            ));
        }
        let verify = match (mode, &params.root_cert) {
            (SslMode::VerifyFull, Some(_)) => Verify::Full,
            (SslMode::VerifyCa | SslMode::Require, Some(_)) => Verify::CaOnly,
            (SslMode::VerifyCa | SslMode::VerifyFull, None) => {
                return Err(format!(
                    "sslmode={} checks the database's certificate, so it needs sslrootcert=<the \
                     CA's file> (or sslrootcert=system for the operating system's roots)",
                    mode.name()
                ));
            }
            _ => Verify::Nothing,
        };
        config.ssl_mode(match mode {
            SslMode::Disable => DriverMode::Disable,
            SslMode::Prefer => DriverMode::Prefer,
            _ => DriverMode::Require,
        });
        let client = client_config(verify, &params)?;
        Ok(Self {
            config,
            tls: MakeRustlsConnect::new(client),
            mode,
        })
    }

    /// Connects once (for the migration and the listener; the pool makes its own).
    pub async fn connect(
        &self,
    ) -> Result<(tokio_postgres::Client, Connection), tokio_postgres::Error> {
        self.config.connect(self.tls.clone()).await
    }
}

/// A connection's driver (to spawn), over TLS or plain TCP as the mode says.
pub type Connection = tokio_postgres::Connection<
    tokio_postgres::Socket,
    <MakeRustlsConnect as MakeTlsConnect<tokio_postgres::Socket>>::Stream,
>;

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy)]
enum Verify {
    Nothing,
    CaOnly,
    Full,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn client_config(verify: Verify, params: &TlsParams) -> Result<ClientConfig, String> {
    let provider = provider();
    let verifier: Arc<dyn ServerCertVerifier> = match verify {
        Verify::Nothing => Arc::new(AnyCertificate(Arc::clone(&provider))),
        Verify::CaOnly | Verify::Full => {
            let roots = Arc::new(roots(params.root_cert.as_deref().unwrap_or("system"))?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&provider))
                .build()
                .map_err(|error| format!("sslrootcert: {error}"))?;
            match verify {
                Verify::CaOnly => Arc::new(AnyName(webpki)),
                _ => webpki,
            }
        }
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("TLS set-up: {error}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match (&params.cert, &params.key) {
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some(cert), Some(key)) => {
            let chain = read_certificates(cert, "sslcert")?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|error| format!("cannot read sslkey={key}: {}", pem_error(&error)))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|error| format!("sslcert and sslkey do not go together: {error}"))
        }
        (Some(_), None) => Err("sslcert needs sslkey (the client certificate's key)".into()),
        (None, Some(_)) => Err("sslkey needs sslcert (the client certificate)".into()),
    }
}

/// The CAs of `sslrootcert`: a PEM file of one or more, or `system`.
fn roots(root_cert: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    if root_cert == "system" {
        let found = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            return Err(
                "sslrootcert=system: the operating system has no trusted roots here (Debian: \
                 apt-get install ca-certificates); give the CA's file instead"
                    .into(),
            );
        }
        return Ok(roots);
    }
    for certificate in read_certificates(root_cert, "sslrootcert")? {
        roots.add(certificate).map_err(|error| {
            format!("sslrootcert={root_cert} holds a certificate rustls cannot use: {error}")
        })?;
    }
    Ok(roots)
}

fn read_certificates(path: &str, parameter: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let cannot = |why: String| format!("cannot read {parameter}={path}: {why}");
    if !Path::new(path).is_file() {
        let why = match std::fs::metadata(path) {
            Err(error) => error.to_string(),
            Ok(_) => "not a file".into(),
        };
        return Err(cannot(why));
    }
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|error| cannot(pem_error(&error)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| cannot(pem_error(&error)))?;
    if certificates.is_empty() {
        return Err(cannot("no PEM certificate in it".into()));
    }
    Ok(certificates)
}

fn pem_error(error: &rustls::pki_types::pem::Error) -> String {
    match error {
        rustls::pki_types::pem::Error::Io(error) => error.to_string(),
        rustls::pki_types::pem::Error::NoItemsFound => "no PEM item in it".into(),
        other => format!("not PEM ({other:?})"),
    }
}

/// Takes `sslmode`, `sslrootcert`, `sslcert` and `sslkey` out of a connection string (URL
/// query or `key=value` words), and returns the rest.
fn take_tls_params(url: &str) -> Result<(String, TlsParams), String> {
    let mut params = TlsParams::default();
    let mut take = |key: &str, value: String| -> bool {
        let slot = match key {
            "sslmode" => &mut params.mode,
            "sslrootcert" => &mut params.root_cert,
            "sslcert" => &mut params.cert,
            "sslkey" => &mut params.key,
            _ => return false,
        };
        *slot = Some(value);
        true
    };
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .filter(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                !take(key, percent_decoded(value))
            })
            .collect();
        if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        }
    } else {
        let mut kept = Vec::new();
        for (key, value, raw) in key_values(url)? {
            if !take(&key, value) {
                kept.push(raw);
            }
        }
        kept.join(" ")
    };
    Ok((rest, params))
}

/// A URL query value with its `%XX` escapes decoded (a `+` stays a `+`, as in libpq).
fn percent_decoded(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let hex = bytes
            .get(at + 1..at + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (bytes[at], hex) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                at += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// The `key=value` words of a libpq connection string: (key, value, the word as written).
/// Values may be quoted with `'`, with `\'` and `\\` inside.
fn key_values(text: &str) -> Result<Vec<(String, String, String)>, String> {
    let mut words = Vec::new();
    let mut chars = text.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            return Ok(words);
        };
        let mut key = String::new();
        while let Some((_, c)) = chars.next_if(|(_, c)| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        if chars.next_if(|(_, c)| *c == '=').is_none() {
            return Err(format!("bad database URL: `{key}` has no `=value`"));
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if(|(_, c)| *c == '\'').is_some() {
            loop {
                match chars.next() {
                    Some((_, '\'')) => break,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, c)) => value.push(c),
                        None => return Err("bad database URL: a quoted value is not closed".into()),
                    },
                    Some((_, c)) => value.push(c),
                    None => return Err("bad database URL: a quoted value is not closed".into()),
                }
            }
        } else {
            while let Some((_, c)) = chars.next_if(|(_, c)| !c.is_whitespace()) {
                value.push(c);
            }
        }
        let end = chars.peek().map_or(text.len(), |&(at, _)| at);
        words.push((key, value, text[start..end].trim_end().to_owned()));
    }
}

/// `sslmode=prefer`/`require` without a CA: any certificate, but the handshake's signatures
/// are still checked (they prove the server holds the certificate's key).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain to a trusted CA is checked (expiry too), the host name is not.
/// rustls checks the name last, so a name error means everything before it held.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The TLS failure behind a driver error, in one line naming what to change; None when TLS
/// is not what failed.
pub fn explain(error: &tokio_postgres::Error) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(current) = cause {
        let tls = current.downcast_ref::<rustls::Error>().or_else(|| {
            current
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(tls) = tls {
            return Some(describe(tls));
        }
        cause = current.source();
    }
    None
}

fn describe(error: &rustls::Error) -> String {
    use CertificateError as Certificate;
    let certificate = match error {
        rustls::Error::InvalidCertificate(certificate) => certificate,
        rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired) => {
            return "the database asks for a client certificate: give it with sslcert and \
                    sslkey"
                .into();
        }
        other => return format!("the TLS handshake with the database failed: {other}"),
    };
    match certificate {
        Certificate::UnknownIssuer => "the database's certificate is not signed by a CA in \
             sslrootcert: set sslrootcert to the file of the CA that signed it (your provider's \
             CA bundle)"
            .into(),
        Certificate::NotValidForName | Certificate::NotValidForNameContext { .. } => {
            let names = match certificate {
                Certificate::NotValidForNameContext {
                    expected,
                    presented,
                } => format!(
                    " ({} is not among {})",
                    expected.to_str(),
                    presented.join(", ")
                ),
                _ => String::new(),
            };
            format!(
                "the database's certificate does not name the host in the URL{names}: connect by \
                 a name the certificate holds, or check only its CA with sslmode=verify-ca"
            )
        }
        Certificate::Expired | Certificate::ExpiredContext { .. } => {
            "the database's certificate has expired: renew it on the database server".into()
        }
        Certificate::NotValidYet | Certificate::NotValidYetContext { .. } => {
            "the database's certificate is not valid yet: check the clocks of both machines".into()
        }
        other => format!("the database's certificate was refused ({other:?}): check sslrootcert"),
    }
}

/// Whether the server at the config's first TCP host answers PostgreSQL's TLS request with
/// "no" — the cause when TLS was required and the handshake never began. None when it could
/// not be asked.
pub async fn server_refuses_tls(config: &tokio_postgres::Config) -> Option<bool> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = config.get_hosts().iter().find_map(|host| match host {
        tokio_postgres::config::Host::Tcp(name) => Some(name.clone()),
        tokio_postgres::config::Host::Unix(_) => None,
    })?;
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let ask = async {
        let mut stream = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .ok()?;
        // SSLRequest: length 8, then the code 80877103.
        stream
            .write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])
            .await
            .ok()?;
        let mut answer = [0u8; 1];
        stream.read_exact(&mut answer).await.ok()?;
        Some(answer[0] == b'N')
    };
    tokio::time::timeout(std::time::Duration::from_secs(3), ask)
        .await
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_parameters_leave_the_url_and_the_rest_stays() {
        let (rest, params) = take_tls_params(
            "postgres://u:p%40ss@db.example.com:6543/app?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Fca+1.pem",
        )
        .expect("parses");
        assert_eq!(
            rest,
            "postgres://u:p%40ss@db.example.com:6543/app?application_name=x"
        );
        assert_eq!(params.mode.as_deref(), Some("verify-full"));
        assert_eq!(params.root_cert.as_deref(), Some("/etc/ca+1.pem"));
        let (rest, params) = take_tls_params(
            "host=db port=5432 sslmode = require sslrootcert='/a b/ca.pem' user=me",
        )
        .expect("parses");
        assert_eq!(rest, "host=db port=5432 user=me");
        assert_eq!(params.mode.as_deref(), Some("require"));
        assert_eq!(params.root_cert.as_deref(), Some("/a b/ca.pem"));
        assert!(take_tls_params("host='db").is_err());
        assert!(take_tls_params("host").is_err());
    }

    #[test]
    fn modes_follow_libpq() {
        let mode = |url: &str| Target::parse(url).map(|target| target.mode);
        assert_eq!(mode("postgres://localhost/db"), Ok(SslMode::Prefer));
        assert_eq!(
            mode("postgres://localhost/db?sslmode=disable"),
            Ok(SslMode::Disable)
        );
        assert_eq!(
            mode("postgres://localhost/db?sslmode=require"),
            Ok(SslMode::Require)
        );
        let refused = |url: &str| Target::parse(url).expect_err(url);
        assert!(refused("postgres://localhost/db?sslmode=verify-full").contains("sslrootcert"));
        assert!(refused("postgres://localhost/db?sslmode=bogus").contains("sslmode=bogus"));
        assert!(
            refused("postgres://localhost/db?sslmode=require&sslrootcert=/nowhere/ca.pem")
                .contains("cannot read sslrootcert=/nowhere/ca.pem")
        );
        assert!(
            refused("postgres://localhost/db?sslmode=require&sslrootcert=system")
                .contains("verify-full")
        );
        assert!(refused("postgres://localhost/db?sslcert=/a.pem").contains("sslkey"));
    }
}
