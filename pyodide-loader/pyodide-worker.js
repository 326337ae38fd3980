// The Pyodide Workbench worker: loads Pyodide and runs Python off the page's thread.
// Messages are JSON strings, or {json, payload} when they carry bytes; the types are defined
// in pyodide-loader/src/message.rs. The Python side (the harness) arrives with "init".
//
// Sections: the message kinds · state · early start · package files (fetch, integrity,
// Pyodide's WebAssembly) · unpacking wheels · dispatch · start and preloads · runs · files ·
// the editor's questions. The data folder's file system is data-folder.js.
"use strict";

// ---------------------------------------------------------------------------------------
// The message kinds, as message.rs names them (`ToWorker`, `FromWorker`, `LoadStage`,
// `PackageNews`).
// Nothing on either side reads the English text of a message to decide anything.

const Kind = Object.freeze({
  progress: "progress",
  ready: "ready",
  packages: "packages",
  started: "started",
  output: "output",
  display: "display",
  reply: "reply",
  failed: "failed",
  fatal: "fatal",
  files: "files",
  broken: "broken",
});
// What the page asks (`ToWorker`).
const Ask = Object.freeze({
  init: "init",
  execute: "execute",
  loadFile: "loadFile",
  install: "install",
  reset: "reset",
  listFiles: "listFiles",
  deleteFile: "deleteFile",
  readFile: "readFile",
  renameFile: "renameFile",
  describeFile: "describeFile",
  listPackages: "listPackages",
  assist: "assist",
});
const Stage = Object.freeze({ downloadingRuntime: "downloadingRuntime", startingPython: "startingPython" });
const News = Object.freeze({ loading: "loading", settled: "settled", problem: "problem" });

const post = (message) => self.postMessage(JSON.stringify(message));
const describe = (error) => (error && error.message) || String(error);
const progress = (stage) => post({ type: Kind.progress, stage });
// Pyodide's own words about what it loads, shown as they are.
const packagesNews = (text) => post({ type: Kind.packages, news: { kind: News.loading, text } });
const packagesProblem = (text) => post({ type: Kind.packages, news: { kind: News.problem, text } });
const packagesSettled = () => post({ type: Kind.packages, news: { kind: News.settled } });

// ---------------------------------------------------------------------------------------
// State.

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
// True while a user's code runs (it may await, letting the preloads go on meanwhile).
let userCodeRunning = false;
// The namespace of assist.py, which answers the editor's questions.
let assistant = null;

// Started early by the page (named `start=FOLDER&fetch=PACKAGE,...`): begin loading Pyodide
// before "init" arrives, and download those packages' files meanwhile. (The name, not a query
// string: a worker served from the service worker's cache has the cached URL as its
// location, without the query.)
const earlyStart = new URLSearchParams(self.name);
// With `asm=page` the page compiles Pyodide's WebAssembly (pyodide.asm.wasm) and sends the
// module ({pyodideModule}, null if it could not): Chromium reuses code compiled from a page's
// download on the next visit, not from a worker's. See `fetch` and `instantiateStreaming`.
let receivePageModule = () => {};
const pageModule =
  earlyStart.get("start") && earlyStart.get("asm") === "page"
    ? {
        url: new URL(earlyStart.get("start") + "pyodide.asm.wasm", self.location.href).href,
        module: new Promise((resolve) => {
          receivePageModule = resolve;
        }),
        stands: new Response(null),
      }
    : null;
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

// ---------------------------------------------------------------------------------------
// Package files: fetched ahead, checked off this thread, and Pyodide's WebAssembly.

// Pyodide downloads each package with fetch, asking it to check the file's SHA-256
// (`integrity`). One fetched ahead is handed over as it is, not read again from the HTTP
// cache (for the big uncompressed wheels, decoding them again); the others are fetched and
// checked by `fetchChecked`.
const rawFetch = self.fetch.bind(self);
// Every download from this server goes through here: it notes the file for offline use, and
// a download that fails because the server cannot be reached says which file and what to do.
const networkFetch = (resource, options) => {
  const url = new URL(resource instanceof Request ? resource.url : String(resource), self.location.href);
  return rawFetch(resource, options).then(
    (response) => {
      noteUsed(url, response);
      return response;
    },
    (error) => {
      throw unreachable(url, error);
    },
  );
};
// Until the preloads are done, the worker's downloads say so (`X-Workbench-Start`): the
// service worker then keeps them when this worker lists them after the start, rather than
// during it (sw.js).
let startingUp = true;
const fetchFile = (resource, options = {}) =>
  startingUp && !(resource instanceof Request) && options.headers === undefined
    ? networkFetch(resource, { ...options, headers: { "X-Workbench-Start": "1" } })
    : networkFetch(resource, options);
