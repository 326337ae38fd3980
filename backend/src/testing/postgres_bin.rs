//! Where PostgreSQL's server programs (`initdb`, `pg_ctl`) are. One search for the backend's
//! test clusters (`testing/postgres.rs`) and for set-up (`xtask/src/tools.rs`, which includes
//! this file with `#[path]`, so xtask stays free of the backend's dependencies): std only.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// Where Debian's `postgresql` package puts each version's programs: `<here>/<version>/bin`.
pub const DEBIAN_LIB: &str = "/usr/lib/postgresql";

/// The folder with `initdb` and `pg_ctl`: the first on `path`, else the newest
/// `<lib>/<version>/bin`.
pub fn find(lib: &Path, path: &OsStr) -> Option<PathBuf> {
    let has_tools =
        |folder: &Path| folder.join("initdb").exists() && folder.join("pg_ctl").exists();
    if let Some(folder) = std::env::split_paths(path).find(|folder| has_tools(folder)) {
        return Some(folder);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(lib)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            has_tools(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_is_found_on_path_or_in_the_newest_debian_folder() {
        let root = tempfile::tempdir().expect("dir");
        let lib = root.path().join("lib");
        let make = |folder: &Path| {
            std::fs::create_dir_all(folder).expect("folder");
            for tool in ["initdb", "pg_ctl"] {
                std::fs::write(folder.join(tool), "").expect("tool");
            }
        };
        assert_eq!(find(&lib, OsStr::new("")), None);
        make(&lib.join("14").join("bin"));
        make(&lib.join("15").join("bin"));
        std::fs::create_dir_all(lib.join("16").join("bin")).expect("an empty one");
        assert_eq!(find(&lib, OsStr::new("")), Some(lib.join("15").join("bin")));
        let on_path = root.path().join("bin");
        make(&on_path);
        assert_eq!(find(&lib, on_path.as_os_str()), Some(on_path.clone()));
    }
}
