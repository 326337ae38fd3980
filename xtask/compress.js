// Writes precompressed copies (`NAME.br`, brotli at its best quality, and `NAME.gz`) beside
// the compressible files of a folder, so the server sends them as they are instead of
// compressing them again for each browser (`pyodide.asm.wasm`, 10 MB, costs ≈ 0.5 s of the
// server's CPU per download otherwise).
//
// Usage: node compress.js FOLDER [NAME...]   (without names: every compressible file)
"use strict";

const fs = require("fs");
const path = require("path");
const zlib = require("zlib");

// Wheels, zips and tarballs are compressed already (but for the uncompressed wheels of the
// precompiled copy, which set-up names).
const COMPRESSIBLE = /\.(wasm|js|mjs|json)$/;
// Brotli's best quality takes ≈ 2.5 s per MB here; an uncompressed wheel (numpy's is 13 MB,
// all of them 210 MB) gets quality 5: ≈ 30 MB/s, and within 5 % of quality 9's size.
const quality = (name) => (name.endsWith(".whl") ? 5 : zlib.constants.BROTLI_MAX_QUALITY);
const SMALLEST = 1024;

async function compress(folder, name) {
  const source = path.join(folder, name);
  const bytes = fs.readFileSync(source);
  const { constants } = zlib;
  const brotli = await new Promise((resolve, reject) =>
    zlib.brotliCompress(
      bytes,
      { params: { [constants.BROTLI_PARAM_QUALITY]: quality(name), [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length } },
      (error, out) => (error ? reject(error) : resolve(out)),
    ),
  );
  const gzip = await new Promise((resolve, reject) =>
    zlib.gzip(bytes, { level: 9 }, (error, out) => (error ? reject(error) : resolve(out))),
  );
  fs.writeFileSync(source + ".br", brotli);
  fs.writeFileSync(source + ".gz", gzip);
  return `${name} ${(bytes.length / 1e6).toFixed(1)} MB → ${(brotli.length / 1e6).toFixed(1)} MB`;
}

async function main() {
  const [folder, ...names] = process.argv.slice(2);
  const chosen = names.length > 0 ? names : fs.readdirSync(folder).filter((name) => {
    const stat = fs.statSync(path.join(folder, name));
    return stat.isFile() && COMPRESSIBLE.test(name) && stat.size >= SMALLEST;
  });
  // In parallel: zlib works on its own threads, and the big file dominates anyway.
  const done = await Promise.all(chosen.map((name) => compress(folder, name)));
  console.log(`    precompressed ${done.join(", ")}`);
}

main().catch((error) => {
  console.error(`compressing failed: ${error && error.stack ? error.stack : error}`);
  process.exit(1);
});