self.fetch = (resource, options) => {
  const url = new URL(resource instanceof Request ? resource.url : String(resource), self.location.href).href;
  if (url.endsWith("/pyodide.asm.wasm")) {
    // The page's module stands in for the download (`instantiateStreaming` below knows it).
    return pageModule?.url === url ? Promise.resolve(pageModule.stands) : fetchPyodideWasm(url);
  }
  let bytes = fetchedAhead.get(url);
  if (bytes !== undefined) {
    fetchedAhead.delete(url);
  } else if (typeof options?.integrity === "string" && options.integrity !== "") {
    bytes = fetchChecked(url, options.integrity);
  } else {
    return fetchFile(resource, options);
  }
  return bytes.then((body) => (body === null ? fetchFile(resource, options) : new Response(body)));
};

// Pyodide's WebAssembly from the server (or the HTTP cache); without a connection, the
// service worker's copy. The service worker leaves this file to the HTTP cache, which keeps
// the compiled code beside it, and keeps a copy of its own for when that is gone.
function fetchPyodideWasm(url) {
  return networkFetch(url).catch(() => networkFetch(`${url}?from=cache`));
}

// ---------------------------------------------------------------------------------------
// Offline: the files this worker used, for the service worker to keep (sw.js). A first
// visit's worker starts before the service worker controls the page, so its downloads pass
// the service worker by; this list is how it learns what a later offline start needs: the
// core files, the lock, the preloaded packages, the packages the runs imported and the
// user installed, and the package index's answers micropip asked for.

const usedFiles = new Set();

function noteUsed(url, response) {
  const path = url.pathname;
  const kept =
    path.startsWith("/pyodide/") || path.startsWith("/duckdb/") || path.startsWith("/wheelhouse/") || path.startsWith("/pypi/");
  // The package index's "not here" is an answer too: micropip then uses Pyodide's lock.
  if (kept && (response.ok || (response.status === 404 && path.startsWith("/pypi/")))) {
    usedFiles.add(url.origin + path);
  }
}

function unreachable(url, error) {
  return new TypeError(
    `${url.pathname} could not be loaded: the server cannot be reached and this browser has ` +
      `not kept a copy of it yet; connect to the network once more and reload (${describe(error)})`,
  );
}

// The page relays the list to the service worker (a dedicated worker cannot reach it).
function keepForOffline() {
  try {
    new BroadcastChannel("workbench-files").postMessage({ keep: [...usedFiles] });
  } catch (error) {
    // No BroadcastChannel: the files are kept as later visits fetch them.
  }
}

// Pyodide instantiates its WebAssembly from the download it asked `fetch` for; in place of the
// page's module (which stood in for that download) it gets the module itself, or, if the page
// could not compile one, the download after all.
if (pageModule !== null) {
  const instantiateStreaming = WebAssembly.instantiateStreaming.bind(WebAssembly);
  WebAssembly.instantiateStreaming = async (source, imports) => {
    const response = await source;
    if (response !== pageModule.stands) {
      return instantiateStreaming(response, imports);
    }
    const module = await pageModule.module;
    if (module instanceof WebAssembly.Module) {
      return { module, instance: await WebAssembly.instantiate(module, imports) };
    }
    return instantiateStreaming(fetchPyodideWasm(pageModule.url), imports);
  };
}

// The bytes at `url`, or null when the server's answer is not OK. Chromium checks a fetch's
// `integrity` on the fetching thread at ≈ 200 MB/s — ≈ 185 ms for numpy's and pandas's
// 37 MB, on the thread that starts Python — while crypto.subtle hashes off this thread, so
// the file is fetched plainly and checked with that. A damaged copy in a cache is fetched
// once more past the caches (the service worker keeps the new copy); a file that still
// differs fails like fetch's own check, with a reason.
async function fetchChecked(url, integrity, again = false) {
  const sha256 = /^sha256-([A-Za-z0-9+/]+={0,2})$/.exec(integrity.trim());
  if (sha256 === null || !self.crypto?.subtle) {
    const response = await fetchFile(url, { integrity });
    return response.ok ? response.arrayBuffer() : null;
  }
  const response = await fetchFile(url, again ? { cache: "reload" } : {});
  if (!response.ok) {
    return null;
  }
  const bytes = await response.arrayBuffer();
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  if (btoa(String.fromCharCode(...digest)) === sha256[1]) {
    return bytes;
  }
  if (!again) {
    return fetchChecked(url, integrity, true);
  }
  throw new TypeError(`${url} is not the file the package list names (its SHA-256 differs)`);
}

