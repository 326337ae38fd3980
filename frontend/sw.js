// The workbench's service worker: after one visit the page works without the server.
//
// The server stamps this file (GET /sw.js) with the build's identity, the Pyodide version
// and the list of the build's files, so every new build is a new service worker with new
// cache names:
// - The shell (the HTML and the build's wasm, JavaScript, CSS and worker) is cached whole
//   when the service worker installs and served from that cache first, for every page of
//   the app. A new build is fetched in the background on the next visit; once it is
//   cached it takes over, the old build's cache is deleted and the page offers a reload.
// - Pyodide's files (/pyodide/v{version}/…, immutable by URL) and wheels are cached as
//   they are used, per Pyodide version, and served from the cache first. Except
//   pyodide.asm.wasm: the page compiles it from the HTTP cache, where Chromium keeps the
//   compiled code for the next visit (not for a response a service worker hands over), so
//   it is left to the network and the cached copy is only for `?from=cache` (offline).
//   Files that Python's worker fetches while it starts (marked `X-Workbench-Start`) and
//   that are not cached yet are handed over at once and copied into the cache (from the
//   HTTP cache) once it says on the "workbench-files" channel that its preloads are done,
//   or after START_SECONDS: writing them as they passed cost the first visit under a new
//   service worker ≈ 0.7 s. Other files are cached before they are handed over.
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
const START_SECONDS = 30;

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
  if (path.startsWith("/pyodide/v") && path.endsWith("/pyodide.asm.wasm")) {
    const file = `${url.origin}${path}`;
    if (url.search === "?from=cache") {
      event.respondWith(cacheFirst(FILES, new Request(file), event));
    } else {
      event.waitUntil(keepCopy(FILES, file).catch(() => {}));
    }
  } else if (
    (path.startsWith("/pyodide/v") && !path.endsWith("/pyodide-lock.json")) ||
    path.startsWith("/wheelhouse/")
  ) {
    event.respondWith(cacheFirst(FILES, request, event));
  } else if (path.startsWith("/pypi/") || path.startsWith("/pyodide/")) {
    event.respondWith(networkFirst(INDEX, request));
  } else if (request.mode === "navigate") {
    // Every page of the app is the same shell.
    event.respondWith(shellFirst(request, "/"));
  } else if (SHELL_FILES.includes(path)) {
    event.respondWith(shellFirst(request, path));
  }
});

async function shellFirst(request, key) {
  // caches.match, not caches.open: an old worker finishing a request must not re-create its
  // build's cache after the new worker deleted it.
  const cached = await caches.match(key, { cacheName: SHELL });
  if (cached) {
    return cached;
  }
  return fetch(request);
}

async function cacheFirst(name, request, event) {
  const cache = await caches.open(name);
  // A request that asks past the caches ("reload": the worker found a damaged copy) gets the
  // server's copy, which replaces the kept one.
  const repair = request.cache === "reload";
  const cached = repair ? undefined : await cache.match(request);
  if (cached) {
    return cached;
  }
  const response = await fetch(request);
  if (response.ok) {
    if (request.headers.has("x-workbench-start") && !repair) {
      event.waitUntil(keepLater(name, request.url));
    } else {
      await cache.put(request, response.clone());
    }
  }
  return response;
}

// The files to copy into the caches once Python's worker has started, and when that is done.
let later = null;
new BroadcastChannel("workbench-files").onmessage = () => later?.over();

function keepLater(name, url) {
  if (later === null) {
    let over;
    const files = new Map();
    const timer = setTimeout(() => over(), START_SECONDS * 1000);
    const kept = new Promise((resolve) => {
      over = resolve;
    }).then(async () => {
      clearTimeout(timer);
      later = null;
      await Promise.all(
        Array.from(files, async ([url, name]) => {
          try {
            const response = await fetch(url);
            if (response.ok) {
              await (await caches.open(name)).put(url, response);
            }
          } catch (offline) {
            // Kept the next time it is used.
          }
        }),
      );
    });
    later = { files, kept, over };
  }
  later.files.set(url, name);
  return later.kept;
}

// Keeps a copy of a file the page fetches past the service worker, once.
async function keepCopy(name, url) {
  const cache = await caches.open(name);
  if (await cache.match(url)) {
    return;
  }
  // Only a page's start asks for it: keep it with the worker's files.
  await keepLater(name, url);
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
