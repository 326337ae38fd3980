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
