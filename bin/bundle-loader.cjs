// Loads vpnns's one-file bundles (scripts/bundle.mjs: dist/src/cli/*.bundle.cjs) with the V8 code
// cache the build wrote beside each (BUNDLE.v8cache): V8 then reads the compiled functions instead
// of parsing the file, most of what loading the CLI's bundle costs (bench/up.ts, bench/exec.ts).
// bin/vpnns loads a bundle through here, and scripts/bundle.mjs makes the cache through the same
// compile(), so the cache is of exactly the code that runs.
//
// Trust: the cache sits beside the bundle, written by the same build with the same owner and mode;
// it is trusted as much as the bundle is, and no more. It is used only for the bundle it was made
// from: its first line names the build id that the bundle's first line carries (V8 itself checks
// only the source's length, its own version and flags, and rejects a cache that fails those; then
// the source is compiled as without one).
'use strict';
const { readFileSync } = require('node:fs');
const Module = require('node:module');
const { dirname, resolve } = require('node:path');
const { pathToFileURL } = require('node:url');
const vm = require('node:vm');

// A bundle's code runs as a CommonJS module's does, with one more parameter: `import()` of what
// the bundle leaves out (the YAML loader, the demo's world, other commands) is written
// `__vpnnsImport(...)` in it (scripts/bundle.mjs). An import() compiled by vm.Script with a code
// cache would fail in Node 20: V8 keeps the compiling process's host options in the cache, so the
// callback Node looks up is not there (nodejs/node#43663). This file is compiled by Node itself,
// so its import() works, relative to the bundle's folder as the bundle's own would be.
/**
 * The commands bin/vpnns runs from a bundle, and which: those whose start-up is on the way to a
 * working namespace (`up`, the supervisor it starts, the systemd units' `run`, `down`, `status`)
 * from the CLI's, `exec` from its own. scripts/bundle.mjs puts these commands (and what they
 * import) in each bundle and leaves the others out.
 */
const BUNDLES = { up: 'main.bundle.cjs', down: 'main.bundle.cjs', supervise: 'main.bundle.cjs', run: 'main.bundle.cjs', status: 'main.bundle.cjs', exec: 'exec.bundle.cjs' };

const HEAD = '(function (exports, require, module, __filename, __dirname, __vpnnsImport) { ';
const TAIL = '\n});';
const BUILD_ID = /^\/\/ vpnns build ([0-9a-f]{32})\n/;

function compile(file, source, cachedData) {
  return new vm.Script(HEAD + source + TAIL, { filename: file, cachedData });
}

function run(script, file, parent) {
  const dir = dirname(file);
  const mod = new Module(file, parent);
  mod.filename = file;
  mod.paths = Module._nodeModulePaths(dir);
  const importer = (spec) => import(spec.startsWith('.') ? pathToFileURL(resolve(dir, spec)).href : spec);
  script.runInThisContext().call(mod.exports, mod.exports, Module.createRequire(file), mod, file, dir, importer);
  mod.loaded = true;
  return mod.exports;
}

/** The build id on a bundle's first line, or undefined. */
function buildIdOf(source) {
  const m = BUILD_ID.exec(source.slice(0, 64));
  return m ? m[1] : undefined;
}

/** `{ exports, cache }`: cache is 'used', 'absent', 'not of this build' or 'rejected by V8'. */
function requireBundle(file, parent) {
  const source = readFileSync(file, 'utf8');
  let cachedData;
  let cache = 'absent';
  try {
    const raw = readFileSync(`${file}.v8cache`);
    const nl = raw.indexOf(10);
    const id = buildIdOf(source);
    if (nl > 0 && id && raw.subarray(0, nl).toString('latin1') === id) {
      cachedData = raw.subarray(nl + 1);
      cache = 'used';
    } else cache = 'not of this build';
  } catch {
    /* no cache: compiled from the source */
  }
  const script = compile(file, source, cachedData);
  if (cachedData && script.cachedDataRejected) cache = 'rejected by V8';
  return { exports: run(script, file, parent), cache };
}

module.exports = { BUNDLES, compile, run, buildIdOf, requireBundle };
