// The Pyodide Workbench worker: loads Pyodide and runs Python off the page's thread.
// Messages are JSON strings, or {json, payload} when they carry bytes; the types are defined
// in pyodide-loader/src/message.rs. The Python side (the harness) arrives with "init".
//
// One classic script, joined at set-up from pyodide-loader/worker/pyodide-worker/*.js in
// name order (cargo xtask setup; one request, as a worker's script must be): the message
// kinds · state · early start · package files (fetch, integrity, Pyodide's WebAssembly,
// offline) · unpacking wheels · dispatch · start and preloads · files · runs · the editor's
// questions · SQL · the early start's kick-off. The parts share one scope. The data folder's
// file system is data-folder.js, the SQL engine's worker sql-worker.js.
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
  input: "input",
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
  linkFolder: "linkFolder",
});
// The state of `input()`'s answer in the interrupt buffer (pyodide-loader/src/interrupt.rs).
const InputState = Object.freeze({
  waiting: 0,
  line: 1,
  end: 2,
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
