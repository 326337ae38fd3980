// The SQL engine's worker: DuckDB-Wasm beside Python. Python's worker starts it the first
// time code uses SQL (pyodide-worker.js, "SQL"), hands it the data folder's files with each
// query, and waits for the answer in shared memory; Stop ends this worker. The vocabulary
// (`SqlAsk`, `SqlNews`, `SqlState`) is defined in pyodide-loader/src/sql.rs, whose tests check
// the tables below.
//
// DuckDB's synchronous bindings run here, on their own thread: a query reads the kept files
// in place (the OPFS files through synchronous access handles, straight into DuckDB's memory;
// a file still being copied through its `File`), and the result (Arrow IPC) is copied once,
// from DuckDB's memory into the shared buffer Python reads.
"use strict";

// One function scope: the bindings' script declares its own globals.
(() => {
  const SqlAsk = Object.freeze({ start: "start", query: "query" });
  const SqlNews = Object.freeze({ ready: "ready", failed: "failed" });
  // The control word's states (word 0 of the control buffer; word 1 holds the answer's length,
  // word 2 which statement failed).
  const SqlState = Object.freeze({ waiting: 0, result: 1, error: 2, tooLarge: 3 });

  // DuckDB's data protocols (`DuckDBDataProtocol`).
  const BROWSER_FILEREADER = 2;
  const BROWSER_FSACCESS = 3;
  // DataFrames named in a query are tables of this schema while it runs; the user's own tables
  // (`CREATE TABLE`) come first in the search path.
  const FRAMES = "workbench_frames";

  let base = "";
  let duckdb = null;
  let db = null;
  let connection = null;
  let control = null; // Int32Array over the shared control words
  let data = null; // the growable SharedArrayBuffer answers are written into

  const describe = (error) => (error && error.message) || String(error);

  function settle(state, length = 0) {
    Atomics.store(control, 1, length);
    Atomics.store(control, 0, state);
    Atomics.notify(control, 0);
  }

  // Bytes into the shared buffer (grown as needed), then the state.
  function answer(state, bytes) {
    if (data.byteLength < bytes.length) data.grow(bytes.length);
    new Uint8Array(data, 0, bytes.length).set(bytes);
    settle(state, bytes.length);
  }

  const answerText = (state, text) => answer(state, new TextEncoder().encode(text));

  // DuckDB reports some errors as JSON ({"exception_type": "Parser", "exception_message": …}).
  function errorText(error) {
    const text = describe(error);
    try {
      const parsed = JSON.parse(text);
      if (parsed && typeof parsed.exception_message === "string") {
        return `${parsed.exception_type || "SQL"} Error: ${parsed.exception_message}`;
      }
    } catch {}
    return text;
  }

  // ---------------------------------------------------------------------------------------
  // Start: the bindings (CommonJS, loaded as a classic script) and the exception-handling
  // WebAssembly build.

  async function start({ base: engineUrl, control: controlBuffer, data: dataBuffer }) {
    base = engineUrl;
    control = new Int32Array(controlBuffer);
    data = dataBuffer;
    try {
      // The bindings' own JavaScript Arrow library is not shipped: results leave as IPC bytes.
      self.module = { exports: {} };
      self.exports = self.module.exports;
      self.require = (name) => {
        if (name === "apache-arrow") return {};
        throw new Error(`${name} is not available in a browser`);
      };
      const script = new URL("duckdb-browser-blocking.js", base).href;
      const wasm = new URL("duckdb-eh.wasm", base).href;
      try {
        importScripts(script);
      } catch (error) {
        throw new Error(unreachableText(script, error));
      }
      duckdb = self.module.exports;
      // It would post progress to Python's worker, which does not expect it.
      duckdb.BROWSER_RUNTIME.progressUpdate = () => {};
      const features = await duckdb.getPlatformFeatures();
      if (!features.wasmExceptions) {
        throw new Error("SQL needs a browser with WebAssembly exception handling (Chrome 95, Firefox 100, Safari 15.2 or newer)");
      }
      const logger = { log() {} };
      db = await duckdb.createDuckDB({ mvp: { mainModule: wasm }, eh: { mainModule: wasm } }, logger, duckdb.BROWSER_RUNTIME);
      try {
        await db.instantiate(() => {});
      } catch (error) {
        throw new Error(unreachableText(wasm, error));
      }
      db.open({ query: { castBigIntToDouble: false, castDecimalToDouble: true, castTimestampToDate: false } });
      connection = db.connect()._conn;
      for (const statement of [
        // Nothing can be fetched from the network: extensions stay out, and so does the wait.
        "SET autoinstall_known_extensions = false",
        "SET autoload_known_extensions = false",
        "SET enable_progress_bar = false",
        `CREATE SCHEMA IF NOT EXISTS ${FRAMES}`,
        `SET search_path = 'main,${FRAMES}'`,
      ]) {
        db.runQuery(connection, statement);
      }
      started = true;
      self.postMessage({ type: SqlNews.ready, version: db.getVersion(), files: [script, wasm] });
    } catch (error) {
      startFailed(error);
    }
  }

  // A download of the WebAssembly that fails inside DuckDB's loader rejects a promise nothing
  // waits on: without this, the start would never end.
  let started = false;
  let failed = false;
  function startFailed(error) {
    if (!started && !failed) {
      failed = true;
      self.postMessage({ type: SqlNews.failed, message: describe(error) });
    }
  }
  self.addEventListener("unhandledrejection", (event) => {
    if (!started) {
      event.preventDefault();
      startFailed(new Error(unreachableText(new URL("duckdb-eh.wasm", base).href, event.reason)));
    }
  });

  function unreachableText(url, error) {
    const path = new URL(url).pathname;
    return (
      `the SQL engine (${path}) could not be loaded: the server cannot be reached and this browser ` +
      `has not kept a copy of it yet; connect to the network once more, run SQL once, and it works offline from then on (${describe(error)})`
    );
  }

  // ---------------------------------------------------------------------------------------
  // Queries.

  // The files a query may read, registered under their paths in the data folder: an OPFS file
  // by a synchronous handle of its own (closed when the query ends, so the file can be
  // deleted), a `File` still being copied as it is, bytes (a file Python wrote that is still in
  // memory) as a buffer. One that cannot be opened is left out (the query then says it found no
  // such file). `names` gets each name as it is registered, so that the query's end drops every
  // one.
  async function register(files, names) {
    for (const file of files) {
      try {
        let handle = null;
        if (file.handle) {
          try {
            handle = await file.handle.createSyncAccessHandle({ mode: "readwrite-unsafe" });
          } catch {
            // A browser without shared handles: the file as it is now.
            file.file = await file.handle.getFile();
          }
        }
        if (handle !== null) {
          names.push(file.path);
          try {
            db.registerFileHandle(file.path, handle, BROWSER_FSACCESS, true);
          } catch (error) {
            handle.close();
            throw error;
          }
        } else if (file.file) {
          names.push(file.path);
          db.registerFileHandle(file.path, file.file, BROWSER_FILEREADER, true);
        } else {
          names.push(file.path);
          db.registerFileBuffer(file.path, file.bytes);
        }
      } catch {
        // Left out; see above.
      }
    }
  }

  // Runs one statement; `take` gets a view of the Arrow IPC answer inside DuckDB's memory
  // (valid until this returns): one copy, into the shared buffer, instead of two.
  function run(text, take) {
    const mod = db.mod;
    const bytes = new TextEncoder().encode(text);
    const at = mod._malloc(Math.max(1, bytes.length));
    mod.HEAPU8.set(bytes, at);
    let status;
    let pointer;
    let length;
    try {
      [status, pointer, length] = duckdb.callSRet(mod, "duckdb_web_query_run_buffer", ["number", "number", "number"], [connection, at, bytes.length]);
    } finally {
      mod._free(at);
    }
    try {
      if (status !== 0) throw new Error(duckdb.readString(mod, pointer, length));
      if (take) take(mod.HEAPU8.subarray(pointer, pointer + length));
    } finally {
      duckdb.dropResponseBuffers(mod);
    }
  }

  const quoted = (name) => `"${name.replace(/"/g, '""')}"`;

  async function query({ statements, files, frames, limit }) {
    const names = [];
    const tables = [];
    let index = 0;
    try {
      await register(files, names);
      for (const frame of frames) {
        db.insertArrowFromIPCStream(connection, frame.bytes, { schema: FRAMES, name: frame.name, create: true });
        tables.push(frame.name);
      }
      for (index = 0; index < statements.length; index += 1) {
        const last = index === statements.length - 1;
        run(statements[index], (view) => {
          if (!last) return;
          if (view.length > limit) settle(SqlState.tooLarge, view.length);
          else answer(SqlState.result, view);
        });
      }
      if (statements.length === 0) answer(SqlState.result, new Uint8Array(0));
    } catch (error) {
      // Word 2: which statement failed.
      Atomics.store(control, 2, index);
      try {
        answerText(SqlState.error, errorText(error));
      } catch {
        settle(SqlState.error, 0);
      }
    } finally {
      for (const name of tables) {
        try {
          db.runQuery(connection, `DROP TABLE IF EXISTS ${FRAMES}.${quoted(name)}`);
        } catch {}
      }
      for (const name of names) {
        try {
          db.dropFile(name);
        } catch {}
      }
    }
  }

  self.onmessage = ({ data: message }) => {
    switch (message.type) {
      case SqlAsk.start:
        return start(message);
      case SqlAsk.query:
        return query(message);
      default:
        self.postMessage({ type: SqlNews.failed, message: `unknown message type ${message.type}` });
    }
  };
})();
