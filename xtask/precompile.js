// Precompiles a laid-out Pyodide distribution's Python files to bytecode, in place, with
// Pyodide itself (the same CPython as the browser, so the .pyc files are valid there).
//
// Usage: node precompile.js FOLDER
//
// Every `.py` in python_stdlib.zip and in each package of pyodide-lock.json is replaced by a
// sourceless `.pyc` (imports then skip parsing and compiling: the cost that dominates
// `import pandas`). Wheels are also written uncompressed ("stored"): the worker copies their
// files straight into Pyodide's file system (pyodide-worker.js, ≈ 10× faster than Python's
// zipfile), and the server's precompressed copies keep the transfer small. Other archives
// without Python files are left untouched. The lock's sha256 of each rewritten package is
// updated, since Pyodide checks it on download. Library tracebacks lose their source lines;
// the user's own code is compiled from source at run time as ever.
//
// matplotlib's wheel ships a font list (`matplotlib/fontlist.json`) stamped for another
// matplotlib version than its own, so every fresh start rebuilt it (seconds, and "Matplotlib
// is building the font cache" in a cell). The list this matplotlib builds here, over the
// same bundled fonts at the same paths as in the browser, replaces it in the wheel.
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const path = require("path");

const COMPILER = `
import importlib._bootstrap_external as bootstrap
import os
import zipfile

# Entries written with other contents: archive member name -> bytes.
REPLACEMENTS = {}

def own_font_list():
    """The font list this matplotlib builds (its import rebuilds a list stamped for another
    version), to ship in its wheel."""
    import json
    import matplotlib.font_manager as font_manager
    from pathlib import Path

    text = (Path(font_manager.__file__).parent / "fontlist.json").read_text()
    version = json.loads(text)["_version"]
    if version != font_manager.FontManager.__version__:
        raise RuntimeError(f"the font list is for version {version}")
    REPLACEMENTS["matplotlib/fontlist.json"] = text.encode()
    return len(json.loads(text)["ttflist"])

def compile_archive(path, prefix):
    """Rewrites a zip with each .py compiled to a sourceless .pyc, and a wheel with every
    entry stored; returns how many files were compiled, or None if nothing changed."""
    wheel = path.endswith(".whl")
    method = zipfile.ZIP_STORED if wheel else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path) as source:
        names = set(source.namelist())
        todo = [n for n in names if n.endswith(".py") and n + "c" not in names]
        stored = all(info.compress_type == zipfile.ZIP_STORED for info in source.infolist())
        replaced = [n for n in names if n in REPLACEMENTS]
        if not todo and not replaced and (stored or not wheel):
            return None
        compiled = 0
        temporary = path + ".partial"
        with zipfile.ZipFile(temporary, "w", method) as out:
            for info in source.infolist():
                data = REPLACEMENTS.get(info.filename) or source.read(info.filename)
                if info.filename in todo:
                    try:
                        code = compile(data, prefix + info.filename, "exec", dont_inherit=True)
                    except (SyntaxError, ValueError):
                        out.writestr(info, data, method)
                        continue
                    target = zipfile.ZipInfo(info.filename + "c", date_time=info.date_time)
                    target.external_attr = info.external_attr
                    out.writestr(target, bootstrap._code_to_timestamp_pyc(code, 0, len(data)),
                                 method)
                    compiled += 1
                else:
                    out.writestr(info, data, method)
    os.replace(temporary, path)
    return compiled

(compile_archive, own_font_list)
`;

async function main() {
  const folder = path.resolve(process.argv[2] || "");
  const lockPath = path.join(folder, "pyodide-lock.json");
  const lock = JSON.parse(fs.readFileSync(lockPath, "utf8"));
  const { loadPyodide } = require(path.join(folder, "pyodide.js"));
  const pyodide = await loadPyodide({ indexURL: folder + path.sep });
  pyodide.FS.mkdirTree("/distribution");
  pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: folder }, "/distribution");
  const [compileArchive, ownFontList] = pyodide.runPython(COMPILER);
  // Before any wheel is rewritten: Pyodide loads matplotlib by the lock's original hashes.
  await pyodide.loadPackage("matplotlib", { messageCallback: () => {} });
  console.log(`    matplotlib's font list built for its own version (${ownFontList()} fonts)`);
  const sitePackages = `/lib/python${pyodide.runPython("import sys; f'{sys.version_info[0]}.{sys.version_info[1]}'")}/site-packages/`;

  let total = compileArchive(`/distribution/python_stdlib.zip`, "/lib/python_stdlib.zip/") ?? 0;
  let rewritten = 0;
  for (const entry of Object.values(lock.packages)) {
    const file = path.join(folder, entry.file_name);
    if (!fs.existsSync(file) || !/\.(whl|zip)$/.test(entry.file_name)) {
      continue;
    }
    const count = compileArchive(`/distribution/${entry.file_name}`, sitePackages);
    if (count !== undefined) {
      entry.sha256 = crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
      total += count;
      rewritten += 1;
    }
  }
  fs.writeFileSync(lockPath, JSON.stringify(lock));
  console.log(`    compiled ${total} Python files (the standard library and ${rewritten} packages rewritten)`);
}

main().catch((error) => {
  console.error(`precompiling failed: ${error && error.stack ? error.stack : error}`);
  process.exit(1);
});
