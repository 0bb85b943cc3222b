// Bundles the compiled CLI (dist/src/cli/main.js and everything it imports, yaml included) into
// one CommonJS file, dist/src/cli/main.bundle.cjs, which bin/vpnns loads for the commands on the way to a
// working namespace: Node then reads and resolves one module instead of a hundred, which is most
// of what `vpnns up` and its supervisor spend before doing anything (bench/up.ts). And
// dist/src/cli/exec.bundle.cjs: main and `exec` alone (every other command left out), for
// `vpnns exec`, whose start-up is most of its cost (bench/exec.ts). Each gets a V8 code cache
// beside it (BUNDLE.v8cache, see writeCodeCache). Run by `npm run build` after tsc.
// Without esbuild (a production install) it does nothing and bin/vpnns uses dist/ as it is.
import { randomBytes } from 'node:crypto';
import { readFile, writeFile, rm } from 'node:fs/promises';
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
 * The V8 code cache of a bundle, BUNDLE.v8cache: its first line is the build id that the bundle's
 * own first line carries (bin/vpnns uses the cache only for the bundle it was made from), then
 * V8's data. The bundle is compiled and run as bin/vpnns does (its modules' top levels: nothing
 * they do reaches outside the process), then each command's --help is asked with the output
 * dropped and a sample config parsed (main.ts warmUp), so the functions a start-up calls are
 * compiled and in the cache too.
 */
async function writeCodeCache(file, id, warmups, withConfig) {
  const source = await readFile(file, 'utf8');
  if (loader.buildIdOf(source) !== id) throw new Error(`${file} does not start with its build id`);
  const script = loader.compile(file, source, undefined);
  const { main, warmUp } = loader.run(script, file, undefined);
  const silent = { out: () => {}, err: () => {}, isTTY: false };
  for (const argv of warmups) await main(argv, silent);
  // The config parser, where the bundle holds it (exec's leaves it out: it would load from dist/).
  if (withConfig) await warmUp();
  await writeFile(`${file}.v8cache`, Buffer.concat([Buffer.from(`${id}\n`, 'latin1'), script.createCachedData()]));
}

const id = randomBytes(16).toString('hex');
// The bundle's first line (a comment: esbuild's "use strict" after it is still the directive).
const banner = { js: `// vpnns build ${id}` };
// A build of the old format (ES module) would otherwise sit beside the new one unused.
await rm(join(OUT_DIR, 'main.bundle.js'), { force: true });
await bundle({ format: 'cjs', outfile: join(OUT_DIR, 'main.bundle.cjs'), banner, plugins: [onlyCommands('main.bundle.cjs', true), ownUrl('cjs')] });
// exec's bundle leaves out the other commands and the YAML loader (loaded only for a config file).
await bundle({ format: 'cjs', outfile: join(OUT_DIR, 'exec.bundle.cjs'), banner, plugins: [onlyCommands('exec.bundle.cjs', false), ownUrl('cjs')] });
await writeCodeCache(join(OUT_DIR, 'main.bundle.cjs'), id, ['up', 'down', 'supervise', 'run', 'status'].map((c) => [c, '--help']), true);
await writeCodeCache(join(OUT_DIR, 'exec.bundle.cjs'), id, [['exec', '--help']], false);
