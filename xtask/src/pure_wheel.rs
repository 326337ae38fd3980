//! A pure-Python wheel made from a source distribution, for a package PyPI publishes only
//! as compiled wheels although its code runs without them (MarkupSafe: its C speedups are
//! optional, `markupsafe._native` does the same in Python).
//!
//! The wheel holds the package's `.py`, `.pyi` and `py.typed` files (never its C sources),
//! the sdist's PKG-INFO as METADATA, and a RECORD with every file's hash. Entries are
//! stored uncompressed, in name order, stamped 1980-01-01, so the same sdist always makes
//! the same bytes, and the manifest pins the wheel's sha256 as it pins a downloaded one.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Cursor, Read, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use crate::manifest::PinnedWheel;

/// Files of the package that a pure wheel carries.
fn is_package_file(name: &str) -> bool {
    name.ends_with(".py") || name.ends_with(".pyi") || name.ends_with("py.typed")
}

/// Builds `wheel.file` in `out` from the sdist at `sdist`.
pub fn build(sdist: &Path, wheel: &PinnedWheel, out: &Path) -> Result<()> {
    let bytes = make(sdist, wheel)?;
    fs::write(out.join(&wheel.file), bytes)
        .with_context(|| format!("could not write {}", out.join(&wheel.file).display()))
}

fn make(sdist: &Path, wheel: &PinnedWheel) -> Result<Vec<u8>> {
    let package = wheel.name.to_lowercase().replace(['-', '.'], "_");
    let distribution = wheel
        .file
        .split_once('-')
        .map(|(name, _)| name)
        .context("a wheel file name has a dash")?;
    let dist_info = format!("{distribution}-{}.dist-info", wheel.version);
    let archive =
        fs::File::open(sdist).with_context(|| format!("could not open {}", sdist.display()))?;
    let mut tarball = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let mut files = BTreeMap::new();
    for entry in tarball.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        // `name-version/…`: the sdist's own folder is left out.
        let Some((_, inside)) = path.split_once('/') else {
            continue;
        };
        let inside = inside.to_owned();
        let in_package = inside
            .strip_prefix("src/")
            .unwrap_or(&inside)
            .strip_prefix(&format!("{package}/"))
            .is_some();
        let wanted = if inside == "PKG-INFO" {
            Some(format!("{dist_info}/METADATA"))
        } else if inside.starts_with("LICENSE") && !inside.contains('/') {
            Some(format!("{dist_info}/licenses/{inside}"))
        } else if in_package && is_package_file(&inside) && !inside.contains("/tests/") {
            Some(inside.strip_prefix("src/").unwrap_or(&inside).to_owned())
        } else {
            None
        };
        if let Some(name) = wanted {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes)?;
            files.insert(name, bytes);
        }
    }
    if !files.contains_key(&format!("{dist_info}/METADATA")) {
        bail!("{} has no PKG-INFO", sdist.display());
    }
    if !files.contains_key(&format!("{package}/__init__.py")) {
        bail!(
            "{} has no {package}/__init__.py to make a wheel of",
            sdist.display()
        );
    }
    files.insert(
        format!("{dist_info}/WHEEL"),
        b"Wheel-Version: 1.0\nGenerator: cargo xtask (pure-Python files of the sdist)\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
            .to_vec(),
    );
    files.insert(
        format!("{dist_info}/top_level.txt"),
        format!("{package}\n").into_bytes(),
    );
    let record_name = format!("{dist_info}/RECORD");
    let mut record = String::new();
    for (name, bytes) in &files {
        let digest = urlsafe_base64(&Sha256::digest(bytes));
        record.push_str(&format!("{name},sha256={digest},{}\n", bytes.len()));
    }
    record.push_str(&format!("{record_name},,\n"));
    files.insert(record_name, record.into_bytes());

    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .last_modified_time(DateTime::default())
        .unix_permissions(0o644);
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes) in &files {
        writer.start_file(name.as_str(), options)?;
        writer.write_all(bytes)?;
    }
    Ok(writer.finish()?.into_inner())
}

