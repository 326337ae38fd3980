//! A folder on disk: its notebooks open and autosave back to their `.ipynb` files, Python
//! reads its files in place (and a folder notebook runs in its own folder), and changes
//! made on disk by someone else are noticed, never overwritten silently.
//!
//! Headless Chromium has `showDirectoryPicker` but no way to answer its dialog, so the
//! picker is replaced by one that gives a folder of the browser's own file system (OPFS): a
//! real `FileSystemDirectoryHandle` with the same API (listing, `getFile`, `createWritable`,
//! permissions, kept in IndexedDB). Everything after the pick is the product's own code.
//! What this stand-in cannot show: the browser's permission prompt after a reload (an OPFS
//! folder is always granted, so the reload below reopens it without a click).

use std::time::Duration;

use serde_json::{Value, json};
use tests::{Browser, cells, cells_until, editor_of, spawn_app, until_ok};

const WAIT: Duration = Duration::from_secs(60);

/// A notebook as JupyterLab writes it (one-space indentation, nbformat 4.5).
const ANALYSIS: &str = r#"{
 "cells": [
  {
   "cell_type": "code",
   "execution_count": null,
   "id": "a1b2c3d4",
   "metadata": {},
   "outputs": [],
   "source": [
    "import pandas as pd\n",
    "sales = pd.read_csv('sales.csv')\n",
    "int(sales['amount'].sum()) * 1000"
   ]
  }
 ],
 "metadata": {
  "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
 },
 "nbformat": 4,
 "nbformat_minor": 5
}
"#;

/// Makes the folder `project` in OPFS and makes the page's folder picker give it.
const MAKE_FOLDER: &str = "
    const [notebook] = arguments;
    return (async () => {
        const root = await navigator.storage.getDirectory();
        const project = await root.getDirectoryHandle('project', { create: true });
        const write = async (folder, name, text) => {
            const file = await folder.getFileHandle(name, { create: true });
            const writable = await file.createWritable();
            await writable.write(text);
            await writable.close();
        };
        await write(project, 'analysis.ipynb', notebook);
        await write(project, 'sales.csv', 'amount\\n1\\n2\\n3\\n');
        await write(project, 'broken.ipynb', '{\"cells\": [');
        const sub = await project.getDirectoryHandle('sub', { create: true });
        await write(sub, 'more.csv', 'x\\n7\\n');
        const git = await project.getDirectoryHandle('.git', { create: true });
        await write(git, 'config', '[core]');
        window.showDirectoryPicker = async () => project;
        return true;
    })();";

/// Writes `text` to `path` in the folder, as another program would.
const WRITE_ON_DISK: &str = "
    const [path, text] = arguments;
    return (async () => {
        let folder = await (await navigator.storage.getDirectory()).getDirectoryHandle('project');
        const parts = path.split('/');
        for (const dir of parts.slice(0, -1)) folder = await folder.getDirectoryHandle(dir);
        const file = await folder.getFileHandle(parts.at(-1), { create: true });
        const writable = await file.createWritable();
        await writable.write(text);
        await writable.close();
        return true;
    })();";

/// The text of `path` in the folder (null if it is not there).
const READ_ON_DISK: &str = "
    const [path] = arguments;
    return (async () => {
        const folder = await (await navigator.storage.getDirectory()).getDirectoryHandle('project');
        try {
            return await (await (await folder.getFileHandle(path)).getFile()).text();
        } catch {
            return null;
        }
    })();";

async fn on_disk(browser: &Browser, path: &str) -> Value {
    browser.eval_with(READ_ON_DISK, vec![json!(path)]).await
}

async fn click(browser: &Browser, test_id: &str) {
    browser
        .find(test_id)
        .await
        .click()
        .await
        .unwrap_or_else(|error| panic!("clicking {test_id}: {error}"));
}

