// Bundles the compiled CLI (dist/src/cli/main.js and everything it imports, yaml included) into
// one file, dist/src/cli/main.bundle.js, which bin/vpnns loads for most commands: Node then reads
// and resolves one module instead of a hundred, which is most of what `vpnns up` and its
// supervisor spend before doing anything (bench/up.ts). Run by `npm run build` after tsc.
// Without esbuild (a production install) it does nothing and bin/vpnns uses dist/ as it is.
import { readFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ENTRY = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const OUT = join(ROOT, 'dist', 'src', 'cli', 'main.bundle.js');

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
 * of its own compiled file, reached from wherever the bundle is.
 */
const ownUrl = {
  name: 'own-import-meta-url',
  setup(build) {
    build.onLoad({ filter: /[\\/]dist[\\/]src[\\/].*\.js$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      if (!text.includes('import.meta.url')) return { contents: text, loader: 'js' };
      const rel = relative(dirname(OUT), args.path).split(sep).join('/');
      const url = `new URL(${JSON.stringify(rel.startsWith('.') ? rel : `./${rel}`)}, import.meta.url).href`;
      return { contents: text.replaceAll('import.meta.url', url), loader: 'js' };
    });
  },
};

await esbuild.build({
  entryPoints: [ENTRY],
  outfile: OUT,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  plugins: [ownUrl],
  logLevel: 'warning',
  legalComments: 'none',
  // yaml ships CommonJS for Node: its require() of Node's own modules needs a real require.
  banner: { js: "import { createRequire as __vpnnsCreateRequire } from 'node:module'; const require = __vpnnsCreateRequire(import.meta.url);" },
});
