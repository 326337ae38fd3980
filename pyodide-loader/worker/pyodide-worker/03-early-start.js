// ---------------------------------------------------------------------------------------
// Early start: begin loading Pyodide before "init" arrives. (Started at the end of this
// file, once `fetch` below is in place, so every download goes through it.)

function startEarly(base, packages) {
  try {
    importScripts(base + "pyodide.js");
    const started = { base, pyodide: loadPyodide({ indexURL: base }) };
    fetchAhead(base, packages);
    return started;
  } catch (error) {
    return null;
  }
}

// Downloads the files of these packages and of what they depend on while Python starts, and
// keeps them for Pyodide's own download of them (see `fetch` below).
const fetchedAhead = new Map();

async function fetchAhead(base, packages) {
  try {
    if (packages.length === 0) {
      return;
    }
    const lock = await (await fetch(base + "pyodide-lock.json")).json();
    const seen = new Set();
    const todo = [...packages];
    while (todo.length > 0) {
      const entry = lock.packages[todo.pop()];
      if (entry && !seen.has(entry.file_name)) {
        seen.add(entry.file_name);
        todo.push(...entry.depends);
        const url = new URL(entry.file_name, base).href;
        const digest = String.fromCharCode(...entry.sha256.match(/../g).map((byte) => parseInt(byte, 16)));
        fetchedAhead.set(url, fetchChecked(url, `sha256-${btoa(digest)}`).catch(() => null));
      }
    }
  } catch (error) {
    // Only a head start: loading the packages fetches whatever is missing.
  }
}