/// RFC 4648's URL-safe base64 without padding, as wheel RECORDs write hashes.
fn urlsafe_base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut text = String::new();
    for chunk in bytes.chunks(3) {
        let word = chunk.iter().enumerate().fold(0u32, |word, (at, byte)| {
            word | u32::from(*byte) << (16 - 8 * at)
        });
        for at in 0..=chunk.len() {
            text.push(char::from(ALPHABET[(word >> (18 - 6 * at) & 63) as usize]));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdist(folder: &Path, files: &[(&str, &str)]) -> std::path::PathBuf {
        let path = folder.join("demo-1.0.tar.gz");
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            fs::File::create(&path).expect("create"),
            flate2::Compression::default(),
        ));
        for (name, text) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(text.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, format!("demo-1.0/{name}"), text.as_bytes())
                .expect("append");
        }
        builder.into_inner().expect("tar").finish().expect("gzip");
        path
    }

    fn pinned() -> PinnedWheel {
        PinnedWheel {
            name: "demo".into(),
            version: "1.0".into(),
            file: "demo-1.0-py3-none-any.whl".into(),
            sha256: String::new(),
            source: None,
        }
    }

    #[test]
    fn the_wheel_holds_the_python_files_and_a_record_and_is_the_same_every_time() {
        let folder = tempfile::tempdir().expect("dir");
        let path = sdist(
            folder.path(),
            &[
                (
                    "PKG-INFO",
                    "Metadata-Version: 2.4\nName: demo\nVersion: 1.0\n",
                ),
                ("LICENSE.txt", "BSD"),
                ("setup.py", "raise SystemExit"),
                ("src/demo/__init__.py", "from ._native import x\n"),
                ("src/demo/_native.py", "x = 1\n"),
                ("src/demo/_speedups.c", "int x;"),
                ("src/demo/py.typed", ""),
                ("tests/test_demo.py", "assert True"),
            ],
        );
        let first = make(&path, &pinned()).expect("a wheel");
        assert_eq!(first, make(&path, &pinned()).expect("again"), "same bytes");
        let mut wheel = zip::ZipArchive::new(Cursor::new(first)).expect("a zip");
        let names: Vec<String> = (0..wheel.len())
            .map(|at| {
                wheel
                    .by_index(at)
                    .expect("entry")
                    .name()
                    .expect("a name")
                    .into_owned()
            })
            .collect();
        assert_eq!(
            names,
            [
                "demo-1.0.dist-info/METADATA",
                "demo-1.0.dist-info/RECORD",
                "demo-1.0.dist-info/WHEEL",
                "demo-1.0.dist-info/licenses/LICENSE.txt",
                "demo-1.0.dist-info/top_level.txt",
                "demo/__init__.py",
                "demo/_native.py",
                "demo/py.typed",
            ]
        );
        let mut record = String::new();
        wheel
            .by_name("demo-1.0.dist-info/RECORD")
            .expect("RECORD")
            .read_to_string(&mut record)
            .expect("text");
        // sha256 of "x = 1\n", URL-safe base64 without padding, as pip writes it.
        assert!(
            record
                .contains("demo/_native.py,sha256=nia_NpkRxFwkPGhBR7I_yeHc_PJX0pmhxjIBam_NM_Q,6\n"),
            "{record}"
        );
        assert!(
            record.ends_with("demo-1.0.dist-info/RECORD,,\n"),
            "{record}"
        );
    }

    #[test]
    fn an_sdist_without_the_package_is_refused() {
        let folder = tempfile::tempdir().expect("dir");
        let path = sdist(folder.path(), &[("PKG-INFO", "Name: demo\n")]);
        let message = make(&path, &pinned()).expect_err("no package").to_string();
        assert!(message.contains("demo/__init__.py"), "{message}");
    }

    #[test]
    fn base64_is_url_safe_and_unpadded() {
        assert_eq!(urlsafe_base64(b""), "");
        assert_eq!(urlsafe_base64(b"f"), "Zg");
        assert_eq!(urlsafe_base64(b"fo"), "Zm8");
        assert_eq!(urlsafe_base64(b"foo"), "Zm9v");
        assert_eq!(urlsafe_base64(&[0xfb, 0xff]), "-_8");
    }
}
