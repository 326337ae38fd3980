// The data folder: files kept in the browser's Origin Private File System (OPFS) and read in
// place by Python. Loaded by pyodide-worker.js (importScripts); defines `DataFolder`.
//
// Where bytes live: every file is one OPFS file named by an opaque id in the folder
// `workbench-data/`; `files.json` beside them maps paths (`sales.csv`, `trips/2024.csv`) to
// ids. Python sees the folder as an Emscripten file system whose reads and writes go straight
// to OPFS synchronous access handles: nothing is held in Python's memory, and start-up reads
// the map and opens a handle per file — never the bytes. A file added by the page (a `File` or
// `Blob`) is readable at once from the `File` itself (FileReaderSync) while a background task
// copies it into OPFS in chunks; then reads move to the OPFS copy, which survives reloads.
//
// Handles are opened `readwrite-unsafe` where the browser has it, so a second tab can open the
// same files; the map is re-read before each change and written back at once, so two tabs'
// changes both survive.
"use strict";

const DataFolder = (() => {
  const FOLDER = "workbench-data";
  // The map is written to these two files in turn, each write numbered, and read from the
  // newest whole one: a write cut short (the worker ended, the browser crashed) leaves the
  // other intact.
  const MAPS = ["files.json", "files.1.json"];
  // Spare OPFS files with open handles, so that a file Python creates (a synchronous call)
  // has storage at once; refilled between requests.
  const SPARES = 3;
  // Reads from a `File` still being copied go through a block this large (FileReaderSync's
  // cost is per call).
  const BLOCK = 4 << 20;
  const COPY_CHUNK = 8 << 20;
  const FILE_MODE = 0o100666;
  const DIR_MODE = 0o40777;

  let FS = null;
  let ERRNO = null;
  let directory = null; // the OPFS folder's handle
  let mapHandles = null; // the two map files' sync handles
  // Set when neither map file could be read although one has bytes: then no OPFS file is
  // taken for an orphan and removed.
  let mapBroken = false;
  let root = null; // the mounted root node
  let prepared = null; // what `prepare` found: {entries, folders, dropped, legacy}
  const spares = [];
  let refilling = null;
  let news = () => {};
  let incoming = false;
  // Whether files or folders were added, removed or renamed since the page last heard.
  let changed = false;

  const randomId = () =>
    [...crypto.getRandomValues(new Uint8Array(12))].map((b) => b.toString(16).padStart(2, "0")).join("");

  async function openHandle(fileHandle) {
    try {
      return await fileHandle.createSyncAccessHandle({ mode: "readwrite-unsafe" });
    } catch (error) {
      if (error && error.name === "NoModificationAllowedError") throw error;
      return await fileHandle.createSyncAccessHandle();
    }
  }

  // ---------------------------------------------------------------------------------------
  // The map of paths to ids, read and written through its own handle.

  function readOne(handle) {
    const size = handle.getSize();
    if (size === 0) return { empty: true };
    const bytes = new Uint8Array(size);
    handle.read(bytes, { at: 0 });
    try {
      const map = JSON.parse(new TextDecoder().decode(bytes));
      if (typeof map.seq !== "number" || typeof map.files !== "object") return {};
      map.folders ??= [];
      return { map };
    } catch {
      return {};
    }
  }

  // The newest whole map, and which file holds it.
  function readNewest() {
    const read = mapHandles.map(readOne);
    let newest = null;
    read.forEach(({ map }, index) => {
      if (map && (newest === null || map.seq > newest.map.seq)) newest = { map, index };
    });
    if (newest !== null) return newest;
    if (!read.every((one) => one.empty)) mapBroken = true;
    return { map: { seq: 0, files: {}, folders: [] }, index: 1 };
  }

  function readMap() {
    return readNewest().map;
  }

  // Applies one change to the map as it is on disk now (another tab may have changed it),
  // and writes it to the older of the two files.
  function changeMap(change) {
    if (mapHandles === null) return;
    changed = true;
    const { map, index } = readNewest();
    change(map);
    map.seq += 1;
    const bytes = new TextEncoder().encode(JSON.stringify(map));
    const handle = mapHandles[1 - index];
    try {
      handle.truncate(0);
      handle.write(bytes, { at: 0 });
      handle.flush();
    } catch (error) {
      // No space even for the map: the other copy still holds the previous one, and the
      // change holds for this visit.
      news({ kind: "unavailable", text: `the list of kept files could not be saved: ${(error && error.message) || error}` });
    }
  }

  // ---------------------------------------------------------------------------------------
  // Where a file's bytes are: an OPFS handle, a `File` being copied, or (when no spare handle
  // was ready) memory until the run ends.

  class Kept {
    constructor(id, fileHandle, handle) {
      this.id = id;
      this.fileHandle = fileHandle;
      this.handle = handle;
      this.dirty = false;
    }
    size() {
      return this.handle.getSize();
    }
    read(view, at) {
      return this.handle.read(view, { at });
    }
    write(view, at) {
      this.dirty = true;
      return this.handle.write(view, { at });
    }
    truncate(size) {
      this.dirty = true;
      this.handle.truncate(size);
    }
    flush() {
      if (this.dirty) {
        this.handle.flush();
        this.dirty = false;
      }
    }
    async blob() {
      this.flush();
      return this.fileHandle.getFile();
    }
    release() {
      try {
        this.handle.close();
      } catch {}
      removeEntry(this.id);
    }
  }

  // A `File` the page handed over, readable at once; `kept` receives its copy.
  class Copying {
    constructor(source, kept) {
      this.source = source;
      this.kept = kept;
      this.id = kept.id;
      this.copied = 0;
      this.block = null;
      this.blockAt = -1;
      this.cancelled = false;
    }
    size() {
      return this.source.size;
    }
    read(view, at) {
      if (at >= this.source.size) return 0;
      let done = 0;
      while (done < view.length && at + done < this.source.size) {
        const position = at + done;
        const start = position - (position % BLOCK);
        if (this.blockAt !== start) {
          this.block = new Uint8Array(new FileReaderSync().readAsArrayBuffer(this.source.slice(start, start + BLOCK)));
          this.blockAt = start;
        }
        const from = position - start;
        const n = Math.min(view.length - done, this.block.length - from);
        if (n <= 0) break;
        view.set(this.block.subarray(from, from + n), done);
        done += n;
      }
      return done;
    }
    // Writing to a file still being copied: finish the copy here first (rare: Python
    // overwriting a file just added).
    finish() {
      const reader = new FileReaderSync();
      while (this.copied < this.source.size) {
        const chunk = new Uint8Array(reader.readAsArrayBuffer(this.source.slice(this.copied, this.copied + COPY_CHUNK)));
        this.kept.handle.write(chunk, { at: this.copied });
        this.copied += chunk.length;
      }
      this.kept.handle.flush();
      this.cancelled = true;
      return this.kept;
    }
    flush() {}
    async blob() {
      return this.source;
    }
    release() {
      this.cancelled = true;
      this.kept.release();
    }
  }

  class InMemory {
    constructor() {
      this.bytes = new Uint8Array(0);
      this.length = 0;
      this.id = null;
    }
    size() {
      return this.length;
    }
    read(view, at) {
      const n = Math.max(0, Math.min(view.length, this.length - at));
      view.set(this.bytes.subarray(at, at + n));
      return n;
    }
    grow(size) {
      if (size > this.bytes.length) {
        const bigger = new Uint8Array(Math.max(size, this.bytes.length * 2, 4096));
        bigger.set(this.bytes.subarray(0, this.length));
        this.bytes = bigger;
      }
    }
    write(view, at) {
      this.grow(at + view.length);
      this.bytes.set(view, at);
      this.length = Math.max(this.length, at + view.length);
      return view.length;
    }
    truncate(size) {
      this.grow(size);
      if (size > this.length) this.bytes.fill(0, this.length, size);
      this.length = size;
    }
    flush() {}
    async blob() {
      return new Blob([this.bytes.slice(0, this.length)]);
    }
    release() {}
  }

  function removeEntry(id) {
    if (directory && id) directory.removeEntry(id).catch(() => {});
  }

  // ---------------------------------------------------------------------------------------
  // The Emscripten file system.

  const errno = (name) => new FS.ErrnoError(ERRNO[name]);
  // A browser error inside a file operation, as the errno Python will see.
  function failed(error) {
    if (error instanceof FS.ErrnoError) return error;
    if (error && error.name === "QuotaExceededError") return errno("ENOSPC");
    return errno("EIO");
  }

  function pathOf(node) {
    const parts = [];
    for (let current = node; current !== root; current = current.parent) parts.unshift(current.name);
    return parts.join("/");
  }

  function makeNode(parent, name, mode, store) {
    const node = FS.createNode(parent, name, mode, 0);
    node.node_ops = nodeOps;
    node.stream_ops = streamOps;
    node.timestamp = Date.now();
    if (FS.isDir(mode)) {
      node.contents = {};
    } else {
      node.store = store;
    }
    if (parent !== null && parent !== node) {
      parent.contents[name] = node;
      parent.timestamp = node.timestamp;
    }
    return node;
  }

  function takeSpare() {
    const spare = spares.shift();
    refillSoon();
    return spare ?? null;
  }

  // The node's storage, to write to: a file still being copied in is copied first.
  function writable(node) {
    if (node.store instanceof Copying) {
      node.store = node.store.finish();
      changeMap((map) => {
        const entry = map.files[pathOf(node)];
        if (entry) delete entry.copying;
      });
    }
    return node.store;
  }

  function forget(node) {
    if (FS.isDir(node.mode)) {
      for (const child of Object.values(node.contents)) forget(child);
    } else {
      node.store.release();
      node.released = true;
    }
  }

  const nodeOps = {
    getattr(node) {
      const size = FS.isDir(node.mode) ? 4096 : sizeOf(node);
      const time = new Date(node.timestamp);
      return {
        dev: 7,
        ino: node.id,
        mode: node.mode,
        nlink: 1,
        uid: 0,
        gid: 0,
        rdev: 0,
        size,
        atime: time,
        mtime: time,
        ctime: time,
        blksize: 4096,
        blocks: Math.ceil(size / 4096),
      };
    },
    setattr(node, attr) {
      if (attr.mode !== undefined) node.mode = attr.mode;
      if (attr.timestamp !== undefined) node.timestamp = attr.timestamp;
      if (attr.size !== undefined && !FS.isDir(node.mode)) {
        try {
          writable(node).truncate(attr.size);
        } catch (error) {
          throw failed(error);
        }
      }
    },
    lookup() {
      throw errno("ENOENT");
    },
    mknod(parent, name, mode) {
      if (FS.isDir(mode)) {
        const node = makeNode(parent, name, DIR_MODE, null);
        const path = pathOf(node);
        changeMap((map) => {
          if (!map.folders.includes(path)) map.folders.push(path);
        });
        return node;
      }
      if (!FS.isFile(mode)) throw errno("EPERM");
      const spare = takeSpare();
      const node = makeNode(parent, name, FILE_MODE, spare ?? new InMemory());
      if (spare) {
        const path = pathOf(node);
        // A file being added is marked until its copy is done, so that a copy cut short (the
        // page closed) is never taken for the whole file.
        const entry = incoming ? { id: spare.id, copying: true } : { id: spare.id };
        changeMap((map) => {
          map.files[path] = entry;
        });
      }
      return node;
    },
    rename(node, newDir, newName) {
      const existing = newDir.contents[newName];
      if (existing) {
        if (FS.isDir(existing.mode) && Object.keys(existing.contents).length > 0) throw errno("ENOTEMPTY");
        forget(existing);
        FS.hashRemoveNode(existing);
        delete newDir.contents[newName];
      }
      const from = pathOf(node);
      delete node.parent.contents[node.name];
      node.name = newName;
      node.parent = newDir;
      newDir.contents[newName] = node;
      newDir.timestamp = Date.now();
      const to = pathOf(node);
      changeMap((map) => {
        const moved = (path) => (path === from ? to : path.startsWith(from + "/") ? to + path.slice(from.length) : null);
        const files = {};
        for (const [path, entry] of Object.entries(map.files)) {
          if (path === to && !moved(path)) continue;
          files[moved(path) ?? path] = entry;
        }
        map.files = files;
        map.folders = [...new Set(map.folders.map((path) => moved(path) ?? path))];
      });
    },
    unlink(parent, name) {
      const node = parent.contents[name];
      const path = pathOf(node);
      forget(node);
      delete parent.contents[name];
      parent.timestamp = Date.now();
      changeMap((map) => {
        delete map.files[path];
      });
    },
    rmdir(parent, name) {
      const node = parent.contents[name];
      if (Object.keys(node.contents).length > 0) throw errno("ENOTEMPTY");
      const path = pathOf(node);
      delete parent.contents[name];
      parent.timestamp = Date.now();
      changeMap((map) => {
        map.folders = map.folders.filter((folder) => folder !== path);
      });
    },
    readdir(node) {
      return [".", "..", ...Object.keys(node.contents)];
    },
    symlink() {
      throw errno("EPERM");
    },
  };

  function sizeOf(node) {
    if (node.released) return 0;
    try {
      return node.store.size();
    } catch (error) {
      throw failed(error);
    }
  }

  // The paths the page is deleting, announced through the interrupt buffer (see
  // pyodide-loader/src/interrupt.rs): a run reading one fails now, not after it ends.
  let deletions = null;
  let deletionsSeen = 0;
  let deleting = new Set();
  function watchDeletions(buffer, at) {
    deletions = { words: new Int32Array(buffer, at, 2), bytes: new Uint8Array(buffer, at + 8) };
  }
  function beingDeleted(node) {
    if (deletions === null) return false;
    const generation = Atomics.load(deletions.words, 0);
    if (generation !== deletionsSeen) {
      deletionsSeen = generation;
      const length = Atomics.load(deletions.words, 1);
      const text = new TextDecoder().decode(deletions.bytes.slice(0, length));
      deleting = new Set(text.split("\n").filter(Boolean));
    }
    return deleting.size > 0 && deleting.has(pathOf(node));
  }

  function live(node) {
    // A file deleted while a stream on it was open: its bytes are gone.
    if (node.released || beingDeleted(node)) throw errno("EIO");
  }

  const streamOps = {
    read(stream, buffer, offset, length, position) {
      live(stream.node);
      try {
        return stream.node.store.read(buffer.subarray(offset, offset + length), position);
      } catch (error) {
        throw failed(error);
      }
    },
    write(stream, buffer, offset, length, position) {
      live(stream.node);
      if (length === 0) return 0;
      try {
        const written = writable(stream.node).write(buffer.subarray(offset, offset + length), position);
        stream.node.timestamp = Date.now();
        return written;
      } catch (error) {
        throw failed(error);
      }
    },
    llseek(stream, offset, whence) {
      let position = offset;
      if (whence === 1) position += stream.position;
      else if (whence === 2 && FS.isFile(stream.node.mode)) position += sizeOf(stream.node);
      if (position < 0) throw errno("EINVAL");
      return position;
    },
    close(stream) {
      const node = stream.node;
      if (!FS.isFile(node.mode) || node.released) return;
      try {
        node.store.flush();
      } catch {}
    },
    fsync(stream) {
      try {
        stream.node.store.flush();
      } catch (error) {
        throw failed(error);
      }
    },
  };

  const DataFS = {
    mount() {
      return makeNode(null, "/", DIR_MODE, null);
    },
  };

  // ---------------------------------------------------------------------------------------
  // Spares, and files that went to memory.

  async function makeSpare() {
    const id = randomId();
    const fileHandle = await directory.getFileHandle(id, { create: true });
    const handle = await openHandle(fileHandle);
    return new Kept(id, fileHandle, handle);
  }

  function refillSoon() {
    if (refilling !== null || directory === null) return refilling;
    refilling = (async () => {
      try {
        while (spares.length < SPARES) spares.push(await makeSpare());
      } catch {
        // No storage: files Python creates live in memory until one can be had.
      } finally {
        refilling = null;
      }
    })();
    return refilling;
  }

  function eachFile(node, visit) {
    for (const child of Object.values(node.contents)) {
      if (FS.isDir(child.mode)) eachFile(child, visit);
      else visit(child);
    }
  }

  // ---------------------------------------------------------------------------------------
  // Adding a file: readable at once, copied into OPFS in the background.

  async function copy(node, path) {
    const store = node.store;
    let last = 0;
    try {
      while (store.copied < store.source.size) {
        if (store.cancelled || node.store !== store) return;
        const chunk = new Uint8Array(await store.source.slice(store.copied, store.copied + COPY_CHUNK).arrayBuffer());
        if (store.cancelled || node.store !== store) return;
        store.kept.handle.write(chunk, { at: store.copied });
        store.copied += chunk.length;
        if (performance.now() - last > 250) {
          last = performance.now();
          news({ kind: "keeping", name: path, done: store.copied, total: store.source.size });
        }
      }
      store.kept.handle.flush();
      if (node.store !== store) return;
      node.store = store.kept;
      const now = pathOf(node);
      changeMap((map) => {
        const entry = map.files[now];
        if (entry && entry.id === store.kept.id) delete entry.copying;
      });
      news({ kind: "kept", name: now });
    } catch (error) {
      if (node.store !== store || node.released) return;
      const name = pathOf(node);
      const text = await lossText(name, store.source.size, error);
      try {
        FS.unlink(`${mountPoint}/${name}`);
      } catch {}
      news({ kind: "notKept", name, text });
    }
  }

  async function lossText(name, size, error) {
    if (error && error.name === "QuotaExceededError") {
      const left = await spaceLeft();
      const room =
        left === null
          ? "the browser did not say how much space is left"
          : left < size
            ? `${bytesText(left)} left`
            : `the browser refused the space, though it reports ${bytesText(left)} left`;
      return `${name} (${bytesText(size)}) does not fit in this browser's storage: ${room}. Free some space (delete files you no longer need) and add it again`;
    }
    if (error && error.name === "NotReadableError") {
      return `${name} changed on disk after it was added (or cannot be read any more): add it again`;
    }
    return `${name} could not be kept: ${(error && error.message) || error}`;
  }

  async function spaceLeft() {
    try {
      const { quota, usage } = await navigator.storage.estimate();
      return Math.max(0, quota - usage);
    } catch {
      return null;
    }
  }

  // As the page writes sizes (frontend/src/format.rs): `250000000` → `238.4 MB`.
  function bytesText(bytes) {
    if (bytes < 1024) return `${bytes} B`;
    const units = ["KB", "MB", "GB", "TB"];
    let value = bytes / 1024;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return `${value.toFixed(1)} ${units[unit]}`;
  }

  let mountPoint = "";

  function replaceAt(path) {
    try {
      const node = FS.lookupPath(path).node;
      if (FS.isDir(node.mode)) throw new Error(`${path} is a folder`);
      FS.unlink(path);
    } catch (error) {
      if (!(error instanceof FS.ErrnoError)) throw error;
    }
  }

  function parentOf(path) {
    return path.slice(0, path.lastIndexOf("/"));
  }

  // OPFS files no path names: spares of a tab that closed, copies cut short. Another open
  // tab's spares are kept by their open handles (removing them fails).
  async function removeOrphans() {
    if (mapBroken) return;
    try {
      const named = new Set(Object.values(readMap().files).map((entry) => entry.id));
      for (const spare of spares) named.add(spare.id);
      if (root !== null) eachFile(root, (node) => node.store.id && named.add(node.store.id));
      for await (const name of directory.keys()) {
        if (!MAPS.includes(name) && !named.has(name)) await directory.removeEntry(name).catch(() => {});
      }
    } catch {}
  }

  // ---------------------------------------------------------------------------------------
  // The folder from IDBFS (versions before 2026-12 kept files there): moved once.

  async function legacyFiles(pyodide, folder) {
    let names = [];
    try {
      names = (await indexedDB.databases()).map((database) => database.name);
    } catch {
      return [];
    }
    if (!names.includes(folder)) return [];
    const files = [];
    FS.mkdirTree(folder);
    FS.mount(FS.filesystems.IDBFS, {}, folder);
    try {
      await new Promise((resolve, reject) => FS.syncfs(true, (error) => (error ? reject(error) : resolve())));
      const walk = (dir, prefix) => {
        for (const name of FS.readdir(dir)) {
          if (name === "." || name === "..") continue;
          const path = `${dir}/${name}`;
          const stat = FS.stat(path);
          if (FS.isDir(stat.mode)) walk(path, `${prefix}${name}/`);
          else files.push({ path: `${prefix}${name}`, bytes: FS.readFile(path) });
        }
      };
      walk(folder, "");
    } finally {
      FS.unmount(folder);
    }
    return files;
  }

  // ---------------------------------------------------------------------------------------
  // The API the worker uses.

  return {
    // Opens the OPFS folder, reads the map and opens a handle per file: no file's bytes are
    // read. Runs while Pyodide loads.
    prepare() {
      prepared = (async () => {
        const opfsRoot = await navigator.storage.getDirectory();
        directory = await opfsRoot.getDirectoryHandle(FOLDER, { create: true });
        mapHandles = await Promise.all(
          MAPS.map(async (name) => openHandle(await directory.getFileHandle(name, { create: true }))),
        );
        const map = readMap();
        const entries = [];
        const dropped = [];
        await Promise.all(
          Object.entries(map.files).map(async ([path, entry]) => {
            if (entry.copying) {
              // Cut short when its page closed, unless another tab is copying it now (its
              // open handle keeps the file from being removed).
              try {
                await directory.removeEntry(entry.id);
              } catch (error) {
                if (error && error.name === "NoModificationAllowedError") return;
              }
              dropped.push(path);
              return;
            }
            try {
              const fileHandle = await directory.getFileHandle(entry.id);
              entries.push({ path, store: new Kept(entry.id, fileHandle, await openHandle(fileHandle)) });
            } catch {
              dropped.push(path);
            }
          }),
        );
        if (dropped.length > 0) {
          changeMap((map) => {
            for (const path of dropped) delete map.files[path];
          });
        }
        await refillSoon();
        setTimeout(removeOrphans, 5000);
        return { entries, folders: map.folders, dropped };
      })();
      prepared.catch(() => {});
      return prepared;
    },

    // Mounts the folder at `folder` for Python. `onNews` hears about files being kept.
    async mount(pyodide, folder, onNews) {
      FS = pyodide.FS;
      ERRNO = pyodide.ERRNO_CODES;
      news = onNews;
      mountPoint = folder;
      const legacy = await legacyFiles(pyodide, folder);
      let found;
      try {
        found = await (prepared ?? this.prepare());
      } catch (error) {
        // No OPFS (a private window of some browsers): the folder lives in memory.
        directory = null;
        mapHandles = null;
        found = { entries: [], folders: [], dropped: [] };
        news({ kind: "unavailable", text: `files will not be kept across visits: ${(error && error.message) || error}` });
      }
      FS.mkdirTree(folder);
      root = FS.mount(DataFS, {}, folder);
      const folderNode = (path) => {
        let node = root;
        for (const part of path.split("/").filter(Boolean)) {
          node = node.contents[part] ?? makeNode(node, part, DIR_MODE, null);
        }
        return node;
      };
      for (const path of found.folders) folderNode(path);
      for (const { path, store } of found.entries) {
        const parent = folderNode(parentOf("/" + path));
        const name = path.slice(path.lastIndexOf("/") + 1);
        if (parent.contents[name]) {
          store.handle.close();
          continue;
        }
        makeNode(parent, name, FILE_MODE, store);
      }
      for (const { path, bytes } of legacy) {
        FS.mkdirTree(`${folder}/${parentOf("/" + path)}`);
        FS.writeFile(`${folder}/${path}`, bytes);
      }
      if (legacy.length > 0) {
        await this.settle();
        indexedDB.deleteDatabase(folder);
      }
      for (const path of found.dropped) {
        news({ kind: "notKept", name: path, text: `${path} was still being copied when the page closed: add it again` });
      }
      return found;
    },

    // Keeps `blob` at `path` (relative to the folder), replacing a file there: readable at
    // once, copied into OPFS in the background (news: keeping…, kept or notKept).
    async keep(path, blob) {
      if (directory !== null) {
        const left = await spaceLeft();
        if (left !== null && blob.size > left) {
          throw new Error(await lossText(path, blob.size, { name: "QuotaExceededError" }));
        }
        if (spares.length === 0) await refillSoon();
      }
      const full = `${mountPoint}/${path}`;
      replaceAt(full);
      FS.mkdirTree(parentOf(full));
      incoming = blob.size > 0;
      let node;
      try {
        node = FS.mknod(full, FILE_MODE, 0);
      } finally {
        incoming = false;
      }
      if (node.store instanceof Kept) {
        // The whole size is claimed at once, so a file that does not fit is refused now,
        // not part-way through its copy.
        try {
          node.store.handle.truncate(blob.size);
        } catch (error) {
          try {
            FS.unlink(full);
          } catch {}
          throw new Error(await lossText(path, blob.size, error));
        }
        const store = new Copying(blob, node.store);
        node.store = store;
        if (blob.size === 0) {
          node.store = store.kept;
        } else {
          copy(node, path);
        }
      } else {
        // No OPFS: the file is read in place from the `File` for this visit only.
        node.store = Object.assign(Object.create(Copying.prototype), { source: blob, block: null, blockAt: -1 });
        node.store.release = () => {};
      }
      return node;
    },

    // Writes bytes the page sent (small files: `loadFile` with text or an ArrayBuffer).
    async write(path, bytes) {
      if (directory !== null && spares.length === 0) await refillSoon();
      const full = `${mountPoint}/${path}`;
      replaceAt(full);
      FS.mkdirTree(parentOf(full));
      FS.writeFile(full, bytes);
    },

    // The file's bytes as a `Blob` (for downloads): the OPFS file itself, not a copy.
    async blob(path) {
      let node;
      try {
        node = FS.lookupPath(`${mountPoint}/${path}`).node;
      } catch {
        // Emscripten's error carries an errno, not words.
        throw new Error(`there is no file named ${path} in the data folder`);
      }
      if (!FS.isFile(node.mode)) throw new Error(`${path} is not a file`);
      return node.store.blob();
    },

    // After a run: written files flushed, files that went to memory moved into OPFS,
    // spares refilled.
    async settle() {
      if (root === null) return;
      const inMemory = [];
      eachFile(root, (node) => {
        try {
          node.store.flush();
        } catch {}
        if (node.store instanceof InMemory) inMemory.push(node);
      });
      if (directory === null || inMemory.length === 0) {
        this.announceChanges();
        await refillSoon();
        return;
      }
      for (const node of inMemory) {
        const memory = node.store;
        let kept;
        try {
          kept = spares.shift() ?? (await makeSpare());
          kept.handle.write(memory.bytes.subarray(0, memory.length), { at: 0 });
          kept.handle.flush();
        } catch (error) {
          if (kept) kept.release();
          news({ kind: "notKept", name: pathOf(node), text: await lossText(pathOf(node), memory.length, error) });
          continue;
        }
        if (node.store !== memory || node.released) {
          kept.release();
          continue;
        }
        node.store = kept;
        const path = pathOf(node);
        changeMap((map) => {
          map.files[path] = { id: kept.id };
        });
      }
      this.announceChanges();
      await refillSoon();
    },

    // The files `wanted` accepts (by path), for the SQL engine to read in place
    // (sql-worker.js): a kept file's OPFS handle (what Python wrote flushed first), a `File`
    // still being copied, or the bytes of a file Python wrote that is still in memory.
    sources(wanted = () => true) {
      const sources = [];
      if (root === null) return sources;
      eachFile(root, (node) => {
        const path = pathOf(node);
        if (!wanted(path)) return;
        const store = node.store;
        if (store instanceof Kept) {
          store.flush();
          sources.push({ path, handle: store.fileHandle });
        } else if (store instanceof Copying) {
          sources.push({ path, file: store.source });
        } else {
          sources.push({ path, bytes: store.bytes.slice(0, store.length) });
        }
      });
      return sources;
    },

    // Reads of the paths the page announces in `buffer` from byte `at` fail from then on.
    watchDeletions,

    // Tells the page when files were added, removed or renamed (by a run, say), so that it
    // lists them again.
    announceChanges() {
      if (changed) {
        changed = false;
        news({ kind: "changed" });
      }
    },
  };
})();
