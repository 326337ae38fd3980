//! Backup and restore: "Download everything" gives one `.zip` (read here by the `zip` crate)
//! of every notebook, the data files and the installed packages; restoring it into a fresh
//! browser gives back the same notebooks, files and packages; hostile archives are refused
//! before anything is written.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use tests::{Browser, TestApp, open_notebook_of, spawn_app, until, until_ok};

/// Makes the browser's downloads go to `folder`.
async fn download_to(browser: &Browser, folder: &Path) {
    browser
        .devtools(
            "Browser.setDownloadBehavior",
            json!({"behavior": "allow", "downloadPath": folder.display().to_string()}),
        )
        .await;
}

/// The one finished download in `folder`.
async fn downloaded(folder: &Path) -> PathBuf {
    until_ok(
        "the backup downloaded",
        Duration::from_secs(60),
        async || {
            let found: Vec<PathBuf> = std::fs::read_dir(folder)
                .map(|entries| {
                    entries
                        .filter_map(|entry| Some(entry.ok()?.path()))
                        .collect()
                })
                .unwrap_or_default();
            match found.as_slice() {
                [one] if one.extension().is_some_and(|extension| extension == "zip") => {
                    Ok(one.clone())
                }
                other => Err(other.to_vec()),
            }
        },
    )
    .await
}

