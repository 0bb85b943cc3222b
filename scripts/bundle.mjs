// Bundles the compiled CLI (dist/src/cli/main.js and everything it imports, yaml included) into
// one CommonJS file, dist/src/cli/main.bundle.cjs, which bin/vpnns loads for the commands on the way to a
// working namespace: Node then reads and resolves one module instead of a hundred, which is most
// of what `vpnns up` and its supervisor spend before doing anything (bench/up.ts). And
// dist/src/cli/exec.bundle.cjs: main and `exec` alone (every other command left out), for
// `vpnns exec`, whose start-up is most of its cost (bench/exec.ts). Each gets a V8 code cache
// beside it (BUNDLE.v8cache, see writeCodeCache). Run by `npm run build` after tsc.
// Without esbuild (a production install) it does nothing and bin/vpnns uses dist/ as it is.
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { readFile, readdir, writeFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
// The loader bin/vpnns uses: which commands each bundle is for, and the cache is made by its
// compile(), of exactly the code that runs.
const loader = createRequire(import.meta.url)('../bin/bundle-loader.cjs');
const ENTRY = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const OUT_DIR = join(ROOT, 'dist', 'src', 'cli');

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  console.error('bundle: esbuild is not installed; bin/vpnns runs dist/ unbundled.');
  process.exit(0);
}

/**
 * Code that finds files next to itself (`new URL('./forwarder-main.js', import.meta.url)`, the
 * package root as `../../../`) keeps finding them: each module's import.meta.url becomes the URL
 * of its own compiled file, reached from wherever the bundle is (in a CommonJS bundle, from its
 * __filename).
 */
function ownUrl(format) {
  const here = format === 'cjs' ? 'require("node:url").pathToFileURL(__filename)' : 'import.meta.url';
  return {
    name: 'own-import-meta-url',
    setup(build) {
      build.onLoad({ filter: /[\\/]dist[\\/]src[\\/].*\.js$/ }, async (args) => {
        const text = await readFile(args.path, 'utf8');
        if (!text.includes('import.meta.url')) return { contents: text, loader: 'js' };
        const rel = relative(OUT_DIR, args.path).split(sep).join('/');
        const url = `new URL(${JSON.stringify(rel.startsWith('.') ? rel : `./${rel}`)}, ${here}).href`;
        return { contents: text.replaceAll('import.meta.url', url), loader: 'js' };
      });
    },
  };
}

/**
 * A bundle holds main, the commands it is loaded for (bin/bundle-loader.cjs BUNDLES) and what they
 * import; main's other commands stay out (bin/vpnns never runs them from it). exec's also leaves
 * out the YAML config loader (yaml is three quarters of the rest), which exec imports only when it
 * has to parse a config file: then it loads from dist/ as before. Both are imported from files one
 * folder below src/, like the bundle in cli/, so their relative paths still name the compiled files.
 */
function onlyCommands(file, withConfigLoader) {
  const commands = new Set(Object.entries(loader.BUNDLES).filter(([, f]) => f === file).map(([c]) => `./${c}.js`));
  return {
    name: 'only-commands',
    setup(build) {
      build.onResolve({ filter: /^\.\.?\/[a-z/-]+\.js$/ }, (args) => {
        // From a folder one below src/ (cli/, core/: core/up-config.ts), `../config/load.js` names the
        // same compiled file as it does from the bundle in cli/.
        if (args.kind !== 'dynamic-import' || !/[\\/]dist[\\/]src[\\/][a-z]+[\\/][a-z-]+\.js$/.test(args.importer)) return undefined;
        const otherCommand = /[\\/]dist[\\/]src[\\/]cli[\\/]main\.js$/.test(args.importer) && /^\.\/[a-z-]+\.js$/.test(args.path) && !commands.has(args.path);
        return otherCommand || (!withConfigLoader && args.path === '../config/load.js') ? { path: args.path, external: true } : undefined;
      });
    },
  };
}

