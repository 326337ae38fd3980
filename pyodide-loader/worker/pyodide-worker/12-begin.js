// Last, so that everything above is in place before the first download.
const early = earlyStart.get("start")
  ? startEarly(
      new URL(earlyStart.get("start"), self.location.href).href,
      (earlyStart.get("fetch") || "").split(",").filter(Boolean),
    )
  : null;
// The data folder's map and handles are opened while Pyodide loads (data-folder.js).
importScripts("data-folder.js");
DataFolder.prepare();
