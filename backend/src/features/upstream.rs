//! The package index's optional upstream (`--upstream-index URL`): another PEP 691 JSON
//! index, such as `https://pypi.org/simple`, asked for projects the wheelhouse lacks.
//!
//! Only wheels Pyodide can install that upstream lists with a sha256 are offered:
//! pure-Python ones (`…-none-any.whl` for Python 3) and those built for the served
//! Pyodide's platform (`cp312-…-pyodide_2024_0_wasm32`, PEP 783). Calls block; the package
//! index runs them on tokio's blocking pool.

use std::time::Duration;

use anyhow::{Result, bail};
use serde::Deserialize;
use url::Url;

use crate::features::simple_api::{
    SIMPLE_JSON, installs_in_pyodide, normalize, parse_wheel_filename,
};

/// A wheel larger than this is not downloaded.
pub const MAX_WHEEL_BYTES: u64 = 100 * 1024 * 1024;
const MAX_PAGE_BYTES: u64 = 20 * 1024 * 1024;

/// A wheel upstream lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamFile {
    pub filename: String,
    /// Absolute URL to download it from.
    pub url: String,
    /// What upstream says its sha256 is; the download must match.
    pub sha256: String,
    pub size: Option<u64>,
}

#[derive(Debug)]
pub struct Upstream {
    base: String,
    agent: ureq::Agent,
}

#[derive(Debug, Deserialize)]
struct Page {
    files: Vec<PageFile>,
}

#[derive(Debug, Deserialize)]
struct PageFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    yanked: serde_json::Value,
    size: Option<u64>,
}

impl Upstream {
    /// `base` is the index's root, as in `https://pypi.org/simple`.
    pub fn new(base: &str) -> Result<Self> {
        let base = base.trim().trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) || base.contains(' ') {
            bail!("--upstream-index must be an http:// or https:// URL, not {base:?}");
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(60)))
            .timeout_connect(Some(Duration::from_secs(5)))
            .http_status_as_error(false)
            // The system's certificate store: it has the CAs this machine's admin trusts.
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::PlatformVerifier)
                    .build(),
            )
            .build()
            .into();
        Ok(Self {
            base: base.to_owned(),
            agent,
        })
    }

    /// The wheels Pyodide can install that upstream has for a normalised project name, or `None` if
    /// upstream does not know the project. `Err` says why upstream could not be asked.
    pub fn project_files(&self, name: &str) -> Result<Option<Vec<UpstreamFile>>, String> {
        let page_url = format!("{}/{name}/", self.base);
        let mut response = self
            .agent
            .get(&page_url)
            .header("Accept", SIMPLE_JSON)
            .call()
            .map_err(|error| format!("{page_url}: {error}"))?;
        match response.status().as_u16() {
            200 => {}
            404 => return Ok(None),
            status => return Err(format!("{page_url} answered {status}")),
        }
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_PAGE_BYTES)
            .read_to_string()
            .map_err(|error| format!("{page_url}: {error}"))?;
        let page: Page = serde_json::from_str(&text)
            .map_err(|error| format!("{page_url} is not a PEP 691 JSON project page: {error}"))?;
        Ok(Some(
            page.files
                .into_iter()
                .filter_map(|file| offered(file, name, &page_url))
                .collect(),
        ))
    }

    /// Downloads a listed wheel (not checked here: the caller compares the hash).
    pub fn download(&self, file: &UpstreamFile) -> Result<Vec<u8>, String> {
        let mut response = self
            .agent
            .get(&file.url)
            .call()
            .map_err(|error| format!("{}: {error}", file.url))?;
        if response.status().as_u16() != 200 {
            return Err(format!("{} answered {}", file.url, response.status()));
        }
        response
            .body_mut()
            .with_config()
            .limit(MAX_WHEEL_BYTES)
            .read_to_vec()
            .map_err(|error| format!("{}: {error}", file.url))
    }
}