/// Every kept notebook's title and cells, by title.
async fn notebooks(browser: &Browser) -> Vec<(String, Value)> {
    let listed = browser
        .eval("return window.workbench.notebook.list()")
        .await;
    let mut all = Vec::new();
    for entry in listed.as_array().expect("a list") {
        browser
            .eval_with(
                "return window.workbench.notebook.select(arguments[0])",
                vec![entry["id"].clone()],
            )
            .await;
        let cells = browser
            .eval("return window.workbench.notebook.cells()")
            .await;
        all.push((entry["title"].as_str().expect("a title").to_owned(), cells));
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

async fn restore(browser: &Browser, zip: &Path) {
    browser
        .find("backup-input")
        .await
        .send_keys(&zip.display().to_string())
        .await
        .expect("the backup is picked");
}

/// Waits until the page asks the user something (a `confirm`).
async fn wait_for_question(browser: &Browser) -> String {
    until_ok("the page asking", Duration::from_secs(30), async || {
        browser
            .client
            .get_alert_text()
            .await
            .map_err(|error| error.to_string())
    })
    .await
}

const TRIPS: &str = "city,km\nOslo,3\nRome,5\n";

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_restores_every_notebook_file_and_package_in_a_fresh_browser() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    browser.open_workbench(&app).await;
    open_notebook_of(
        &browser,
        json!([
            {"cell_type": "markdown", "id": "t", "metadata": {}, "source": "# Trip costs"},
            {"cell_type": "code", "id": "c", "metadata": {}, "execution_count": 1, "source": "print(2)",
             "outputs": [{"output_type": "stream", "name": "stdout", "text": "2\n"}]},
        ]),
    )
    .await;
    open_notebook_of(
        &browser,
        json!([
            {"cell_type": "markdown", "id": "h", "metadata": {}, "source": "# Sales: Q1 (copy)"},
            {"cell_type": "code", "id": "x", "metadata": {}, "execution_count": null, "outputs": [], "source": "x = 1"},
        ]),
    )
    .await;
    for (name, data) in [
        ("sales/q1.csv", TRIPS),
        ("notes.txt", "remember the milk\n"),
    ] {
        let stored = browser
            .eval_with(
                "return window.workbench.loadFile(arguments[0], new Blob([arguments[1]]))",
                vec![json!(name), json!(data)],
            )
            .await;
        assert_eq!(stored["success"], true, "{stored}");
    }
    let installed = browser
        .eval("return window.workbench.install('seaborn')")
        .await;
    assert_eq!(installed["success"], true, "{installed}");
    let sent = notebooks(&browser).await;
    assert_eq!(sent.len(), 3, "{sent:?}");

    let downloads = tempfile::tempdir().expect("a download folder");
    download_to(&browser, downloads.path()).await;
    browser
        .find("backup-download")
        .await
        .click()
        .await
        .expect("downloads");
    let notice = browser
        .wait_for_text("backup-notice", Duration::from_secs(60), |_| true)
        .await;
    assert!(
        notice.starts_with("Backup made: 3 notebooks, 2 files, 1 package"),
        "{notice}"
    );
    let zip_path = downloaded(downloads.path()).await;

    // The zip crate reads it, every entry's CRC-32 checked.
    let mut zip =
        zip::ZipArchive::new(std::fs::File::open(&zip_path).expect("the backup")).expect("a zip");
    let mut names: Vec<String> = zip
        .file_names()
        .map(|name| name.expect("a name").into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "files/notes.txt",
            "files/sales/q1.csv",
            "notebooks.json",
            "notebooks/Sales_ Q1 _copy_.ipynb",
            "notebooks/Trip costs.ipynb",
            "notebooks/Untitled.ipynb",
            "packages.txt",
        ]
    );
    let read = |zip: &mut zip::ZipArchive<std::fs::File>, name: &str| {
        let mut text = String::new();
        zip.by_name(name)
            .expect("the entry")
            .read_to_string(&mut text)
            .expect("reads, its CRC-32 right");
        text
    };
    assert_eq!(read(&mut zip, "files/sales/q1.csv"), TRIPS);
    assert_eq!(read(&mut zip, "packages.txt"), "seaborn\n");
    assert!(read(&mut zip, "notebooks/Trip costs.ipynb").contains("# Trip costs"));
    browser.close().await;

    // A fresh browser restores it. Its own first notebook is also "Untitled": both are kept.
    let fresh = Browser::start().await;
    fresh.open_workbench(&app).await;
    restore(&fresh, &zip_path).await;
    let asked = wait_for_question(&fresh).await;
    assert!(
        asked.starts_with(
            "The backup has one item with names already used here: the notebook “Untitled”."
        ),
        "{asked}"
    );
    fresh.client.dismiss_alert().await.expect("keeps both");
    let notice = fresh
        .wait_for_text("backup-notice", Duration::from_secs(60), |_| true)
        .await;
    assert_eq!(
        notice,
        "Restored 3 notebooks and 2 files; installing 1 package."
    );
    let restored = notebooks(&fresh).await;
    let titles: Vec<&str> = restored.iter().map(|(title, _)| title.as_str()).collect();
    assert_eq!(
        titles,
        ["Sales: Q1 (copy)", "Trip costs", "Untitled", "Untitled 2"]
    );
    for (title, cells) in &sent {
        let name = if title == "Untitled" {
            "Untitled 2"
        } else {
            title
        };
        let back = restored
            .iter()
            .find(|(restored, _)| restored == name)
            .expect("restored");
        assert_eq!(&back.1, cells, "{title}");
    }
    let read_back = fresh
        .execute(json!({"code": "open('/home/pyodide/data/sales/q1.csv').read() + open('/home/pyodide/data/notes.txt').read()"}))
        .await;
    assert_eq!(
        read_back["result"],
        format!("{TRIPS}remember the milk\n"),
        "{read_back}"
    );
    until(
        "seaborn installed again",
        Duration::from_secs(60),
        async || {
            // Asked of micropip, not by importing it: an import would install it itself.
            fresh
                .execute(json!({"code": "import micropip\n'seaborn' in micropip.list()"}))
                .await["result"]
                == true
        },
    )
    .await;

    // Restored once more, replacing: nothing is doubled.
    restore(&fresh, &zip_path).await;
    wait_for_question(&fresh).await;
    fresh.client.accept_alert().await.expect("replaces");
    fresh
        .wait_for_text("backup-notice", Duration::from_secs(60), |text| {
            text.starts_with("Restored 3 notebooks")
        })
        .await;
    let titles = fresh
        .eval("return (await window.workbench.notebook.list()).map((entry) => entry.title).sort()")
        .await;
    assert_eq!(
        titles,
        json!(["Sales: Q1 (copy)", "Trip costs", "Untitled", "Untitled 2"])
    );
    let files = fresh
        .execute(json!({"code": "import os\nsorted(os.listdir('/home/pyodide/data'))"}))
        .await;
    assert_eq!(files["result"], json!(["notes.txt", "sales"]), "{files}");
    fresh.close().await;
}

