// ---------------------------------------------------------------------------------------
// Runs.

// The packages of our index (its wheelhouse: seaborn, requests, …) that `source` imports and
// that are not installed are installed before the run, with micropip, as Pyodide's own
// packages load: the user need not know which packages need `%pip` first.
async function installFromIndex(source) {
  const missing = JSON.parse(call("missing_imports", source, indexImports));
  if (missing.length === 0) return [];
  await preloading;
  await pyodide.loadPackage("micropip", { messageCallback: packagesNews, errorCallback: packagesProblem });
  const installed = [];
  for (const name of missing) {
    packagesNews(`Installing ${name} from the package index`);
    const answer = JSON.parse(await call("install", name, packageIndexUrl));
    if (answer.success) installed.push(name);
    else packagesProblem(answer.error);
  }
  return installed;
}

// What `input()` calls to ask the page for a line (the cell shows a box): blocks until the
// page answers through the shared buffer, and gives the line; `false` at the end of input
// (Ctrl+D); `null` when Stop (or the timeout) interrupted the wait — Python raises the one
// `KeyboardInterrupt` itself, where the code asked.
function askThePage(id) {
  return (prompt, password) => {
    const { words, bytes } = inputAnswer;
    Atomics.store(words, 0, InputState.waiting);
    post({ type: Kind.input, id, ask: { prompt, password } });
    for (;;) {
      const state = Atomics.load(words, 0);
      if (state === InputState.line) {
        const line = new TextDecoder().decode(bytes.slice(0, Atomics.load(words, 1)));
        Atomics.store(words, 0, InputState.waiting);
        return line;
      }
      if (state === InputState.end) {
        Atomics.store(words, 0, InputState.waiting);
        return false;
      }
      if (interruptBuffer[0] !== 0) {
        interruptBuffer[0] = 0;
        return null;
      }
      Atomics.wait(words, 0, InputState.waiting, 100);
    }
  };
}

async function execute({ id, request, askInput }) {
  try {
    // Code that uses SQL gets the engine started (and waits for it) before it runs; once SQL
    // was used, every run waits for the engine to be ready (after Stop, a new one starts). It
    // loads beside the packages below, not after them.
    const sql = SQL_WORDS.test(request.code) || (sqlEngine !== null && sqlEngine.failure === null);
    const engineReady = sql ? sqlEngineReady() : null;
    // Code without the word "import" imports nothing: skip the parse for imports. Pyodide's
    // parse gives up on IPython's lines (%time, !ls), so it reads the cell as the harness
    // will run it.
    const source = /\bimport\b/.test(request.code) ? call("python_source", request.code) : null;
    const loaded =
      source === null
        ? []
        : await pyodide.loadPackagesFromImports(source, {
            messageCallback: packagesNews,
            errorCallback: packagesProblem,
          });
    if (source !== null) loaded.push(...(await installFromIndex(source)));
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
  // `input()` reads the request's lines, or asks the page (a notebook cell), or has nothing.
  const stdin = JSON.stringify({ lines: Array.isArray(request.input) ? request.input : null });
  const ask = askInput && inputAnswer !== null ? askThePage(id) : null;
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
    result = JSON.parse(await call("run", request.code, context, emit, label, stdin, ask));
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
