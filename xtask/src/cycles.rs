//! Keeps the workspace's crates free of module cycles: within a crate, no module may reach
//! itself again through the modules it uses. A module's own submodules are part of it (a
//! child using its parent, or the parent its child, is no cycle); what counts is a `crate::`,
//! `super::` or `self::` path (outside comments and test modules) that leads to another
//! module. Run as a test (`cargo test -p xtask`, part of `cargo xtask test`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// A crate's modules (`a::b`, the crate root is ``) and the modules each one uses.
pub fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let files = module_files(src);
    let mut graph = BTreeMap::new();
    for (module, file) in &files {
        let text = fs::read_to_string(file).unwrap_or_default();
        let text = without_comments(text.split("#[cfg(test)]").next().unwrap_or_default());
        let own: Vec<&str> = module.split("::").filter(|part| !part.is_empty()).collect();
        let mut used = BTreeSet::new();
        for path in paths_in(&text) {
            let from_root = path.starts_with("crate::");
            let mut at: Vec<&str> = if from_root { Vec::new() } else { own.clone() };
            let mut rest: Vec<&str> = Vec::new();
            for part in path.split("::").skip(usize::from(from_root)) {
                match part {
                    "super" if rest.is_empty() => {
                        at.pop();
                    }
                    "self" if rest.is_empty() => {}
                    other => rest.push(other),
                }
            }
            // The longest prefix that names a module is the module used.
            let target = (0..=rest.len()).rev().find_map(|take| {
                let mut candidate = at.clone();
                candidate.extend_from_slice(&rest[..take]);
                let name = candidate.join("::");
                files.contains_key(&name).then_some(name)
            });
            if let Some(target) = target
                && !related(module, &target)
            {
                used.insert(target);
            }
        }
        graph.insert(module.clone(), used);
    }
    graph
}

/// The cycles of a module graph: each strongly connected set of more than one module.
pub fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let mut assigned = BTreeSet::new();
    for start in graph.keys() {
        if assigned.contains(start) {
            continue;
        }
        let forward = reachable(graph, start);
        let component: Vec<String> = forward
            .iter()
            .filter(|module| reachable(graph, module).contains(start))
            .cloned()
            .collect();
        assigned.extend(component.iter().cloned());
        if component.len() > 1 {
            found.push(component);
        }
    }
    found
}

fn reachable(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::from([from.to_owned()]);
    let mut todo = vec![from.to_owned()];
    while let Some(module) = todo.pop() {
        for next in graph.get(&module).into_iter().flatten() {
            if seen.insert(next.clone()) {
                todo.push(next.clone());
            }
        }
    }
    seen
}

/// Whether one module is the other or contains it.
fn related(a: &str, b: &str) -> bool {
    let inside = |outer: &str, inner: &str| {
        outer.is_empty() || inner == outer || inner.starts_with(&format!("{outer}::"))
    };
    inside(a, b) || inside(b, a)
}

/// Every module of a crate by name, with its file.
fn module_files(src: &Path) -> BTreeMap<String, PathBuf> {
    let mut files = BTreeMap::new();
    let mut todo = vec![src.to_path_buf()];
    while let Some(folder) = todo.pop() {
        let Ok(entries) = fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
                continue;
            }
            if path.extension().is_none_or(|extension| extension != "rs") {
                continue;
            }
            let Ok(relative) = path
                .with_extension("")
                .strip_prefix(src)
                .map(Path::to_path_buf)
            else {
                continue;
            };
            let mut parts: Vec<String> = relative
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|last| last == "mod") {
                parts.pop();
            }
            if parts == ["lib"] || parts == ["main"] {
                parts.clear();
            }
            files.insert(parts.join("::"), path);
        }
    }
    files
}

/// The `crate::…`, `super::…` and `self::…` paths in Rust source.
fn paths_in(text: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let bytes = text.as_bytes();
    let word = |byte: u8| byte.is_ascii_alphanumeric() || byte == b'_';
    let mut index = 0;
    while index < bytes.len() {
        if !text.is_char_boundary(index) {
            index += 1;
            continue;
        }
        let starts_word = index == 0 || !word(bytes[index - 1]);
        let rest = &text[index..];
        let head = ["crate::", "super::", "self::"]
            .into_iter()
            .find(|head| rest.starts_with(head));
        if let (true, Some(_)) = (starts_word, head) {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            paths.push(rest[..end].trim_end_matches(':').to_owned());
            index += end.max(1);
        } else {
            index += 1;
        }
    }
    paths
}

/// The source without `//` comments (doc comments name modules without using them).
fn without_comments(text: &str) -> String {
    text.lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the workspace")
            .to_path_buf()
    }

    #[test]
    fn no_crate_has_a_module_cycle() {
        let root = workspace_root();
        let mut crates = 0;
        for crate_dir in fs::read_dir(&root).expect("the workspace").flatten() {
            let src = crate_dir.path().join("src");
            if !crate_dir.path().join("Cargo.toml").exists() || !src.is_dir() {
                continue;
            }
            crates += 1;
            let found = cycles(&module_graph(&src));
            assert!(
                found.is_empty(),
                "{} has module cycles (move the shared type down, or pass a callback): {found:?}",
                src.display()
            );
        }
        assert!(
            crates >= 6,
            "found only {crates} crates under {}",
            root.display()
        );
    }

    #[test]
    fn a_cycle_is_found_and_parents_and_children_are_no_cycle() {
        let folder = std::env::temp_dir().join(format!("cycles-{}", std::process::id()));
        let src = folder.join("src");
        fs::create_dir_all(src.join("outer")).expect("folders");
        let write = |path: &str, text: &str| fs::write(src.join(path), text).expect("writes");
        write("lib.rs", "mod a;\nmod b;\nmod outer;\n");
        write(
            "a.rs",
            "use crate::b::Thing; // uses crate::outer in a comment\n",
        );
        write("b.rs", "pub struct Thing;\nfn f() { super::a::g(); }\n");
        write("outer/mod.rs", "mod inner;\nuse self::inner::X;\n");
        write(
            "outer/inner.rs",
            "use super::Y;\n#[cfg(test)]\nmod tests { use crate::a; }\n",
        );
        let graph = module_graph(&src);
        assert_eq!(cycles(&graph), vec![vec!["a".to_owned(), "b".to_owned()]]);
        assert!(graph["outer::inner"].is_empty(), "{graph:?}");
        assert!(graph["a"].contains("b") && !graph["a"].contains("outer"));
        fs::remove_dir_all(&folder).expect("cleans up");
    }
}
