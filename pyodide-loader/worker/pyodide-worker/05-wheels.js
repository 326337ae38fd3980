// ---------------------------------------------------------------------------------------
// Unpacking wheels.

// Pyodide unpacks each package with Python's zipfile: ≈ 0.5 s for numpy and pandas. Set-up
// stores the wheels uncompressed (xtask/precompile.js; the server compresses the transfer),
// so their files are copied straight into the file system here, ≈ 10× faster. Anything else
// (compressed entries, data files, tarballs, archives for unpackArchive) goes through
// Pyodide's own unpacker, which `pyodide._api.package_loader.unpack_buffer` names.
function unpackWheelsDirectly() {
  try {
    const loader = pyodide._api.package_loader;
    const python = loader.unpack_buffer;
    const unpack = (options) => unpackStoredWheel(loader, options) ?? python.callKwargs(options);
    unpack.callKwargs = unpack;
    loader.unpack_buffer = unpack;
  } catch (error) {
    // A Pyodide version without this internal: its own unpacker does the work, only slower.
  }
}

// What Pyodide's unpack_buffer does for a wheel (extract, record INSTALLER and
// PYODIDE_SOURCE, list the shared libraries to load), or null to leave it to Pyodide.
function unpackStoredWheel(loader, { buffer, filename, format, extract_dir, calculate_dynlibs, installer, source }) {
  if (format || !/\.whl$/.test(filename || "") || !(buffer instanceof Uint8Array)) {
    return null;
  }
  const target = extract_dir || "";
  const entries = storedEntries(buffer);
  if (!target.startsWith("/") || entries === null) {
    return null;
  }
  const tops = new Set(entries.map(({ name }) => name.split("/")[0]));
  const distInfo = [...tops].filter((top) => top.endsWith(".dist-info"));
  if (distInfo.length !== 1 || [...tops].some((top) => top.endsWith(".data"))) {
    return null;
  }
  const FS = pyodide.FS;
  const folders = new Set();
  const dynlibs = [];
  for (const { name, start, size } of entries) {
    const path = `${target}/${name}`;
    if (name.endsWith("/")) {
      FS.mkdirTree(path);
      continue;
    }
    const folder = path.slice(0, path.lastIndexOf("/"));
    if (!folders.has(folder)) {
      FS.mkdirTree(folder);
      folders.add(folder);
    }
    FS.writeFile(path, buffer.subarray(start, start + size));
    if (/\.so(\.\d+)*$/.test(name) && loader.should_load_dynlib(path)) {
      dynlibs.push(path);
    }
  }
  if (installer) {
    FS.writeFile(`${target}/${distInfo[0]}/INSTALLER`, installer);
  }
  if (source) {
    FS.writeFile(`${target}/${distInfo[0]}/PYODIDE_SOURCE`, source);
  }
  return calculate_dynlibs ? dynlibs : undefined;
}

// The entries of a zip whose files are all stored uncompressed, with where their bytes are;
// null for anything else (compressed or encrypted entries, zip64, unsafe names).
function storedEntries(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let end = bytes.length - 22;
  while (end >= 0 && view.getUint32(end, true) !== 0x06054b50) {
    end -= 1;
  }
  if (end < 0) {
    return null;
  }
  const count = view.getUint16(end + 10, true);
  let at = view.getUint32(end + 16, true);
  const names = new TextDecoder();
  const entries = [];
  for (let index = 0; index < count; index += 1) {
    if (at + 46 > bytes.length || view.getUint32(at, true) !== 0x02014b50) {
      return null;
    }
    const flags = view.getUint16(at + 8, true);
    const method = view.getUint16(at + 10, true);
    const size = view.getUint32(at + 20, true);
    const nameLength = view.getUint16(at + 28, true);
    const local = view.getUint32(at + 42, true);
    const name = names.decode(bytes.subarray(at + 46, at + 46 + nameLength));
    at += 46 + nameLength + view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
    if (method !== 0 || flags & 1 || size === 0xffffffff || local + 30 > bytes.length) {
      return null;
    }
    if (name.startsWith("/") || name.includes("..") || view.getUint32(local, true) !== 0x04034b50) {
      return null;
    }
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    if (start + size > bytes.length) {
      return null;
    }
    entries.push({ name, start, size });
  }
  return entries;
}
