// ---------------------------------------------------------------------------------------
// Files: the data folder, kept in IndexedDB.

// A file to hand to the page beside the JSON answer, as a `Blob`.
class FileContents {
  constructor(description, blob) {
    this.description = description;
    this.blob = blob;
  }
}

// The data folder is kept in the browser's Origin Private File System and read in place
// (data-folder.js): mounting reads which files there are, never their bytes.
async function mountFiles() {
  const folder = harness.get("DATA_DIR");
  try {
    await DataFolder.mount(pyodide, folder, (news) => post({ type: Kind.files, news }));
  } catch (error) {
    pyodide.FS.mkdirTree(folder);
    post({ type: Kind.files, news: { kind: "unavailable", text: `files will not be kept across visits: ${describe(error)}` } });
  }
}

// After a run: written files flushed to disk, files that could only go to memory moved in.
async function settleFiles() {
  try {
    await DataFolder.settle();
  } catch (error) {
    post({ type: Kind.files, news: { kind: "unavailable", text: `could not keep the files: ${describe(error)}` } });
  }
}

function call(name, ...args) {
  const fn = harness.get(name);
  try {
    return fn(...args);
  } finally {
    fn.destroy();
  }
}

// A folder on disk the page opened: its files shown read-only at `root`, each read in place
// from its `File` (Emscripten's WORKERFS: FileReaderSync, a slice per read). The page sends
// the whole list again when the folder changes (a file changed on disk gets a new `File`; a
// stale one fails its reads with EIO instead of stopping Python). Code then runs in
// `workIn`, the open notebook's own folder, as in Jupyter; or in the data folder.
async function linkFolder({ root, paths, workIn }, files) {
  const FS = pyodide.FS;
  const home = harness.get("DATA_DIR");
  FS.chdir(home);
  if (linkedFolder !== null) {
    FS.unmount(root);
    linkedFolder = null;
  }
  if (paths.length > 0 || workIn) {
    FS.mkdirTree(root);
    const blobs = paths.map((name, at) => ({ name, data: files[at] }));
    linkedFolder = FS.mount(FS.filesystems.WORKERFS, { blobs }, root);
    readSafely(linkedFolder);
  }
  let cwd = home;
  if (workIn) {
    try {
      FS.chdir(workIn);
      cwd = workIn;
    } catch {}
  }
  return { files: paths.length, workIn: cwd };
}
let linkedFolder = null;

function readSafely(node) {
  const FS = pyodide.FS;
  for (const child of Object.values(node.contents)) {
    if (FS.isDir(child.mode)) {
      readSafely(child);
      continue;
    }
    const ops = child.stream_ops;
    child.stream_ops = {
      ...ops,
      read(...args) {
        try {
          return ops.read(...args);
        } catch (error) {
          if (error instanceof FS.ErrnoError) throw error;
          // The file changed or went on disk since the page looked: an I/O error in Python.
          throw new FS.ErrnoError(29);
        }
      },
    };
  }
}
