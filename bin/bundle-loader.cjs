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
const { readFileSync, statSync } = require('node:fs');
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
 * from the CLI's; `exec` and `kilo`, each a daily start-up of its own, from theirs. scripts/bundle.mjs puts these commands (and what they
 * import) in each bundle and leaves the others out.
 */
const BUNDLES = { up: 'main.bundle.cjs', down: 'main.bundle.cjs', supervise: 'main.bundle.cjs', run: 'main.bundle.cjs', status: 'main.bundle.cjs', exec: 'exec.bundle.cjs', kilo: 'kilo.bundle.cjs' };

/**
 * What exec's and kilo's bundles leave out and imports only when it must (a config file to read), bundled on
 * its own: the module (as the bundle's import() names it, relative to its folder) and its bundle.
 * Loaded like the others, from its code cache, unless the compiled module is newer (then that).
 */
const IMPORT_BUNDLES = { '../config/load.js': 'config.bundle.cjs' };

/**
 * The Node flags a bundle is started with: none (every command), and the supervisor's
 * (src/supervisor/resource.ts supervisorArgv; a unit test keeps the two alike). V8 refuses a cache
 * made under other flags, so the build makes one per set, each named after its flags.
 */
const NODE_FLAG_SETS = [[], ['--no-opt', '--max-semi-space-size=1']];

/** BUNDLE.v8cache for a process started with no Node flags, BUNDLE.<flags>.v8cache otherwise. */
function cacheFileOf(file, execArgv = process.execArgv) {
  const flags = execArgv.join(' ').replace(/[^A-Za-z0-9]+/g, '_').replace(/^_+|_+$/g, '');
  return flags === '' ? `${file}.v8cache` : `${file}.${flags}.v8cache`;
}

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
  const importer = async (spec) => {
    const target = spec.startsWith('.') ? resolve(dir, spec) : undefined;
    const own = target && Object.hasOwn(IMPORT_BUNDLES, spec) ? resolve(dir, IMPORT_BUNDLES[spec]) : undefined;
    if (own && fresh(own, target)) return requireBundle(own, parent).exports;
    return import(target ? pathToFileURL(target).href : spec);
  };
  script.runInThisContext().call(mod.exports, mod.exports, Module.createRequire(file), mod, file, dir, importer);
  mod.loaded = true;
  return mod.exports;
}

/** A bundle at least as new as the compiled module it was made from (else tsc ran and the bundler did not, or there is none): bin/vpnns's choice of a bundle and the import of one. */
function fresh(bundle, compiled) {
  try {
    return statSync(bundle).mtimeMs >= statSync(compiled).mtimeMs;
  } catch {
    return false;
  }
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
    const raw = readFileSync(cacheFileOf(file));
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

/**
 * Writes the code cache of `file` for this process's Node flags (scripts/bundle.mjs starts this
 * file once per NODE_FLAG_SETS entry): its first line is the build id the bundle's own first line
 * carries, then V8's data. The bundle is compiled and run as bin/vpnns does (its modules' top
 * levels: nothing they do reaches outside the process), then each warm-up command line is run
 * with the output dropped (`--help`s) and, with `withConfig`, a sample config parsed (main.ts
 * warmUp), so the functions a start-up calls are compiled and in the cache too.
 */
async function writeCache(file, warmups, withConfig) {
  const { writeFileSync } = require('node:fs');
  const source = readFileSync(file, 'utf8');
  const id = buildIdOf(source);
  if (!id) throw new Error(`${file} does not start with a build id`);
  const script = compile(file, source, undefined);
  const { main, warmUp } = run(script, file, module);
  const silent = { out: () => {}, err: () => {}, isTTY: false };
  for (const argv of warmups) await main(argv, silent);
  if (withConfig) await warmUp();
  writeFileSync(cacheFileOf(file), Buffer.concat([Buffer.from(`${id}\n`, 'latin1'), script.createCachedData()]));
}

module.exports = { BUNDLES, IMPORT_BUNDLES, NODE_FLAG_SETS, cacheFileOf, compile, run, buildIdOf, fresh, requireBundle };

// node [FLAGS] bin/bundle-loader.cjs --write-cache BUNDLE WARMUPS-JSON [config]
if (require.main === module && process.argv[2] === '--write-cache') {
  writeCache(process.argv[3], JSON.parse(process.argv[4]), process.argv[5] === 'config').catch((e) => {
    process.stderr.write(`bundle: cannot write the code cache of ${process.argv[3]}: ${e && e.stack ? e.stack : e}\n`);
    process.exit(1);
  });
}