// ---------------------------------------------------------------------------------------
// Unpacking wheels.

// Pyodide unpacks each package with Python's zipfile: ≈ 0.5 s for numpy and pandas. Set-up
// stores the wheels uncompressed (xtask/precompile.js; the server compresses the transfer),
// so their files are copied straight into the file system here, ≈ 10× faster. Anything else
// (compressed entries, data files, tarballs, archives for unpackArchive) goes through
// Pyodide's own unpacker, which `pyodide._api.package_loader.unpack_buffer` names.
function unpackWheelsDirectly() {
  try {
    const loader = pyodide._api.package_loader;
    const python = loader.unpack_buffer;
    const unpack = (options) => unpackStoredWheel(loader, options) ?? python.callKwargs(options);
    unpack.callKwargs = unpack;
    loader.unpack_buffer = unpack;
  } catch (error) {
    // A Pyodide version without this internal: its own unpacker does the work, only slower.
  }
}

// What Pyodide's unpack_buffer does for a wheel (extract, record INSTALLER and
// PYODIDE_SOURCE, list the shared libraries to load), or null to leave it to Pyodide.
function unpackStoredWheel(loader, { buffer, filename, format, extract_dir, calculate_dynlibs, installer, source }) {
  if (format || !/\.whl$/.test(filename || "") || !(buffer instanceof Uint8Array)) {
    return null;
  }
  const target = extract_dir || "";
  const entries = storedEntries(buffer);
  if (!target.startsWith("/") || entries === null) {
    return null;
  }
  const tops = new Set(entries.map(({ name }) => name.split("/")[0]));
  const distInfo = [...tops].filter((top) => top.endsWith(".dist-info"));
  if (distInfo.length !== 1 || [...tops].some((top) => top.endsWith(".data"))) {
    return null;
  }
  const FS = pyodide.FS;
  const folders = new Set();
  const dynlibs = [];
  for (const { name, start, size } of entries) {
    const path = `${target}/${name}`;
    if (name.endsWith("/")) {
      FS.mkdirTree(path);
      continue;
    }
    const folder = path.slice(0, path.lastIndexOf("/"));
    if (!folders.has(folder)) {
      FS.mkdirTree(folder);
      folders.add(folder);
    }
    FS.writeFile(path, buffer.subarray(start, start + size));
    if (/\.so(\.\d+)*$/.test(name) && loader.should_load_dynlib(path)) {
      dynlibs.push(path);
    }
  }
  if (installer) {
    FS.writeFile(`${target}/${distInfo[0]}/INSTALLER`, installer);
  }
  if (source) {
    FS.writeFile(`${target}/${distInfo[0]}/PYODIDE_SOURCE`, source);
  }
  return calculate_dynlibs ? dynlibs : undefined;
}

// The entries of a zip whose files are all stored uncompressed, with where their bytes are;
// null for anything else (compressed or encrypted entries, zip64, unsafe names).
function storedEntries(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let end = bytes.length - 22;
  while (end >= 0 && view.getUint32(end, true) !== 0x06054b50) {
    end -= 1;
  }
  if (end < 0) {
    return null;
  }
  const count = view.getUint16(end + 10, true);
  let at = view.getUint32(end + 16, true);
  const names = new TextDecoder();
  const entries = [];
  for (let index = 0; index < count; index += 1) {
    if (at + 46 > bytes.length || view.getUint32(at, true) !== 0x02014b50) {
      return null;
    }
    const flags = view.getUint16(at + 8, true);
    const method = view.getUint16(at + 10, true);
    const size = view.getUint32(at + 20, true);
    const nameLength = view.getUint16(at + 28, true);
    const local = view.getUint32(at + 42, true);
    const name = names.decode(bytes.subarray(at + 46, at + 46 + nameLength));
    at += 46 + nameLength + view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
    if (method !== 0 || flags & 1 || size === 0xffffffff || local + 30 > bytes.length) {
      return null;
    }
    if (name.startsWith("/") || name.includes("..") || view.getUint32(local, true) !== 0x04034b50) {
      return null;
    }
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    if (start + size > bytes.length) {
      return null;
    }
    entries.push({ name, start, size });
  }
  return entries;
}

// ---------------------------------------------------------------------------------------
// Dispatch: one request at a time, in order.

self.onmessage = (event) => {
  if (event.data !== null && typeof event.data === "object" && "pyodideModule" in event.data) {
    receivePageModule(event.data.pyodideModule);
    return;
  }
  const { json, payload } = typeof event.data === "string" ? { json: event.data } : event.data;
  const message = JSON.parse(json);
  queue = queue.then(() => handle(message, payload));
};

