// The Pyodide Workbench worker: loads Pyodide and runs Python off the page's thread.
// Messages are JSON strings, or {json, payload} when they carry bytes; the types are defined
// in pyodide-loader/src/message.rs. The Python side (the harness) arrives with "init".
"use strict";

let pyodide = null;
let harness = null;
let interruptBuffer = null;
let packageIndexUrl = "";
// Messages are handled one at a time, in order: code sent while Pyodide is still loading
// waits for it and then runs.
let queue = Promise.resolve();

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
    post({ type: "reply", id: message.id, body });
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
      await pyodide.loadPackage("micropip", { messageCallback: packagesNews });
      return JSON.parse(await call("install", message.package, packageIndexUrl));
    case "reset":
      return JSON.parse(call("reset"));
    default:
      throw new Error(`unknown message type ${message.type}`);
  }
}

async function init({ indexUrl, harness: source, packageIndexUrl: index, preload }, buffer) {
  const base = new URL(indexUrl, self.location.href).href;
  packageIndexUrl = new URL(index, self.location.href).href.replace(/%7B/g, "{").replace(/%7D/g, "}");
  post({ type: "progress", message: "downloading the Python runtime" });
  importScripts(base + "pyodide.js");
  post({ type: "progress", message: "starting Python" });
  pyodide = await loadPyodide({ indexURL: base });
  if (buffer) {
    interruptBuffer = new Uint8Array(buffer);
    pyodide.setInterruptBuffer(interruptBuffer);
  }
  const namespace = pyodide.globals.get("dict")();
  pyodide.runPython(source, { globals: namespace, filename: "<workbench-harness>" });
  harness = namespace;
  call("setup_runtime");
  post({ type: "ready", version: pyodide.version });
  // Plain Python is usable now; the usual analysis packages follow in the background, and
  // a run that imports them waits for them (loadPackagesFromImports shares Pyodide's lock).
  if (preload.length > 0) {
    pyodide
      .loadPackage(preload, { messageCallback: packagesNews, errorCallback: packagesNews })
      .then(() => packagesNews(""))
      .catch((error) => packagesNews(`could not preload packages: ${describe(error)}`));
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
    await pyodide.loadPackagesFromImports(request.code, {
      messageCallback: packagesNews,
      errorCallback: packagesNews,
    });
    packagesNews("");
  } catch (error) {
    packagesNews(`could not load the packages this code imports: ${describe(error)}`);
  }
  // Byte 1 says Stop was pressed for this run; re-arm Pyodide's byte 0 in case loading
  // packages already used it up, so the run stops at its first instruction.
  if (interruptBuffer && interruptBuffer[1]) {
    interruptBuffer[0] = 2;
  }
  const emit = (stream, text) => post({ type: "output", id, stream, text });
  const context = JSON.stringify(request.context ?? {});
  return JSON.parse(await call("run", request.code, context, emit));
}

async function loadFile({ name }, bytes) {
  const folder = harness.get("DATA_DIR");
  const path = `${folder}/${name}`;
  pyodide.FS.mkdirTree(folder);
  pyodide.FS.writeFile(path, new Uint8Array(bytes));
  if (/\.(csv|tsv)$/i.test(name)) {
    await pyodide.loadPackage("pandas", { messageCallback: packagesNews });
  }
  return JSON.parse(call("describe_file", path));
}
