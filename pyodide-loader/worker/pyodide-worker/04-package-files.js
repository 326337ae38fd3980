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