async function handle(message, payload) {
  if (message.type === Ask.init) {
    try {
      await init(message, payload);
    } catch (error) {
      post({ type: Kind.fatal, message: describe(error) });
    }
    return;
  }
  try {
    if (harness === null) {
      throw new Error("the Python runtime did not start");
    }
    const body = await answer(message, payload);
    // Files added, deleted or renamed (by this request, or by code that wrote them): the
    // page lists them again.
    DataFolder.announceChanges();
    if (body instanceof FileContents) {
      // A file travels beside the JSON as a `Blob`: posting it hands over a reference.
      self.postMessage({ json: JSON.stringify({ type: Kind.reply, id: message.id, body: body.description }), payload: body.blob });
    } else {
      post({ type: Kind.reply, id: message.id, body });
    }
  } catch (error) {
    if (error && error.pyodide_fatal_error) {
      // Pyodide cannot run anything more: the page replaces this worker (and answers).
      post({ type: Kind.broken, message: describe(error) });
      return;
    }
    post({ type: Kind.failed, id: message.id, message: describe(error) });
  }
}

async function answer(message, payload) {
  switch (message.type) {
    case Ask.execute:
      return execute(message);
    case Ask.loadFile:
      return loadFile(message, payload);
    case Ask.install: {
      await preloading;
      await pyodide.loadPackage("micropip", { messageCallback: packagesNews });
      const installed = JSON.parse(await call("install", message.package, packageIndexUrl));
      keepForOffline();
      return installed;
    }
    case Ask.reset:
      return JSON.parse(call("reset"));
    case Ask.listFiles:
      return JSON.parse(call("list_files"));
    case Ask.deleteFile:
      return JSON.parse(call("delete_file", message.name));
    case Ask.renameFile:
      return JSON.parse(call("rename_file", message.from, message.to));
    case Ask.describeFile:
      return describeFile(message.name);
    case Ask.readFile: {
      // The kept file itself (a `File` over OPFS): the page downloads it without a copy.
      const blob = await DataFolder.blob(message.name);
      return new FileContents({ name: message.name, bytes: blob.size }, blob);
    }
    case Ask.listPackages:
      return JSON.parse(call("list_packages"));
    case Ask.assist:
      return assist(message);
    default:
      throw new Error(`unknown message type ${message.type}`);
  }
}

// ---------------------------------------------------------------------------------------
// Start and preloads.

