// ---------------------------------------------------------------------------------------
// State.

let pyodide = null;
let harness = null;
let interruptBuffer = null;
// Where the page writes the answer to `input()`: the state and the line's length (words),
// then the line (`bytes`); null without a shared buffer.
let inputAnswer = null;
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
// The import names of our package index's wheels (seaborn, requests, …): a run that
// imports one that is not installed installs it first.
let indexImports = "[]";
