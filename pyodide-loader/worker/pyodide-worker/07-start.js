// ---------------------------------------------------------------------------------------
// Start and preloads.

async function init({ indexUrl, harness: files, packageIndexUrl: index, preload, assist: assistSource, installable, sqlEngineUrl: sqlBase, inputAt }, buffer) {
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
    if (buffer.byteLength > inputAt + 8) {
      inputAnswer = { words: new Int32Array(buffer, inputAt, 2), bytes: new Uint8Array(buffer, inputAt + 8) };
    }
  }
  harness = importHarness(files);
  await mountFiles();
  call("setup_runtime");
  call("configure", packageIndexUrl);
  setUpAssistant(assistSource, installable);
  indexImports = JSON.stringify(installable ?? []);
  post({ type: Kind.ready, version: pyodide.version, startedEarly });
  // Plain Python is usable now; the usual analysis packages follow in the background, stage
  // by stage, and a run that imports them waits only for what it imports
  // (loadPackagesFromImports shares Pyodide's lock).
  preloading = preloadStages(preload);
}

// The harness package arrives as its files' sources: written where the matplotlib backend is
// kept too (on sys.path), imported (without writing bytecode beside it: it is compiled once
// per start either way), and used through its namespace.
function importHarness(files) {
  const folder = "/home/pyodide/.workbench";
  pyodide.FS.mkdirTree(`${folder}/workbench_harness`);
  for (const [name, source] of Object.entries(files)) {
    pyodide.FS.writeFile(`${folder}/workbench_harness/${name}`, source);
  }
  const scope = pyodide.globals.get("dict")();
  try {
    pyodide.runPython(
      `import sys
if ${JSON.stringify(folder)} not in sys.path:
    sys.path.append(${JSON.stringify(folder)})
writes, sys.dont_write_bytecode = sys.dont_write_bytecode, True
try:
    import workbench_harness
finally:
    sys.dont_write_bytecode = writes
namespace = vars(workbench_harness)`,
      { globals: scope, filename: "<workbench-harness>" },
    );
    return scope.get("namespace");
  } finally {
    scope.destroy();
  }
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