/// A listed file if it is a wheel of this project Pyodide can install, with a sha256, not
/// yanked.
fn offered(file: PageFile, name: &str, page_url: &str) -> Option<UpstreamFile> {
    let (project, _) = parse_wheel_filename(&file.filename)?;
    let installable = installs_in_pyodide(&file.filename);
    let yanked = !matches!(
        file.yanked,
        serde_json::Value::Null | serde_json::Value::Bool(false)
    );
    let sha256 = file.hashes.get("sha256")?.to_ascii_lowercase();
    let safe_name = file
        .filename
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '!'));
    if normalize(&project) != name
        || !installable
        || yanked
        || !safe_name
        || !protocol::telemetry::is_sha256_hex(&sha256)
    {
        return None;
    }
    Some(UpstreamFile {
        url: resolve(page_url, &file.url)?,
        filename: file.filename,
        sha256,
        size: file.size,
    })
}

/// Resolves a link on a page as a browser would (absolute, scheme-relative, root-relative
/// or relative to the page's folder), without its fragment (`#sha256=…`).
fn resolve(page_url: &str, link: &str) -> Option<String> {
    let mut url = Url::parse(page_url).ok()?.join(link).ok()?;
    url.set_fragment(None);
    Some(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(filename: &str) -> PageFile {
        PageFile {
            filename: filename.to_owned(),
            url: format!("../../files/{filename}#sha256=ab"),
            hashes: [("sha256".to_owned(), "AB".repeat(32))].into(),
            yanked: serde_json::Value::Bool(false),
            size: Some(10),
        }
    }

    #[test]
    fn only_wheels_of_the_project_that_pyodide_installs_are_offered() {
        let page = "http://up.example/simple/demo-pkg/";
        let wheel = offered(file("demo_pkg-1.0-py3-none-any.whl"), "demo-pkg", page).expect("pure");
        assert_eq!(
            wheel.url,
            "http://up.example/files/demo_pkg-1.0-py3-none-any.whl"
        );
        assert_eq!(wheel.sha256, "ab".repeat(32));
        assert!(offered(file("demo_pkg-1.0-py2.py3-none-any.whl"), "demo-pkg", page).is_some());
        // Built for this Pyodide (PEP 783): offered too.
        assert!(
            offered(
                file("demo_pkg-1.0-cp312-cp312-pyodide_2024_0_wasm32.whl"),
                "demo-pkg",
                page
            )
            .is_some()
        );
        for refused in [
            "demo_pkg-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
            "demo_pkg-1.0-py2-none-any.whl",
            "demo_pkg-1.0.tar.gz",
            "other-1.0-py3-none-any.whl",
        ] {
            assert!(
                offered(file(refused), "demo-pkg", page).is_none(),
                "{refused}"
            );
        }
        let mut yanked = file("demo_pkg-1.0-py3-none-any.whl");
        yanked.yanked = serde_json::Value::String("broken".into());
        assert!(offered(yanked, "demo-pkg", page).is_none());
        let mut unhashed = file("demo_pkg-1.0-py3-none-any.whl");
        unhashed.hashes.clear();
        assert!(offered(unhashed, "demo-pkg", page).is_none());
    }

    #[test]
    fn links_resolve_like_a_browser_would() {
        let page = "https://up.example/simple/x/";
        let resolve = |link| resolve(page, link).expect("resolves");
        assert_eq!(
            resolve("https://cdn.example/a.whl"),
            "https://cdn.example/a.whl"
        );
        assert_eq!(resolve("/files/a.whl"), "https://up.example/files/a.whl");
        assert_eq!(resolve("a.whl"), "https://up.example/simple/x/a.whl");
        assert_eq!(resolve("../../a.whl"), "https://up.example/a.whl");
        // Scheme-relative: another host, on the page's scheme.
        assert_eq!(
            resolve("//files.example/packages/a.whl"),
            "https://files.example/packages/a.whl"
        );
        assert_eq!(
            resolve("../../files/a.whl#sha256=ab"),
            "https://up.example/files/a.whl"
        );
    }

    #[test]
    fn the_upstream_must_be_a_web_address() {
        assert!(Upstream::new("https://pypi.org/simple/").is_ok());
        assert_eq!(
            Upstream::new("http://127.0.0.1:9/simple/")
                .expect("ok")
                .base,
            "http://127.0.0.1:9/simple"
        );
        assert!(Upstream::new("file:///etc").is_err());
        assert!(Upstream::new("pypi.org").is_err());
    }
}
