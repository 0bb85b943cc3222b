// Bundles the compiled CLI (dist/src/cli/main.js and everything it imports, yaml included) into
// one file, dist/src/cli/main.bundle.js, which bin/vpnns loads for the commands on the way to a
// working namespace: Node then reads and resolves one module instead of a hundred, which is most
// of what `vpnns up` and its supervisor spend before doing anything (bench/up.ts). And
// dist/src/cli/exec.bundle.cjs: main and `exec` alone (every other command left out), for
// `vpnns exec`, whose start-up is most of its cost (bench/exec.ts). Run by `npm run build` after tsc.
// Without esbuild (a production install) it does nothing and bin/vpnns uses dist/ as it is.
import { readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
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
 * exec's bundle: main's other commands stay out (never loaded: bin/vpnns uses it for `exec` only),
 * and so does the YAML config loader (yaml is three quarters of the rest), which exec imports only
 * when it has to parse a config file: then it loads from dist/ as before. Both are imported from
 * files one folder below src/, like the bundle in cli/, so their relative paths still name the
 * compiled files.
 */
const onlyExec = {
  name: 'only-exec',
  setup(build) {
    build.onResolve({ filter: /^\.\.?\/[a-z/-]+\.js$/ }, (args) => {
      // From a folder one below src/ (cli/, core/: core/up-config.ts), `../config/load.js` names the
      // same compiled file as it does from the bundle in cli/.
      if (args.kind !== 'dynamic-import' || !/[\\/]dist[\\/]src[\\/][a-z]+[\\/][a-z-]+\.js$/.test(args.importer)) return undefined;
      const otherCommand = /[\\/]dist[\\/]src[\\/]cli[\\/]main\.js$/.test(args.importer) && /^\.\/[a-z-]+\.js$/.test(args.path) && args.path !== './exec.js';
      return otherCommand || args.path === '../config/load.js' ? { path: args.path, external: true } : undefined;
    });
  },
};

const common = {
  entryPoints: [ENTRY],
  bundle: true,
  platform: 'node',
  target: 'node20',
  logLevel: 'warning',
  legalComments: 'none',
};
await esbuild.build({
  ...common,
  format: 'esm',
  outfile: join(OUT_DIR, 'main.bundle.js'),
  plugins: [ownUrl('esm')],
  // yaml ships CommonJS for Node: its require() of Node's own modules needs a real require.
  banner: { js: "import { createRequire as __vpnnsCreateRequire } from 'node:module'; const require = __vpnnsCreateRequire(import.meta.url);" },
});
// CommonJS, required by bin/vpnns: no ES module loader to start (several ms of every `exec`). Its
// import() of what it leaves out stays an import() (of the ES modules in dist/).
await esbuild.build({ ...common, format: 'cjs', outfile: join(OUT_DIR, 'exec.bundle.cjs'), plugins: [onlyExec, ownUrl('cjs')] });