/// The first code cell's source in the folder's `analysis.ipynb`, as text.
fn first_source(ipynb: &Value) -> String {
    let notebook: Value =
        serde_json::from_str(ipynb.as_str().unwrap_or("null")).unwrap_or_default();
    match &notebook["cells"][0]["source"] {
        Value::Array(lines) => lines.iter().filter_map(Value::as_str).collect(),
        Value::String(text) => text.clone(),
        _ => String::new(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_folder_on_disk_opens_runs_in_place_saves_back_and_notices_changes_made_elsewhere() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    browser.open_workbench(&app).await;
    let made = browser.eval_with(MAKE_FOLDER, vec![json!(ANALYSIS)]).await;
    assert_eq!(made, true, "{made}");

    // The folder lists its notebooks and its files; hidden folders are left out.
    click(&browser, "folder-open").await;
    let name = browser
        .wait_for_text("folder-name", WAIT, |text| text.contains("project"))
        .await;
    assert!(name.contains("Close folder"), "{name}");
    let listed = browser
        .wait_for_text("folder-notebooks", WAIT, |text| {
            text.contains("analysis.ipynb")
        })
        .await;
    assert_eq!(listed.trim(), "analysis.ipynb\nbroken.ipynb");
    let files = browser
        .wait_for_text("folder-files", WAIT, |text| text.contains("sub/more.csv"))
        .await;
    assert!(files.contains("sales.csv"), "{files}");
    assert!(
        !files.contains("config") && !files.contains(".ipynb"),
        "{files}"
    );

    // Its notebook opens as the file holds it, and runs in the folder: `sales.csv` is read
    // where it lies, by its name relative to the notebook.
    click(&browser, "folder-notebook").await;
    browser
        .wait_for_text("notebook-name", WAIT, |text| text == "analysis")
        .await;
    let state = browser
        .wait_for_text("save-state", WAIT, |text| text.contains("analysis.ipynb"))
        .await;
    assert_eq!(state, "saved to analysis.ipynb in “project”");
    assert_eq!(cells(&browser).await.len(), 1);
    // Opening it wrote nothing: the file is byte for byte the one written above.
    assert_eq!(on_disk(&browser, "analysis.ipynb").await, ANALYSIS);
    click(&browser, "run-all").await;
    cells_until(
        &browser,
        "the folder notebook's cell reading sales.csv",
        |cells| cells[0]["outputs"].to_string().contains("6000"),
    )
    .await;

    // The run's outputs reach the file: JupyterLab's format, the same cell id.
    let saved = until_ok("the run written to analysis.ipynb", WAIT, async || {
        let text = on_disk(&browser, "analysis.ipynb").await;
        if text.as_str().is_some_and(|text| text.contains("6000")) {
            Ok(text)
        } else {
            Err(text)
        }
    })
    .await;
    let written: Value = serde_json::from_str(saved.as_str().expect("text")).expect("JSON");
    assert_eq!(written["nbformat"], 4, "{written}");
    assert_eq!(written["cells"][0]["id"], "a1b2c3d4", "{written}");
    assert_eq!(written["cells"][0]["execution_count"], 1, "{written}");
    assert!(
        first_source(&saved).starts_with("import pandas as pd\n"),
        "{saved}"
    );

    // Python reads a data file as it is now on disk, and cannot write into the folder.
    let changed = browser
        .eval_with(
            WRITE_ON_DISK,
            vec![json!("sales.csv"), json!("amount\n10\n")],
        )
        .await;
    assert_eq!(changed, true);
    until_ok("Python reading the changed sales.csv", WAIT, async || {
        let answer = browser
            .execute(json!({"code": "import pandas as pd\nint(pd.read_csv('/home/pyodide/folder/sales.csv')['amount'].sum())"}))
            .await;
        if answer["result"] == 10 {
            Ok(())
        } else {
            Err(answer)
        }
    })
    .await;
    let nested = browser
        .execute(json!({"code": "open('/home/pyodide/folder/sub/more.csv').read()"}))
        .await;
    assert_eq!(nested["result"], "x\n7\n", "{nested}");
    let write = browser
        .execute(json!({"code": "open('/home/pyodide/folder/new.txt', 'w').write('no')"}))
        .await;
    assert_eq!(write["success"], false, "{write}");
    assert_eq!(on_disk(&browser, "new.txt").await, Value::Null);

    // Another program changes the notebook's file: the page says so, and this tab's later
    // edits do not overwrite it.
    let theirs = ANALYSIS.replace(
        "int(sales['amount'].sum()) * 1000",
        "'changed by another program'",
    );
    browser
        .eval_with(WRITE_ON_DISK, vec![json!("analysis.ipynb"), json!(theirs)])
        .await;
    let trouble = browser
        .wait_for_text("disk-trouble", WAIT, |text| !text.is_empty())
        .await;
    assert!(
        trouble.contains("analysis.ipynb was changed on disk"),
        "{trouble}"
    );
    browser
        .type_into(&editor_of(&browser, 0).await, "mine = 'typed here'")
        .await;
    // A deliberate negative check: the autosave (300 ms after the last key) gets two
    // seconds to do what it must not.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        first_source(&on_disk(&browser, "analysis.ipynb").await)
            .contains("changed by another program")
    );
    assert_eq!(
        browser.text("save-state").await,
        "saved in this browser, not in its file"
    );
    // Loading the version on disk keeps this one as a version first.
    click(&browser, "disk-reload").await;
    cells_until(&browser, "the version on disk", |cells| {
        cells[0]["source"]
            .as_str()
            .is_some_and(|source| source.contains("changed by another program"))
    })
    .await;
    let versions = browser
        .eval("return window.workbench.notebook.revisions()")
        .await;
    assert!(
        versions
            .to_string()
            .contains("before the version on disk was loaded"),
        "{versions}"
    );

    // The file deleted while open: said, and saved there again on request.
    browser
        .eval(
            "return (async () => { const folder = await (await navigator.storage.getDirectory()).getDirectoryHandle('project'); await folder.removeEntry('analysis.ipynb'); return true; })()",
        )
        .await;
    let trouble = browser
        .wait_for_text("disk-trouble", WAIT, |text| text.contains("no longer"))
        .await;
    assert!(trouble.contains("kept in this browser"), "{trouble}");
    browser
        .type_into(&editor_of(&browser, 0).await, "again = 'saved back'")
        .await;
    click(&browser, "disk-overwrite").await;
    until_ok(
        "the notebook written to the folder again",
        WAIT,
        async || {
            let text = on_disk(&browser, "analysis.ipynb").await;
            if first_source(&text) == "again = 'saved back'" {
                Ok(())
            } else {
                Err(text)
            }
        },
    )
    .await;
    browser
        .wait_for_text("save-state", WAIT, |text| text.starts_with("saved to"))
        .await;

    // A reload opens the same folder again (the stand-in is always granted) and the same
    // notebook, still linked to its file.
    browser.client.refresh().await.expect("reloads");
    browser.wait_for_python().await;
    browser
        .wait_for_text("folder-name", WAIT, |text| text.contains("project"))
        .await;
    browser
        .wait_for_text("save-state", WAIT, |text| {
            text == "saved to analysis.ipynb in “project”"
        })
        .await;
    until_ok("Python seeing the folder again", WAIT, async || {
        let answer = browser
            .execute(json!({"code": "open('/home/pyodide/folder/sales.csv').read()"}))
            .await;
        if answer["result"] == "amount\n10\n" {
            Ok(())
        } else {
            Err(answer)
        }
    })
    .await;

    // A restarted Python sees the folder again.
    browser
        .eval(
            "window.confirm = () => true; document.querySelector('[data-testid=restart]').click()",
        )
        .await;
    until_ok("the restarted Python seeing the folder", WAIT, async || {
        let answer = browser
            .execute(json!({"code": "import os\n(os.getcwd(), open('sales.csv').read())"}))
            .await;
        if answer["result"] == json!(["/home/pyodide/folder", "amount\n10\n"]) {
            Ok(())
        } else {
            Err(answer)
        }
    })
    .await;

    // A damaged notebook in the folder is refused with its reason; the open one stays.
    let broken = browser
        .client
        .find_all(fantoccini::Locator::Css("[data-testid=folder-notebook]"))
        .await
        .expect("the folder's notebooks");
    assert_eq!(broken.len(), 2);
    broken[1].click().await.expect("open broken.ipynb");
    let notice = browser
        .wait_for_text("notebooks-notice", WAIT, |text| {
            text.contains("broken.ipynb")
        })
        .await;
    assert!(notice.contains("was not opened"), "{notice}");
    assert_eq!(browser.text("notebook-name").await, "analysis");

    // Closing the folder: Python no longer sees it, the notebook stays in this browser.
    click(&browser, "folder-close").await;
    browser.find("folder-open").await;
    until_ok("the folder gone from Python", WAIT, async || {
        let answer = browser
            .execute(json!({"code": "import os\nos.path.exists('/home/pyodide/folder/sales.csv')"}))
            .await;
        if answer["result"] == false {
            Ok(())
        } else {
            Err(answer)
        }
    })
    .await;
    let list = browser.text("notebooks-panel").await;
    assert!(list.contains("analysis"), "{list}");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_tabs_saving_one_folder_notebook_do_not_overwrite_each_other() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    browser.open_workbench(&app).await;
    let made = browser.eval_with(MAKE_FOLDER, vec![json!(ANALYSIS)]).await;
    assert_eq!(made, true, "{made}");
    click(&browser, "folder-open").await;
    browser
        .wait_for_text("folder-notebooks", WAIT, |text| {
            text.contains("analysis.ipynb")
        })
        .await;
    click(&browser, "folder-notebook").await;
    browser
        .wait_for_text("save-state", WAIT, |text| text.contains("analysis.ipynb"))
        .await;

    // A second tab opens the same folder (reopened from IndexedDB) and notebook, and saves.
    let first_tab = browser.client.window().await.expect("a window");
    let second_tab = browser.client.new_window(true).await.expect("a new tab");
    browser
        .client
        .switch_to_window(second_tab.handle)
        .await
        .expect("switch");
    browser.client.goto(&app.url("/")).await.expect("opens");
    browser.wait_for_python().await;
    browser
        .wait_for_text("save-state", WAIT, |text| text.contains("analysis.ipynb"))
        .await;
    browser
        .type_into(&editor_of(&browser, 0).await, "second = 'tab two'")
        .await;
    until_ok("the second tab's save in the file", WAIT, async || {
        let text = on_disk(&browser, "analysis.ipynb").await;
        if first_source(&text) == "second = 'tab two'" {
            Ok(())
        } else {
            Err(text)
        }
    })
    .await;

    // The first tab is told, and its typing does not overwrite the second's file.
    browser
        .client
        .switch_to_window(first_tab)
        .await
        .expect("back");
    browser
        .wait_for_text("conflict", WAIT, |text| text.contains("another tab"))
        .await;
    browser
        .type_into(&editor_of(&browser, 0).await, "first = 'tab one'")
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        first_source(&on_disk(&browser, "analysis.ipynb").await),
        "second = 'tab two'"
    );
    // Keeping this tab's version over the other's is the user's choice, and asks again
    // about the file.
    click(&browser, "conflict-keep").await;
    let trouble = browser
        .wait_for_text("disk-trouble", WAIT, |text| !text.is_empty())
        .await;
    assert!(trouble.contains("changed on disk"), "{trouble}");
    click(&browser, "disk-overwrite").await;
    until_ok("the first tab's version in the file", WAIT, async || {
        let text = on_disk(&browser, "analysis.ipynb").await;
        if first_source(&text) == "first = 'tab one'" {
            Ok(())
        } else {
            Err(text)
        }
    })
    .await;
    browser.close().await;
}
