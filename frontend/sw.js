// The workbench's service worker: after one visit the page works without the server.
//
// The server stamps this file (GET /sw.js) with the build's identity, the Pyodide version
// and the list of the build's files, so every new build is a new service worker with new
// cache names:
// - The shell (the HTML and the build's wasm, JavaScript, CSS and worker) is cached whole
//   when the service worker installs and served from that cache first, for every page of
//   the app. A new build is fetched in the background on the next visit; once it is
//   cached it takes over, the old build's cache is deleted and the page offers a reload.
// - Pyodide's files (/pyodide/v{version}/…, immutable by URL), the SQL engine's
//   (/duckdb/v{version}/…), the chart renderers' (/plotly/v…, /vega/v…, /vega-lite/v…,
//   /vega-embed/v…: fetched by the page when a chart first shows, and listed to keep like
//   the worker's) and wheels are cached as they are used, per Pyodide version, and served
//   from the cache first. Except
//   pyodide.asm.wasm: the page compiles it from the HTTP cache, where Chromium keeps the
//   compiled code for the next visit (not for a response a service worker hands over), so
//   it is left to the network and the cached copy is only for `?from=cache` (offline).
//   Files that Python's worker fetches while it starts (marked `X-Workbench-Start`) are
//   handed over without being cached then (writing ≈ 60 MB into the cache as they passed
//   cost the first visit ≈ 0.7 s): once its preloads are done, and after each install or
//   package load, the worker lists every file it used (`{keep: [...]}`, relayed by the page
//   as a message) and this worker copies those it lacks from the HTTP cache. That list is
//   also what makes one visit enough: a first visit's Python worker starts before this
//   service worker controls the page, so its downloads pass it by.
// - The package index (/pypi/…) goes to the network first and falls back to the cache.
// - The API is never cached: telemetry waits in the page's own queue instead.
// Cached responses keep their headers, COOP and COEP included, so the page stays
// cross-origin isolated offline and Stop keeps working.
"use strict";

const BUILD = "__WORKBENCH_BUILD__";
const PYODIDE = "__WORKBENCH_PYODIDE__";
const SHELL_FILES = ["__WORKBENCH_SHELL_FILES__"];
// Served unstamped (not by the workbench's server): cache nothing up front.
const STAMPED = !BUILD.startsWith("__");

const SHELL = `workbench-shell-${BUILD}`;
const FILES = `workbench-files-pyodide-${PYODIDE}`;
const INDEX = "workbench-package-index";
const KEEP = [SHELL, FILES, INDEX];

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      if (STAMPED) {
        const cache = await caches.open(SHELL);
        await cache.addAll(SHELL_FILES);
      }
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (!KEEP.includes(name)) {
          await caches.delete(name);
        }
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) {
    return;
  }
  const path = url.pathname;
  if (path.startsWith("/api/") || path === "/health" || path === "/metrics" || path === "/sw.js") {
    return;
  }
  const cache = cacheFor(path);
  if (path.startsWith("/pyodide/v") && path.endsWith("/pyodide.asm.wasm")) {
    if (url.search === "?from=cache") {
      event.respondWith(cacheFirst(FILES, new Request(`${url.origin}${path}`)));
    }
  } else if (cache === FILES) {
    event.respondWith(cacheFirst(FILES, request));
  } else if (cache === INDEX) {
    event.respondWith(networkFirst(INDEX, request));
  } else if (request.mode === "navigate") {
    // Every page of the app is the same shell.
    event.respondWith(shellFirst(request, "/"));
  } else if (SHELL_FILES.includes(path)) {
    event.respondWith(shellFirst(request, path));
  }
});

// The folders of files that never change for a URL (the server's are the same): Pyodide's,
// the SQL engine's (DuckDB-Wasm) and the chart renderers' (plotly.js; vega, vega-lite and
// vega-embed, for altair).
const VERSIONED = ["/pyodide/v", "/duckdb/v", "/plotly/v", "/vega/v", "/vega-lite/v", "/vega-embed/v"];

// Which cache keeps a file of this path, if any: the versioned files above and wheels in
// FILES; the
// package index's answers and Pyodide's lock (which may change) in INDEX.
function cacheFor(path) {
  if (path.startsWith("/pypi/") || (path.startsWith("/pyodide/") && path.endsWith("/pyodide-lock.json"))) {
    return INDEX;
  }
  if (VERSIONED.some((folder) => path.startsWith(folder)) || path.startsWith("/wheelhouse/")) {
    return FILES;
  }
  return null;
}

// The files Python's worker used, which a later offline visit needs (the page relays the
// worker's list): those not kept yet are copied, from the HTTP cache where it has them.
self.addEventListener("message", (event) => {
  const keep = event.data?.keep;
  if (Array.isArray(keep)) {
    event.waitUntil(keepAll(keep));
  }
});

async function keepAll(urls) {
  await Promise.all(
    urls.map(async (url) => {
      const target = new URL(url, self.location.href);
      const name = target.origin === self.location.origin ? cacheFor(target.pathname) : null;
      if (name === null) {
        return;
      }
      const cache = await caches.open(name);
      if (await cache.match(target.href)) {
        return;
      }
      try {
        const response = await fetch(target.href);
        if (response.ok || (name === INDEX && response.status === 404)) {
          await cache.put(target.href, response);
        }
      } catch (offline) {
        // Kept the next time the worker lists it.
      }
    }),
  );
}

async function shellFirst(request, key) {
  // caches.match, not caches.open: an old worker finishing a request must not re-create its
  // build's cache after the new worker deleted it.
  const cached = await caches.match(key, { cacheName: SHELL });
  if (cached) {
    return cached;
  }
  return fetch(request);
}

async function cacheFirst(name, request) {
  const cache = await caches.open(name);
  // A request that asks past the caches ("reload": the worker found a damaged copy) gets the
  // server's copy, which replaces the kept one.
  const repair = request.cache === "reload";
  const cached = repair ? undefined : await cache.match(request);
  if (cached) {
    return cached;
  }
  const response = await fetch(request);
  // Files of Python's start are kept when its worker lists them, after the start.
  if (response.ok && (repair || !request.headers.has("x-workbench-start"))) {
    await cache.put(request, response.clone());
  }
  return response;
}

async function networkFirst(name, request) {
  const cache = await caches.open(name);
  try {
    const response = await fetch(request);
    // The package index's "not here" is an answer too: micropip then uses Pyodide's lock.
    if (response.ok || response.status === 404) {
      await cache.put(request, response.clone());
    }
    return response;
  } catch (offline) {
    const cached = await cache.match(request);
    if (cached) {
      return cached;
    }
    throw offline;
  }
}
