// The workbench's service worker: after one visit the page works without the server.
//
// - Pyodide's files (/pyodide/v{version}/…, immutable by URL) and the wheelhouse are served
//   from the cache first: they never change for a given URL.
// - Everything else of the page (the HTML shell, the app's wasm and JavaScript, the editor,
//   the package index) goes to the network first and falls back to the cache, so a new
//   build is used as soon as the server is reachable.
// - The API is never cached: telemetry waits in the page's own queue instead.
// Cached responses keep their headers, COOP and COEP included, so the page stays
// cross-origin isolated offline and Stop keeps working.
"use strict";

const FILES = "workbench-pyodide-files-v1";
const SHELL = "workbench-shell-v1";
const KEEP = [FILES, SHELL];

self.addEventListener("install", () => self.skipWaiting());

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
  if (path.startsWith("/api/") || path === "/health" || path === "/metrics") {
    return;
  }
  const immutable =
    (path.startsWith("/pyodide/v") && !path.endsWith("/pyodide-lock.json")) ||
    path.startsWith("/wheelhouse/");
  event.respondWith(immutable ? cacheFirst(request) : networkFirst(request));
});

async function cacheFirst(request) {
  const cache = await caches.open(FILES);
  const cached = await cache.match(request);
  if (cached) {
    return cached;
  }
  const response = await fetch(request);
  if (response.ok) {
    await cache.put(request, response.clone());
  }
  return response;
}

async function networkFirst(request) {
  const cache = await caches.open(SHELL);
  try {
    const response = await fetch(request);
    // The package index's "not here" is an answer too: micropip then uses Pyodide's lock.
    const indexMiss = response.status === 404 && new URL(request.url).pathname.startsWith("/pypi/");
    if (response.ok || indexMiss) {
      await cache.put(request, response.clone());
    }
    return response;
  } catch (offline) {
    const cached = await cache.match(request);
    if (cached) {
      return cached;
    }
    // Any page of the app is the same shell.
    if (request.mode === "navigate") {
      const shell = (await cache.match("/")) || (await cache.match("/index.html"));
      if (shell) {
        return shell;
      }
    }
    throw offline;
  }
}
