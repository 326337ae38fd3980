// The Pyodide Workbench worker: loads Pyodide and runs Python off the page's thread.
// Messages are JSON strings, or {json, payload} when they carry bytes; the types are defined
// in pyodide-loader/src/message.rs. The Python side (the harness) arrives with "init".
"use strict";

let pyodide = null;
let harness = null;
let interruptBuffer = null;
let packageIndexUrl = "";
// The background load of the usual packages; installs wait for it, so micropip finds them
// loaded instead of asking the package index about them (which fails offline).
let preloading = Promise.resolve();
// Messages are handled one at a time, in order: code sent while Pyodide is still loading
// waits for it and then runs.
let queue = Promise.resolve();

// Started early by the page (named `start=FOLDER&fetch=PACKAGE,...`): begin loading Pyodide
// before "init" arrives, and download those packages' files meanwhile. (The name, not a query
// string: a worker served from the service worker's cache has the cached URL as its
// location, without the query.)
const earlyStart = new URLSearchParams(self.name);
const early = earlyStart.get("start")
  ? startEarly(
      new URL(earlyStart.get("start"), self.location.href).href,
      (earlyStart.get("fetch") || "").split(",").filter(Boolean),
    )
  : null;

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

// Downloads the files of these packages and of what they depend on into the browser's cache
// while Python starts, so that loading them afterwards does not wait for the network.
async function fetchAhead(base, packages) {
  try {
    if (packages.length === 0) {
      return;
    }
    const lock = await (await fetch(base + "pyodide-lock.json")).json();
    const files = new Set();
    const todo = [...packages];
    while (todo.length > 0) {
      const entry = lock.packages[todo.pop()];
      if (entry && !files.has(entry.file_name)) {
        files.add(entry.file_name);
        todo.push(...entry.depends);
      }
    }
    await Promise.all(
      [...files].map(async (file) => (await fetch(base + file)).body.pipeTo(new WritableStream())),
    );
  } catch (error) {
    // Only a head start: loading the packages fetches whatever is missing.
  }
}

const post = (message) => self.postMessage(JSON.stringify(message));
const describe = (error) => (error && error.message) || String(error);
const packagesNews = (message) => post({ type: "packages", message });

self.onmessage = (event) => {
  const { json, payload } = typeof event.data === "string" ? { json: event.data } : event.data;
  const message = JSON.parse(json);
  queue = queue.then(() => handle(message, payload));
};

async function handle(message, payload) {
  if (message.type === "init") {
    try {
      await init(message, payload);
    } catch (error) {
      post({ type: "fatal", message: describe(error) });
    }
    return;
  }
  try {
    if (harness === null) {
      throw new Error("the Python runtime did not start");
    }
    const body = await answer(message, payload);
    if (body instanceof FileContents) {
      // Bytes travel beside the JSON, moved rather than copied.
      self.postMessage(
        { json: JSON.stringify({ type: "reply", id: message.id, body: body.description }), payload: body.bytes.buffer },
        [body.bytes.buffer],
      );
    } else {
      post({ type: "reply", id: message.id, body });
    }
  } catch (error) {
    post({ type: "failed", id: message.id, message: describe(error) });
  }
}

async function answer(message, payload) {
  switch (message.type) {
    case "execute":
      return execute(message);
    case "loadFile":
      return loadFile(message, payload);
    case "install":
      await preloading;
      await pyodide.loadPackage("micropip", { messageCallback: packagesNews });
      return JSON.parse(await call("install", message.package, packageIndexUrl));
    case "reset":
      return JSON.parse(call("reset"));
    case "listFiles":
      return JSON.parse(call("list_files"));
    case "deleteFile": {
      const outcome = JSON.parse(call("delete_file", message.name));
      await persistFiles();
      return outcome;
    }
    case "readFile": {
      const path = `${harness.get("DATA_DIR")}/${message.name}`;
      const bytes = pyodide.FS.readFile(path);
      return new FileContents({ name: message.name, bytes: bytes.length }, bytes);
    }
    case "listPackages":
      return JSON.parse(call("list_packages"));
    default:
      throw new Error(`unknown message type ${message.type}`);
  }
}

async function init({ indexUrl, harness: source, packageIndexUrl: index, preload }, buffer) {
  const base = new URL(indexUrl, self.location.href).href;
  packageIndexUrl = new URL(index, self.location.href).href.replace(/%7B/g, "{").replace(/%7D/g, "}");
  const startedEarly = early !== null && early.base === base;
  if (startedEarly) {
    post({ type: "progress", message: "starting Python" });
    pyodide = await early.pyodide;
  } else {
    post({ type: "progress", message: "downloading the Python runtime" });
    importScripts(base + "pyodide.js");
    post({ type: "progress", message: "starting Python" });
    pyodide = await loadPyodide({ indexURL: base });
  }
  if (buffer) {
    // Pyodide gets it only while a user's run runs (see `execute`).
    interruptBuffer = new Uint8Array(buffer);
  }
  const namespace = pyodide.globals.get("dict")();
  pyodide.runPython(source, { globals: namespace, filename: "<workbench-harness>" });
  harness = namespace;
  await mountFiles();
  call("setup_runtime");
  post({ type: "ready", version: pyodide.version, startedEarly });
  // Plain Python is usable now; the usual analysis packages follow in the background, stage
  // by stage, and a run that imports them waits only for what it imports
  // (loadPackagesFromImports shares Pyodide's lock).
  preloading = preloadStages(preload);
}

