//! The "simple" repository API (PEP 503, and PEP 691's JSON form) as both the package
//! index and its upstream speak it: the JSON content type, normalised project names, and
//! what a wheel's file name says.

pub use protocol::normalize_package_name as normalize;

/// The content type micropip needs, exactly (no charset), to read a PEP 691 answer.
pub const SIMPLE_JSON: &str = "application/vnd.pypi.simple.v1+json";

/// `name-version(-build)?-python-abi-platform.whl` → `(name, version)`.
pub fn parse_wheel_filename(filename: &str) -> Option<(String, String)> {
    let stem = filename.strip_suffix(".whl")?;
    let parts: Vec<&str> = stem.split('-').collect();
    if parts.len() < 5 {
        return None;
    }
    Some((parts[0].to_owned(), parts[1].to_owned()))
}

/// Whether a wheel runs on any Python 3 anywhere (`…-py3-none-any.whl`, or a tag set that
/// includes `py3`): the only wheels Pyodide can install from an index.
pub fn is_pure_python3_wheel(filename: &str) -> bool {
    let Some(stem) = filename.strip_suffix(".whl") else {
        return false;
    };
    let tags: Vec<&str> = stem.rsplitn(4, '-').take(3).collect();
    let [platform, abi, python] = tags.as_slice() else {
        return false;
    };
    *platform == "any" && *abi == "none" && python.split('.').any(|tag| tag.starts_with("py3"))
}

/// The platform tags of wheels built for the served Pyodide (0.27: Emscripten 3.1.58,
/// CPython 3.12): Pyodide's own name and PEP 783's.
pub const PYODIDE_PLATFORMS: [&str; 2] = ["pyodide_2024_0_wasm32", "pyemscripten_2024_0_wasm32"];
/// The CPython those wheels are built for.
const PYODIDE_PYTHON: &str = "cp312";

/// Whether micropip in the served Pyodide can install a wheel: a pure-Python 3 one, or one
/// built for this Pyodide's platform (PEP 783) and CPython, with its own ABI or the stable one.
pub fn installs_in_pyodide(filename: &str) -> bool {
    if is_pure_python3_wheel(filename) {
        return true;
    }
    let Some(stem) = filename.strip_suffix(".whl") else {
        return false;
    };
    let tags: Vec<&str> = stem.rsplitn(4, '-').take(3).collect();
    let [platform, abi, python] = tags.as_slice() else {
        return false;
    };
    platform
        .split('.')
        .any(|platform| PYODIDE_PLATFORMS.contains(&platform))
        && python.split('.').any(|tag| tag == PYODIDE_PYTHON)
        && abi
            .split('.')
            .any(|abi| abi == PYODIDE_PYTHON || abi == "abi3" || abi == "none")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_file_names_give_name_and_version() {
        assert_eq!(
            parse_wheel_filename("typing_extensions-4.16.0-py3-none-any.whl"),
            Some(("typing_extensions".to_owned(), "4.16.0".to_owned()))
        );
        assert_eq!(parse_wheel_filename("README.txt"), None);
        assert_eq!(parse_wheel_filename("broken-1.0.whl"), None);
    }

    #[test]
    fn only_wheels_for_any_python_3_platform_are_pure() {
        assert!(is_pure_python3_wheel("demo-1.0-py3-none-any.whl"));
        assert!(is_pure_python3_wheel("demo-1.0-py2.py3-none-any.whl"));
        assert!(!is_pure_python3_wheel("demo-1.0-py2-none-any.whl"));
        assert!(!is_pure_python3_wheel(
            "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
        ));
        assert!(!is_pure_python3_wheel("demo-1.0.tar.gz"));
    }

    #[test]
    fn wheels_built_for_this_pyodide_install_too() {
        assert!(installs_in_pyodide("demo-1.0-py3-none-any.whl"));
        assert!(installs_in_pyodide(
            "demo-1.0-cp312-cp312-pyodide_2024_0_wasm32.whl"
        ));
        assert!(installs_in_pyodide(
            "demo-1.0-cp312-abi3-pyemscripten_2024_0_wasm32.whl"
        ));
        for refused in [
            "demo-1.0-cp313-cp313-pyodide_2025_0_wasm32.whl",
            "demo-1.0-cp311-cp311-pyodide_2024_0_wasm32.whl",
            "demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
            "demo-1.0-cp312-cp312-emscripten_3_1_58_wasm32.whl",
        ] {
            assert!(!installs_in_pyodide(refused), "{refused}");
        }
    }
}