/// A zip whose one deflated entry declares `declared` bytes once unpacked (zip64).
fn declaring(name: &str, declared: u64) -> Vec<u8> {
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&[0u8; 100_000]).expect("in memory");
    let data = encoder.finish().expect("in memory");
    let mut zip = Vec::new();
    let header = |zip: &mut Vec<u8>, central: bool| {
        zip.extend_from_slice(&(if central { 0x0201_4b50u32 } else { 0x0403_4b50 }).to_le_bytes());
        if central {
            zip.extend_from_slice(&45u16.to_le_bytes());
        }
        for field in [45u16, 0x0800, 8, 0, 0x21] {
            zip.extend_from_slice(&field.to_le_bytes());
        }
        zip.extend_from_slice(&0u32.to_le_bytes()); // CRC-32
        zip.extend_from_slice(&u32::MAX.to_le_bytes());
        zip.extend_from_slice(&u32::MAX.to_le_bytes());
        zip.extend_from_slice(&(name.len() as u16).to_le_bytes());
        zip.extend_from_slice(&20u16.to_le_bytes());
        if central {
            zip.extend_from_slice(&[0; 6]); // comment, disk, internal attributes
            zip.extend_from_slice(&[0; 4]); // external attributes
            zip.extend_from_slice(&0u32.to_le_bytes()); // its local header's offset
        }
        zip.extend_from_slice(name.as_bytes());
        zip.extend_from_slice(&1u16.to_le_bytes());
        zip.extend_from_slice(&16u16.to_le_bytes());
        zip.extend_from_slice(&declared.to_le_bytes());
        zip.extend_from_slice(&(data.len() as u64).to_le_bytes());
    };
    header(&mut zip, false);
    zip.extend_from_slice(&data);
    let directory_offset = zip.len();
    header(&mut zip, true);
    let directory_size = zip.len() - directory_offset;
    zip.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    for field in [0u16, 0, 1, 1] {
        zip.extend_from_slice(&field.to_le_bytes());
    }
    zip.extend_from_slice(&(directory_size as u32).to_le_bytes());
    zip.extend_from_slice(&(directory_offset as u32).to_le_bytes());
    zip.extend_from_slice(&0u16.to_le_bytes());
    zip
}

/// A zip of these stored entries, written with the workbench's own framing (which, unlike
/// the zip crate, writes any name it is given).
fn stored(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = notebook::archive::ArchiveWriter::new();
    let mut zip = Vec::new();
    for (name, data) in entries {
        zip.extend(writer.entry(name, data.len() as u64, crc32fast::hash(data), 0.0));
        zip.extend_from_slice(data);
    }
    zip.extend(writer.finish());
    zip
}

/// The kept notebooks' titles and the data folder's files.
async fn state(browser: &Browser) -> Value {
    let titles = browser
        .eval("return (await window.workbench.notebook.list()).map((entry) => entry.title).sort()")
        .await;
    let files = browser
        .execute(json!({"code": "import os\nsorted(os.path.join(folder, name) for folder, _, names in os.walk('/home/pyodide/data') for name in names)"}))
        .await;
    json!([titles, files["result"]])
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_backups_are_refused_before_anything_is_written() {
    let app: TestApp = spawn_app().await;
    let browser = Browser::start().await;
    browser.open_workbench(&app).await;
    let stored_file = browser
        .eval("return window.workbench.loadFile('kept.csv', new Blob(['a\\n1\\n']))")
        .await;
    assert_eq!(stored_file["success"], true, "{stored_file}");
    let before = state(&browser).await;
    let folder = tempfile::tempdir().expect("a folder");
    let notebook = br#"{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}"#;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "leaves.zip",
            stored(&[
                ("notebooks/Fine.ipynb", notebook),
                ("files/../../evil.txt", b"x"),
            ]),
            "a path that leaves its folder; nothing was restored",
        ),
        (
            "absolute.zip",
            stored(&[("notebooks/Fine.ipynb", notebook), ("/etc/evil.txt", b"x")]),
            "an absolute path; nothing was restored",
        ),
        (
            "twice.zip",
            stored(&[
                ("notebooks/Fine.ipynb", notebook),
                ("files/a.csv", b"1"),
                ("files/a.csv", b"2"),
            ]),
            "holds “files/a.csv” twice; nothing was restored",
        ),
        (
            "huge.zip",
            declaring("files/huge.bin", 10_000_000_000),
            "would unpack to 9.3 GB; compressed files in a backup are read up to 100.0 MB",
        ),
        (
            "text.zip",
            b"just some text, not a zip".to_vec(),
            "not a .zip file",
        ),
    ];
    for (name, bytes, expected) in cases {
        let path = folder.path().join(name);
        std::fs::write(&path, bytes).expect("written");
        restore(&browser, &path).await;
        browser
            .wait_for_text("backup-notice", Duration::from_secs(20), |text| {
                text.contains(expected)
            })
            .await;
        assert_eq!(state(&browser).await, before, "{name} changed nothing");
    }
    browser.close().await;
}