async function preloadStages(stages) {
  // Not "wait for the queue" between stages: an install in the queue waits for the
  // preloads, so that would deadlock.
  for (const stage of stages) {
    try {
      await pyodide.loadPackage(stage, { messageCallback: packagesNews, errorCallback: packagesNews });
      packagesNews("");
    } catch (error) {
      packagesNews(`could not preload packages: ${describe(error)}`);
      return;
    }
    // Importing takes longer than loading; do it now, queued behind any run already waiting,
    // so the first run that uses these packages finds them imported (and matplotlib's font
    // cache built).
    queue = queue.then(() => {
      try {
        call("warm_up", stage);
      } catch (error) {
        packagesNews(`could not import ${stage.join(", ")}: ${describe(error)}`);
      }
    });
  }
}

// A file's bytes, to be moved to the page beside the JSON answer.
class FileContents {
  constructor(description, bytes) {
    this.description = description;
    this.bytes = bytes;
  }
}

// The data folder lives in IndexedDB (IDBFS), so loaded files and files the code wrote
// survive reloads and browser restarts.
async function mountFiles() {
  const folder = harness.get("DATA_DIR");
  pyodide.FS.mkdirTree(folder);
  try {
    pyodide.FS.mount(pyodide.FS.filesystems.IDBFS, {}, folder);
    await syncFiles(true);
  } catch (error) {
    packagesNews(`files will not be kept across visits: ${describe(error)}`);
  }
}

function syncFiles(populate) {
  return new Promise((resolve, reject) =>
    pyodide.FS.syncfs(populate, (error) => (error ? reject(error) : resolve())),
  );
}

async function persistFiles() {
  try {
    await syncFiles(false);
  } catch (error) {
    packagesNews(`could not keep the files: ${describe(error)}`);
  }
}

function call(name, ...args) {
  const fn = harness.get(name);
  try {
    return fn(...args);
  } finally {
    fn.destroy();
  }
}

async function execute({ id, request }) {
  try {
    // Code without the word "import" imports nothing: skip the parse for imports.
    const loaded = !/\bimport\b/.test(request.code) ? [] : await pyodide.loadPackagesFromImports(request.code, {
      messageCallback: packagesNews,
      errorCallback: packagesNews,
    });
    // News only when something loaded: the page refreshes its package list on news, and
    // that list would otherwise sit in the queue in front of the next run.
    if (loaded && loaded.length > 0) {
      packagesNews("");
    }
  } catch (error) {
    packagesNews(`could not load the packages this code imports: ${describe(error)}`);
  }
  // Stop and timeouts interrupt the user's run only: Pyodide watches the buffer just while
  // the run runs, so a Stop pressed while Python starts, preloads or loads this run's
  // packages spoils none of them. Byte 1 says Stop was pressed for this run: it then stops
  // at its first instruction.
  if (interruptBuffer) {
    if (interruptBuffer[1]) {
      interruptBuffer[0] = 2;
    }
    pyodide.setInterruptBuffer(interruptBuffer);
  }
  const emit = (stream, text) => post({ type: "output", id, stream, text });
  const context = JSON.stringify(request.context ?? {});
  // The timeout counts from here: waiting for packages is not the code's time.
  post({ type: "started", id });
  // Only code that awaits needs the event loop; the rest runs straight through.
  const runner = /\bawait\b/.test(request.code) ? "run_async" : "run";
  let result;
  try {
    result = JSON.parse(await call(runner, request.code, context, emit));
  } catch (error) {
    // Stop can land in the harness around the user's code; it is still a stopped run.
    if (error && error.type === "KeyboardInterrupt") {
      result = JSON.parse(call("stopped", request.code, context, emit));
    } else {
      throw error;
    }
  } finally {
    pyodide.setInterruptBuffer(undefined);
  }
  // The code may have written files: keep them, shortly after the answer (a sync costs tens
  // of milliseconds; runs in a row share one).
  persistSoon();
  return result;
}

let persisting = null;
function persistSoon() {
  if (persisting === null) {
    persisting = setTimeout(() => {
      persisting = null;
      queue = queue.then(persistFiles);
    }, 250);
  }
}

async function loadFile({ name }, bytes) {
  const folder = harness.get("DATA_DIR");
  const path = `${folder}/${name}`;
  pyodide.FS.mkdirTree(folder);
  pyodide.FS.writeFile(path, new Uint8Array(bytes));
  await persistFiles();
  if (/\.(csv|tsv)$/i.test(name)) {
    await pyodide.loadPackage("pandas", { messageCallback: packagesNews });
  }
  return JSON.parse(call("describe_file", path));
}
