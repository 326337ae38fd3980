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