const common = {
  entryPoints: [ENTRY],
  bundle: true,
  platform: 'node',
  target: 'node20',
  logLevel: 'warning',
  legalComments: 'none',
};
/**
 * Builds one bundle, then writes each `import(` esbuild left in it (only those of modules it left
 * out: the ones it bundled became calls of its own) as `__vpnnsImport(`, the loader's import
 * (bin/bundle-loader.cjs says why). The count must match the dynamic imports esbuild reports as
 * external, so a string that merely contains "import(" can never be rewritten unnoticed.
 */
async function bundle(options) {
  const result = await esbuild.build({ ...common, ...options, metafile: true });
  const external = Object.values(result.metafile.outputs).flatMap((o) => o.imports.filter((i) => i.kind === 'dynamic-import' && i.external));
  const text = await readFile(options.outfile, 'utf8');
  const calls = text.match(/(?<![\w$.])import\(/g) ?? [];
  if (calls.length !== external.length) throw new Error(`${options.outfile}: ${calls.length} import( in the output, ${external.length} external dynamic imports: cannot rewrite them safely`);
  await writeFile(options.outfile, text.replace(/(?<![\w$.])import\(/g, '__vpnnsImport('));
}

/**
 * The bundle's V8 code caches, one per set of Node flags it is started with, each written by a
 * Node started with those flags (V8 refuses a cache made under others): bin/bundle-loader.cjs
 * --write-cache, the loader bin/vpnns uses, so the cache is of exactly the code that runs.
 */
function writeCodeCaches(file, warmups, withConfig) {
  for (const flags of loader.NODE_FLAG_SETS) {
    const argv = [...flags, join(ROOT, 'bin', 'bundle-loader.cjs'), '--write-cache', file, JSON.stringify(warmups), withConfig ? 'config' : ''];
    const r = spawnSync(process.execPath, argv, { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`bundle: writing the code cache of ${file} with Node flags [${flags.join(' ')}] failed`);
  }
}

const id = randomBytes(16).toString('hex');
// The bundle's first line (a comment: esbuild's "use strict" after it is still the directive).
const banner = { js: `// vpnns build ${id}` };
// A build of the old format (ES module) would otherwise sit beside the new one unused.
await rm(join(OUT_DIR, 'main.bundle.js'), { force: true });
await bundle({ format: 'cjs', outfile: join(OUT_DIR, 'main.bundle.cjs'), banner, plugins: [onlyCommands('main.bundle.cjs', true), ownUrl('cjs')] });
// exec's and kilo's leave out the other commands and the config loader (loaded only for a config file).
for (const out of ['exec.bundle.cjs', 'kilo.bundle.cjs']) {
  await bundle({ format: 'cjs', outfile: join(OUT_DIR, out), banner, plugins: [onlyCommands(out, false), ownUrl('cjs')] });
}
// Old caches (another format, or flags no longer used) would otherwise sit beside the new ones.
for (const f of await readdir(OUT_DIR)) if (f.endsWith('.v8cache')) await rm(join(OUT_DIR, f));
// exec's leaves the config parser out (it would load from dist/): no config warm-up there.
writeCodeCaches(join(OUT_DIR, 'main.bundle.cjs'), ['up', 'down', 'supervise', 'run', 'status'].map((c) => [c, '--help']), true);
writeCodeCaches(join(OUT_DIR, 'exec.bundle.cjs'), [['exec', '--help']], false);
writeCodeCaches(join(OUT_DIR, 'kilo.bundle.cjs'), [['kilo', '--help']], false);
// What exec's bundle leaves out, bundled on its own (IMPORT_BUNDLES): the config loader, yaml in it.
for (const [spec, out] of Object.entries(loader.IMPORT_BUNDLES)) {
  await bundle({ entryPoints: [join(OUT_DIR, spec)], format: 'cjs', outfile: join(OUT_DIR, out), banner, plugins: [ownUrl('cjs')] });
  writeCodeCaches(join(OUT_DIR, out), [], true);
}
