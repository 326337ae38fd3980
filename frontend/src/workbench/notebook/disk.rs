//! A folder notebook's file on disk: read, and written only if it is as this page last
//! read or wrote it ([`DiskLink`]). The folder itself (picker, listing, Python's view of
//! it) is `workbench/folder.rs`; this is the part the notebook store uses.

use notebook::text_hash;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{FileSystemDirectoryHandle, FileSystemFileHandle};

use super::store::DiskLink;
use crate::format::format_bytes;
use crate::idb::describe;

/// Why a folder notebook's changes did not reach its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskTrouble {
    /// The file changed on disk (another program, another tab) since it was read or
    /// written here.
    Changed,
    /// The file is no longer in the folder.
    Gone,
    /// The folder is not open here, or access was not granted; with the reason.
    NoAccess(String),
}

/// The file handle at `path` inside `root` (created, with its folders, if `create`).
pub async fn file_at(
    root: &FileSystemDirectoryHandle,
    path: &str,
    create: bool,
) -> Result<FileSystemFileHandle, JsValue> {
    let mut folder = root.clone();
    let (dirs, name) = path.rsplit_once('/').unwrap_or(("", path));
    for dir in dirs.split('/').filter(|dir| !dir.is_empty()) {
        let options = web_sys::FileSystemGetDirectoryOptions::new();
        options.set_create(create);
        folder = JsFuture::from(folder.get_directory_handle_with_options(dir, &options))
            .await?
            .unchecked_into();
    }
    let options = web_sys::FileSystemGetFileOptions::new();
    options.set_create(create);
    Ok(
        JsFuture::from(folder.get_file_handle_with_options(name, &options))
            .await?
            .unchecked_into(),
    )
}

/// A notebook's text and its link, read from the folder.
pub async fn read_notebook(
    root: &FileSystemDirectoryHandle,
    path: &str,
) -> Result<(String, DiskLink), String> {
    let handle = file_at(root, path, false).await.map_err(trouble_text)?;
    let file: web_sys::File = JsFuture::from(handle.get_file())
        .await
        .map_err(trouble_text)?
        .unchecked_into();
    if file.size() > notebook::MAX_NOTEBOOK_BYTES as f64 {
        return Err(format!(
            "it is {}, more than a notebook can be ({})",
            format_bytes(file.size() as u64),
            format_bytes(notebook::MAX_NOTEBOOK_BYTES as u64)
        ));
    }
    let text = JsFuture::from(file.text())
        .await
        .map_err(trouble_text)?
        .as_string()
        .unwrap_or_default();
    Ok((
        text,
        DiskLink {
            folder: root.name(),
            path: path.to_owned(),
            modified: file.last_modified(),
            size: file.size(),
            hash: 0,
        },
    ))
}

/// Writes a folder notebook's text to its file, if the file is as it was when last read or
/// written here (or `create`: made again where it was); answers the link as it is now.
pub async fn write_notebook(
    root: &FileSystemDirectoryHandle,
    link: &DiskLink,
    text: &str,
    create: bool,
) -> Result<DiskLink, DiskTrouble> {
    let handle = file_at(root, &link.path, create)
        .await
        .map_err(trouble_of)?;
    let file: web_sys::File = JsFuture::from(handle.get_file())
        .await
        .map_err(trouble_of)?
        .unchecked_into();
    if !create && (file.last_modified() != link.modified || file.size() != link.size) {
        return Err(DiskTrouble::Changed);
    }
    let writable: web_sys::FileSystemWritableFileStream = JsFuture::from(handle.create_writable())
        .await
        .map_err(trouble_of)?
        .unchecked_into();
    let written = async {
        JsFuture::from(writable.write_with_str(text).map_err(trouble_of)?)
            .await
            .map_err(trouble_of)?;
        JsFuture::from(writable.close()).await.map_err(trouble_of)
    };
    if let Err(trouble) = written.await {
        let _ = writable.abort();
        return Err(trouble);
    }
    let file: web_sys::File = JsFuture::from(handle.get_file())
        .await
        .map_err(trouble_of)?
        .unchecked_into();
    Ok(DiskLink {
        modified: file.last_modified(),
        size: file.size(),
        hash: text_hash(text),
        ..link.clone()
    })
}

pub fn error_name(error: &JsValue) -> String {
    js_sys::Reflect::get(error, &"name".into())
        .ok()
        .and_then(|name| name.as_string())
        .unwrap_or_default()
}

fn trouble_of(error: JsValue) -> DiskTrouble {
    match error_name(&error).as_str() {
        "NotFoundError" => DiskTrouble::Gone,
        _ => DiskTrouble::NoAccess(trouble_text(error)),
    }
}

fn trouble_text(error: JsValue) -> String {
    match error_name(&error).as_str() {
        "NotFoundError" => "it is no longer in the folder".to_owned(),
        "NotAllowedError" | "SecurityError" => "access to the folder was not granted".to_owned(),
        _ => describe(error),
    }
}