async function init({ indexUrl, harness: source, packageIndexUrl: index, preload, assist: assistSource, installable, sqlEngineUrl: sqlBase }, buffer) {
  const base = new URL(indexUrl, self.location.href).href;
  sqlEngineUrl = new URL(sqlBase, self.location.href).href;
  packageIndexUrl = new URL(index, self.location.href).href.replace(/%7B/g, "{").replace(/%7D/g, "}");
  const startedEarly = early !== null && early.base === base;
  if (startedEarly) {
    progress(Stage.startingPython);
    pyodide = await early.pyodide;
  } else {
    progress(Stage.downloadingRuntime);
    try {
      importScripts(base + "pyodide.js");
    } catch (error) {
      throw unreachable(new URL(base + "pyodide.js"), error);
    }
    progress(Stage.startingPython);
    pyodide = await loadPyodide({ indexURL: base });
  }
  // The core files: some are loaded as scripts or by the page, not through fetch.
  for (const file of ["pyodide.js", "pyodide.asm.js", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json"]) {
    usedFiles.add(base + file);
  }
  unpackWheelsDirectly();
  if (buffer) {
    // Pyodide gets it only while a user's run runs (see `execute`).
    interruptBuffer = new Uint8Array(buffer);
    // From byte 4 on: the paths the page is deleting (pyodide-loader/src/interrupt.rs).
    if (buffer.byteLength > 12) DataFolder.watchDeletions(buffer, 4);
  }
  const namespace = pyodide.globals.get("dict")();
  pyodide.runPython(source, { globals: namespace, filename: "<workbench-harness>" });
  harness = namespace;
  await mountFiles();
  call("setup_runtime");
  call("configure", packageIndexUrl);
  setUpAssistant(assistSource, installable);
  post({ type: Kind.ready, version: pyodide.version, startedEarly });
  // Plain Python is usable now; the usual analysis packages follow in the background, stage
  // by stage, and a run that imports them waits only for what it imports
  // (loadPackagesFromImports shares Pyodide's lock).
  preloading = preloadStages(preload);
}

async function preloadStages(stages) {
  try {
    await preloadEach(stages);
  } finally {
    // The service worker copies the files of the start into its cache now.
    startingUp = false;
    keepForOffline();
  }
  // Then the editor's first completion is made ready, between requests (see `assist`).
  preloadsDone = true;
  queue = queue.then(() => prepareAssistant().catch(() => {}));
}

async function preloadEach(stages) {
  // Not "wait for the queue" between stages: an install in the queue waits for the
  // preloads, so that would deadlock.
  for (const stage of stages) {
    try {
      await pyodide.loadPackage(stage, { messageCallback: packagesNews, errorCallback: packagesProblem });
      packagesSettled();
    } catch (error) {
      packagesProblem(`could not preload packages: ${describe(error)}`);
      return;
    } finally {
      // Files fetched ahead and not used (a failed load) are not kept in memory either.
      fetchedAhead.clear();
    }
    // Importing takes longer than loading; do it now, so the first run that uses these
    // packages finds them imported (and matplotlib's font cache built), and only then load the
    // next stage, whose downloads and unpacking would otherwise compete with this import (or
    // with a run that imports them itself) for the processor. While a user's run runs (an
    // `await` in it lets this happen), the import waits behind it in the queue instead.
    const warmUp = () => {
      try {
        call("warm_up", stage);
      } catch (error) {
        packagesProblem(`could not import ${stage.join(", ")}: ${describe(error)}`);
      }
    };
    if (userCodeRunning) {
      queue = queue.then(warmUp);
    } else {
      warmUp();
    }
  }
}

// ---------------------------------------------------------------------------------------
// Files: the data folder, kept in IndexedDB.

// A file to hand to the page beside the JSON answer, as a `Blob`.
class FileContents {
  constructor(description, blob) {
    this.description = description;
    this.blob = blob;
  }
}

// The data folder is kept in the browser's Origin Private File System and read in place
// (data-folder.js): mounting reads which files there are, never their bytes.
async function mountFiles() {
  const folder = harness.get("DATA_DIR");
  try {
    await DataFolder.mount(pyodide, folder, (news) => post({ type: Kind.files, news }));
  } catch (error) {
    pyodide.FS.mkdirTree(folder);
    post({ type: Kind.files, news: { kind: "unavailable", text: `files will not be kept across visits: ${describe(error)}` } });
  }
}

// After a run: written files flushed to disk, files that could only go to memory moved in.
async function settleFiles() {
  try {
    await DataFolder.settle();
  } catch (error) {
    post({ type: Kind.files, news: { kind: "unavailable", text: `could not keep the files: ${describe(error)}` } });
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

// ---------------------------------------------------------------------------------------
// Runs.

async function execute({ id, request }) {
  try {
    // Code that uses SQL gets the engine started (and waits for it) before it runs; once SQL
    // was used, every run waits for the engine to be ready (after Stop, a new one starts). It
    // loads beside the packages below, not after them.
    const sql = SQL_WORDS.test(request.code) || (sqlEngine !== null && sqlEngine.failure === null);
    const engineReady = sql ? sqlEngineReady() : null;
    // Code without the word "import" imports nothing: skip the parse for imports. Pyodide's
    // parse gives up on IPython's lines (%time, !ls), so it reads the cell as the harness
    // will run it.
    const loaded = !/\bimport\b/.test(request.code)
      ? []
      : await pyodide.loadPackagesFromImports(call("python_source", request.code), {
          messageCallback: packagesNews,
          errorCallback: packagesProblem,
        });
    // pandas imports pyarrow only inside `to_parquet`/`read_parquet`, where the import above
    // cannot see it: code that mentions Parquet gets it loaded first.
    // SQL's results come back as Arrow and become DataFrames: it needs both too.
    if ((sql || /parquet/i.test(request.code)) && !pyodide.loadedPackages.pyarrow) {
      const packages = sql ? ["pandas", "pyarrow"] : ["pyarrow"];
      loaded.push(...(await pyodide.loadPackage(packages, { messageCallback: packagesNews, errorCallback: packagesProblem })));
    }
    await engineReady;
    // News only when something loaded: the page refreshes its package list on news, and
    // that list would otherwise sit in the queue in front of the next run.
    if (loaded && loaded.length > 0) {
      packagesSettled();
      keepForOffline();
    }
  } catch (error) {
    packagesProblem(`could not load the packages this code imports: ${describe(error)}`);
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
  // Streams are text; a display is one nbformat output, as JSON.
  const emit = (stream, text) =>
    stream === "display"
      ? post({ type: Kind.display, id, output: JSON.parse(text) })
      : post({ type: Kind.output, id, stream, text });
  const context = JSON.stringify(request.context ?? {});
  const label = request.label ?? null;
  // `%pip install` waits for the preloads, as an install does (micropip then finds them).
  if (/^\s*%pip\b/m.test(request.code)) {
    await preloading;
  }
  // The timeout counts from here: waiting for packages is not the code's time.
  post({ type: Kind.started, id });
  let result;
  userCodeRunning = true;
  try {
    // The harness answers at once, or — for code that awaits or installs — with a coroutine.
    result = JSON.parse(await call("run", request.code, context, emit, label));
  } catch (error) {
    // Stop can land in the harness around the user's code; it is still a stopped run.
    if (error && error.type === "KeyboardInterrupt") {
      result = JSON.parse(call("stopped", request.code, context, emit, label));
    } else {
      throw error;
    }
  } finally {
    userCodeRunning = false;
    pyodide.setInterruptBuffer(undefined);
  }
  // The code may have written files: flush them and refill the spare handles, between
  // requests (runs in a row share one).
  settleSoon();
  return result;
}

let settling = null;
function settleSoon() {
  if (settling === null) {
    settling = setTimeout(() => {
      settling = null;
      queue = queue.then(settleFiles);
    }, 250);
  }
}

// A `File` or `Blob` is kept in place (readable at once, copied into the browser's storage in
// the background); bytes (text or an `ArrayBuffer` from `loadFile`) are written.
async function loadFile({ name }, payload) {
  try {
    if (payload instanceof Blob) {
      await DataFolder.keep(name, payload);
    } else {
      await DataFolder.write(name, new Uint8Array(payload));
    }
  } catch (error) {
    // No space, or a folder in the way: the file is not added, and the answer says why.
    return { success: false, filename: name, error: describe(error) };
  }
  return describeFile(name);
}

async function describeFile(name) {
  if (/\.(csv|tsv)$/i.test(name)) {
    await pyodide.loadPackage("pandas", { messageCallback: packagesNews });
  } else if (/\.parquet$/i.test(name)) {
    await pyodide.loadPackage(["pandas", "pyarrow"], { messageCallback: packagesNews });
  }
  return JSON.parse(call("describe_file", `${harness.get("DATA_DIR")}/${name}`));
}

// ---------------------------------------------------------------------------------------
// The editor's questions: completions, signatures, docs and syntax errors (assist.py), each
// within the page's time limit.

// A view of the interrupt buffer's third byte: Pyodide watches it, not the run's byte 0,
// while a question is answered, so an interrupt the page raises for a question can never
// stop a run (pyodide-loader/src/interrupt.rs).
let assistInterrupt = null;

function setUpAssistant(source, installable) {
  if (interruptBuffer && interruptBuffer.length > 2) {
    assistInterrupt = interruptBuffer.subarray(2, 3);
  }
  const namespace = pyodide.globals.get("dict")();
  pyodide.runPython(source, { globals: namespace, filename: "<workbench-assist>" });
  assistant = namespace;
  // Import names Pyodide's lock can load (a run that imports one loads it) and names our
  // package index serves (`%pip install`).
  const lockImports = [...(pyodide._api._import_name_to_package_name?.keys() ?? [])];
  const proxies = [
    assistant.get("setup"),
    harness.get("user_globals"),
    harness.get("python_source"),
    pyodide.toPy(lockImports),
    pyodide.toPy(installable ?? []),
  ];
  const [setup, ...args] = proxies;
  try {
    setup(...args, holdInterrupts);
  } finally {
    for (const proxy of proxies) proxy.destroy();
  }
}

// While jedi parses a file of its own (a stub of the standard library, once per file), the
// page's interrupt waits: parsing is bounded, and cutting it short would repeat it, and be
// cut short again, on every keystroke. The interrupt lands when the parse is done.
let answering = false;
function holdInterrupts(hold) {
  if (assistInterrupt && answering) {
    pyodide.setInterruptBuffer(hold ? undefined : assistInterrupt);
  }
}

// jedi loaded, and one completion made (it parses the builtins' stubs, ≈ 0.7 s): after the
// preloads, between requests. Not part of any time limit. Until the preloads are done, a
// question that needs jedi answers nothing rather than load it: that would compete with the
// packages a first run waits for.
let preloadsDone = false;
let assistantReady = null;
function prepareAssistant() {
  if (assistantReady === null) {
    assistantReady = (async () => {
      await pyodide.loadPackage("jedi", { messageCallback: () => {}, errorCallback: packagesProblem });
      const warmUp = assistant.get("warm_up");
      try {
        warmUp();
      } finally {
        warmUp.destroy();
      }
    })();
    assistantReady.catch(() => {
      assistantReady = null;
    });
  }
  return assistantReady;
}

async function assist({ id, request }) {
  // A syntax check is CPython's own parser: it needs no jedi.
  if (request.kind !== "check") {
    if (!preloadsDone && assistantReady === null) {
      const nothing = assistant.get("nothing");
      try {
        return JSON.parse(nothing(request.kind));
      } finally {
        nothing.destroy();
      }
    }
    await prepareAssistant();
  }
  // The page's time limit starts now.
  post({ type: Kind.started, id });
  if (assistInterrupt) {
    assistInterrupt[0] = 0;
    pyodide.setInterruptBuffer(assistInterrupt);
  }
  answering = true;
  const answer = assistant.get("answer");
  try {
    return JSON.parse(answer(request.kind, request.code, request.cursor ?? 0));
  } finally {
    answering = false;
    answer.destroy();
    pyodide.setInterruptBuffer(undefined);
    if (assistInterrupt) {
      assistInterrupt[0] = 0;
    }
  }
}

// ---------------------------------------------------------------------------------------
// SQL: DuckDB-Wasm in a worker of its own (sql-worker.js), started the first time a run's
// code uses SQL. Python's `sql()` (the harness) calls `workbenchSql.query` while its run
// runs: this thread then waits in shared memory (Atomics) for the answer, which the engine
// writes into a growable shared buffer; Stop ends the engine's worker (the next query starts
// a new one). The vocabulary is pyodide-loader/src/sql.rs's.

const SqlAsk = Object.freeze({ start: "start", query: "query" });
const SqlNews = Object.freeze({ ready: "ready", failed: "failed" });
const SqlState = Object.freeze({ waiting: 0, result: 1, error: 2, tooLarge: 3 });
// Code that may use SQL: a `%%sql` cell, a call of `sql(`, or the `workbench` module. (The
// engine must be started before the run: a worker a worker starts does not load while its
// parent waits, and Python's worker waits for the whole run.)
const SQL_WORDS = /%%sql\b|\bsql\s*\(|\bworkbench\b/;
// Errors after which the engine is not trusted again.
const SQL_BROKEN = /Out of Memory|malloc of size|failed to allocate|memory access out of bounds|unreachable|table index is out of bounds/i;
// The most an answer may hold (the harness's limit is lower); only reserved, not allocated.
const SQL_ANSWER_MAX = 2 ** 31;
// How long a run waits for the engine to start.
const SQL_START_MS = 120_000;

let sqlEngineUrl = "";
let sqlEngine = null;

// The engine, started if there is none (or, with `again`, if the last one could not start).
function startSqlEngine(again = false) {
  if (sqlEngine !== null && (sqlEngine.failure === null || !again)) {
    return sqlEngine;
  }
  sqlEngine?.worker?.terminate();
  const engine = { worker: null, control: null, data: null, failure: null, started: false, ready: Promise.resolve() };
  sqlEngine = engine;
  // The answer comes back in memory both threads share, which grows to the answer's size.
  if (typeof SharedArrayBuffer === "undefined" || !self.crossOriginIsolated) {
    engine.failure = "SQL needs the page to be cross-origin isolated (the server sends the headers for it; a page opened another way is not)";
    return engine;
  }
  engine.data = new SharedArrayBuffer(0, { maxByteLength: SQL_ANSWER_MAX });
  if (!engine.data.growable) {
    engine.failure = "SQL needs a browser that can grow shared memory (Chrome 111, Firefox 119, Safari 16.4 or newer)";
    return engine;
  }
  engine.control = new Int32Array(new SharedArrayBuffer(16));
  const worker = new Worker("sql-worker.js", { name: "workbench-sql" });
  engine.worker = worker;
  engine.ready = new Promise((resolve) => {
    worker.onmessage = ({ data: news }) => {
      if (news.type === SqlNews.ready) {
        engine.started = true;
        for (const file of news.files) usedFiles.add(file);
        keepForOffline();
      } else if (news.type === SqlNews.failed && !engine.started) {
        engine.failure = news.message;
      }
      resolve();
    };
    worker.onerror = (event) => {
      event.preventDefault();
      engine.failure ??= event.message || "the SQL engine stopped";
      resolve();
    };
  });
  worker.postMessage({ type: SqlAsk.start, base: sqlEngineUrl, control: engine.control.buffer, data: engine.data });
  return engine;
}

// Before a run that uses SQL: the engine started, or why it could not (Stop pressed meanwhile,
// or no start within SQL_START_MS, ends the wait; the run then says why).
async function sqlEngineReady() {
  // A run that uses SQL tries again to start an engine that could not start before (offline
  // then, online now).
  const engine = startSqlEngine(true);
  if (engine.started || engine.failure !== null) {
    if (engine.failure !== null) packagesProblem(`could not start the SQL engine: ${engine.failure}`);
    return;
  }
  packagesNews("Starting the SQL engine (DuckDB)");
  const started = performance.now();
  let waiting = true;
  engine.ready.then(() => {
    waiting = false;
  });
  while (waiting) {
    if (interruptBuffer && interruptBuffer[1]) {
      engine.failure = "stopped while it started";
    } else if (performance.now() - started > SQL_START_MS) {
      engine.failure = `it did not start within ${SQL_START_MS / 1000} s`;
    }
    if (engine.failure !== null) {
      engine.worker.terminate();
      break;
    }
    await Promise.race([engine.ready, new Promise((resolve) => setTimeout(resolve, 100))]);
  }
  if (engine.failure !== null) {
    packagesProblem(`could not start the SQL engine: ${engine.failure}`);
  } else {
    packagesSettled();
  }
}

// Ends the engine (Stop, or an error after which it is not trusted) and starts a new one,
// which loads once this run is over.
function restartSqlEngine() {
  if (sqlEngine !== null) {
    sqlEngine.worker.terminate();
    sqlEngine = null;
  }
  startSqlEngine();
}

// Waits for the engine's answer; false when Stop was pressed meanwhile (the engine is then
// ended, and the interrupt left for Python to raise).
function waitForEngine(control) {
  while (Atomics.load(control, 0) === SqlState.waiting) {
    if (interruptBuffer && interruptBuffer[0] !== 0) {
      restartSqlEngine();
      // Python raises the one `KeyboardInterrupt` itself, where the query was asked for.
      interruptBuffer[0] = 0;
      return false;
    }
    Atomics.wait(control, 0, SqlState.waiting, 50);
  }
  return true;
}

// Which of the data folder's files a query may read: those it names, or all when it has a
// glob in a string.
function sqlMayRead(statements) {
  const text = statements.join("\n");
  const globbing = /'[^']*[*?[][^']*'/.test(text);
  return (path) => globbing || text.includes(path);
}

const sqlText = (engine, length) => new TextDecoder().decode(new Uint8Array(engine.data, 0, length).slice());

// Called by the harness's `sql()`: {state: "result", bytes} (a view of the shared answer,
// read before the next query), {state: "error", text, statement} (which statement failed),
// {state: "tooLarge", length} or {state: "stopped"}.
self.workbenchSql = {
  query(statements, frames, limit) {
    const engine = startSqlEngine();
    const control = engine.control;
    if (engine.failure !== null) {
      return { state: "error", text: `could not start the SQL engine: ${engine.failure}`, statement: 0 };
    }
    if (!engine.started) {
      return {
        state: "error",
        text:
          "the SQL engine was not started for this run: it starts before a run whose code says " +
          "`sql(`, `%%sql` or `workbench`, and is starting now; run this again",
        statement: 0,
      };
    }
    const wasm = pyodide._module.HEAPU8.buffer;
    const own = [];
    const tables = [];
    for (const { name, bytes } of frames) {
      // Bytes inside Python's memory are copied out; the copy is handed over.
      const copy = bytes.buffer === wasm ? bytes.slice() : bytes;
      own.push(copy.buffer);
      tables.push({ name, bytes: copy });
    }
    Atomics.store(control, 0, SqlState.waiting);
    engine.worker.postMessage(
      { type: SqlAsk.query, statements, files: DataFolder.sources(sqlMayRead(statements)), frames: tables, limit },
      own,
    );
    if (!waitForEngine(control)) return { state: "stopped" };
    const state = Atomics.load(control, 0);
    const length = Atomics.load(control, 1);
    if (state === SqlState.result) return { state: "result", bytes: new Uint8Array(engine.data, 0, length) };
    if (state === SqlState.tooLarge) return { state: "tooLarge", length };
    const text = sqlText(engine, length);
    const statement = Atomics.load(control, 2);
    // Out of memory, DuckDB may not be whole: the next query gets a new engine.
    if (SQL_BROKEN.test(text)) restartSqlEngine();
    return { state: "error", text, statement };
  },
};

// Last, so that everything above is in place before the first download.
const early = earlyStart.get("start")
  ? startEarly(
      new URL(earlyStart.get("start"), self.location.href).href,
      (earlyStart.get("fetch") || "").split(",").filter(Boolean),
    )
  : null;
// The data folder's map and handles are opened while Pyodide loads (data-folder.js).
importScripts("data-folder.js");
DataFolder.prepare();
