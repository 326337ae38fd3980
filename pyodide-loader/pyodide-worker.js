// The Pyodide Workbench worker: loads Pyodide and runs Python off the page's thread.
// It speaks JSON strings; the message types are defined in pyodide-loader/src/message.rs,
// and the Python side (the harness) arrives with the first message.
"use strict";

let pyodide = null;
let runHarness = null;
// Messages are handled one at a time, in order: code sent while Pyodide is still loading
// waits for it and then runs.
let queue = Promise.resolve();

const post = (message) => self.postMessage(JSON.stringify(message));
const describe = (error) => (error && error.message) || String(error);

self.onmessage = (event) => {
  const message = JSON.parse(event.data);
  queue = queue
    .then(() => handle(message))
    .catch((error) => post({ type: "fatal", message: describe(error) }));
};

async function handle(message) {
  switch (message.type) {
    case "init":
      return init(message);
    case "execute":
      return execute(message);
    default:
      throw new Error(`unknown message type ${message.type}`);
  }
}

async function init({ indexUrl, harness }) {
  const base = new URL(indexUrl, self.location.href).href;
  post({ type: "progress", message: "downloading the Python runtime" });
  importScripts(base + "pyodide.js");
  post({ type: "progress", message: "starting Python" });
  pyodide = await loadPyodide({ indexURL: base });
  const namespace = pyodide.globals.get("dict")();
  pyodide.runPython(harness, { globals: namespace, filename: "<workbench-harness>" });
  runHarness = namespace.get("run");
  post({ type: "ready", version: pyodide.version });
}

async function execute({ id, request }) {
  if (runHarness === null) {
    throw new Error("the Python runtime did not start");
  }
  const emit = (stream, text) => post({ type: "output", id, stream, text });
  const answer = await runHarness(request.code, JSON.stringify(request.context ?? {}), emit);
  post({ type: "result", id, result: JSON.parse(answer) });
}
