// The folders of src/ form a stack (ARCHITECTURE.md): an import may point down or sideways within a
// folder, never up. The order is read from ARCHITECTURE.md's table, so the picture and the rule are one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

// Compiled to dist/test/unit/: the sources are three folders up.
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const SRC = join(REPO_ROOT, 'src');

/** The layers, top first, as ARCHITECTURE.md's table lists them: `cli/` → 'cli', `errors.ts` → 'errors.ts'. */
export function layersFromArchitecture(md: string): string[] {
  return [...md.matchAll(/^\| `([a-z-]+\/|[a-z-]+\.ts)` \|/gm)].map((m) => m[1]!.replace(/\/$/, ''));
}

/** Every relative module a TypeScript file names: static and type imports, re-exports, dynamic import(). */
export function importsOf(source: string): string[] {
  // Comments out first, so an example in a comment is not taken for an import.
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  const out: string[] = [];
  for (const m of code.matchAll(/(?:^|[\s;])(?:import|export)\s[^'"`;]*?from\s*['"](\.{1,2}\/[^'"]+)['"]/g)) out.push(m[1]!);
  for (const m of code.matchAll(/(?:^|[\s;])import\s*['"](\.{1,2}\/[^'"]+)['"]/g)) out.push(m[1]!);
  for (const m of code.matchAll(/\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g)) out.push(m[1]!);
  return out;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return n.endsWith('.ts') ? [p] : [];
  });
}

/** The layer a path of src/ belongs to: its first folder, or the file's name at the top. */
function layerOf(pathInSrc: string): string {
  const [first, ...rest] = pathInSrc.split('/');
  return rest.length ? first! : first!.replace(/\.js$/, '.ts');
}

const layers = layersFromArchitecture(readFileSync(join(REPO_ROOT, 'ARCHITECTURE.md'), 'utf8'));

test('ARCHITECTURE.md places every folder of src/ (and nothing that is not there)', () => {
  const present = readdirSync(SRC).filter((n) => statSync(join(SRC, n)).isDirectory() || n.endsWith('.ts'));
  assert.deepEqual([...present].sort(), [...layers].sort(), 'a folder of src/ must have its row in ARCHITECTURE.md, at its place in the stack');
  assert.equal(new Set(layers).size, layers.length);
});

test('no import in src/ points up the stack of ARCHITECTURE.md', () => {
  const rank = new Map(layers.map((l, i) => [l, layers.length - i]));
  const upward: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const from = relative(SRC, file);
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      const target = normalize(join(dirname(from), spec));
      if (target.startsWith('..')) {
        upward.push(`${from} imports ${spec}, outside src/`);
        continue;
      }
      const a = layerOf(from);
      const b = layerOf(target);
      if (a === b) continue;
      const ra = rank.get(a);
      const rb = rank.get(b);
      if (ra === undefined || rb === undefined) upward.push(`${from} → ${target}: a layer ARCHITECTURE.md does not place`);
      else if (rb > ra) upward.push(`src/${from} imports src/${target}: ${b} sits above ${a}`);
    }
  }
  assert.deepEqual(upward, [], `imports that point up:\n${upward.join('\n')}`);
});

test('the import reader sees every form and ignores comments', () => {
  const src = [
    "import { a } from './a.js';",
    "import type { B } from '../b/b.js';",
    "export { c } from './c.js';",
    "export * from './d.js';",
    "import './side-effect.js';",
    "const e = await import('../e/e.js');",
    "import {\n  f,\n  g,\n} from '../f/f.js';",
    "// import { x } from '../x/x.js';",
    "/* import { y } from '../y/y.js'; */",
    "import { z } from 'node:fs';",
  ].join('\n');
  assert.deepEqual(importsOf(src).sort(), ['../b/b.js', '../e/e.js', '../f/f.js', './a.js', './c.js', './d.js', './side-effect.js']);
});

test('the layer reader takes the table rows in order', () => {
  assert.deepEqual(layersFromArchitecture('| layer | x |\n| --- | --- |\n| `cli/` | a |\n| `core/` | b |\n| `errors.ts` | c |\n'), ['cli', 'core', 'errors.ts']);
});

/** The node: modules a TypeScript file imports, with the names it takes from each (`* as x` is '*', a default import 'default'). */
export function nodeImportsOf(source: string): Array<{ module: string; names: string[] }> {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  const out: Array<{ module: string; names: string[] }> = [];
  for (const m of code.matchAll(/(?:^|[\s;])(?:import|export)\s+(type\s+)?([^'"`;]*?)\s*from\s*['"]((?:node:)?(?:child_process|fs|fs\/promises))['"]/g)) {
    if (m[1]) continue; // types only
    const clause = m[2]!;
    const names: string[] = [];
    if (/\*\s*as\s/.test(clause) || clause.trim() === '*') names.push('*');
    const braces = /\{([^}]*)\}/.exec(clause);
    if (/^\s*[A-Za-z_$][\w$]*\s*(,|$)/.test(clause)) names.push('default');
    if (braces) for (const n of braces[1]!.split(',')) {
      const name = n.trim().replace(/\s+as\s+.*$/, '');
      if (name && !name.startsWith('type ')) names.push(name);
    }
    out.push({ module: m[3]!.replace(/^node:/, ''), names });
  }
  for (const m of code.matchAll(/\b(?:import|require)\(\s*['"]((?:node:)?(?:child_process|fs|fs\/promises))['"]\s*\)/g)) out.push({ module: m[1]!.replace(/^node:/, ''), names: ['*'] });
  return out;
}

test('only src/sys/spawn.ts imports node:child_process: every process vpnns starts goes through src/sys', () => {
  const found: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const from = relative(SRC, file);
    if (from === join('sys', 'spawn.ts')) continue;
    if (nodeImportsOf(readFileSync(file, 'utf8')).some((i) => i.module === 'child_process')) found.push(`src/${from}`);
  }
  assert.deepEqual(found, [], `node:child_process outside src/sys/spawn.ts (start processes through System: sys/system.ts):\n${found.join('\n')}`);
});

test('the node: import reader sees names, defaults, namespaces and dynamic imports; skips types', () => {
  const src = [
    "import { writeFile, readFile as rf } from 'node:fs/promises';",
    "import fs from 'fs';",
    "import * as cp from 'node:child_process';",
    "import type { Stats } from 'node:fs';",
    "const x = await import('node:child_process');",
    "// import { rmSync } from 'node:fs';",
  ].join('\n');
  assert.deepEqual(nodeImportsOf(src), [
    { module: 'fs/promises', names: ['writeFile', 'readFile'] },
    { module: 'fs', names: ['default'] },
    { module: 'child_process', names: ['*'] },
    { module: 'child_process', names: ['*'] },
  ]);
});

/**
 * What each module of src/sys that starts processes must not give a file outside src/sys: there,
 * every process starts through System (sys/system.ts) and its Executor. Types (and helpers such as
 * sleep, isAlive, fullArgv) may still be imported.
 */
const STARTERS: Record<string, (name: string) => boolean> = {
  'spawn.js': () => true,
  'foreground.js': () => true,
  'process.js': (n) => n === '*' || n === 'default' || n.startsWith('start'),
  'exec.js': (n) => n === '*' || n === 'default' || n === 'run' || n === 'runSync',
};

/**
 * The starters a file of src/ (FROM, relative to src/) takes from src/sys, as "name from sys/x.ts":
 * named, default and namespace imports and re-exports (type-only ones skipped), and dynamic imports.
 */
export function startersOf(from: string, source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  const sysModule = (spec: string): string | undefined => {
    const target = normalize(join(dirname(from), spec));
    const m = /^sys\/([a-z-]+\.js)$/.exec(target);
    return m && STARTERS[m[1]!] ? m[1]! : undefined;
  };
  const found: string[] = [];
  const take = (mod: string, names: string[]): void => {
    for (const n of names) if (STARTERS[mod]!(n)) found.push(`${n} from sys/${mod.replace(/\.js$/, '.ts')}`);
  };
  for (const m of code.matchAll(/(?:^|[\s;])(import|export)\s+(type\s+)?([^'"`;]*?)\s*from\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
    const mod = sysModule(m[4]!);
    if (!mod || m[2]) continue;
    const clause = m[3]!;
    const names: string[] = [];
    if (/\*/.test(clause)) names.push('*');
    if (m[1] === 'import' && /^\s*[A-Za-z_$][\w$]*\s*(,|$)/.test(clause)) names.push('default');
    const braces = /\{([^}]*)\}/.exec(clause);
    if (braces) for (const n of braces[1]!.split(',')) {
      const name = n.trim().replace(/\s+as\s+.*$/, '');
      if (name && !name.startsWith('type ')) names.push(name);
    }
    take(mod, names);
  }
  for (const m of code.matchAll(/\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g)) {
    const mod = sysModule(m[1]!);
    if (mod) take(mod, ['*']);
  }
  return found;
}

test('outside src/sys every process starts through System: nothing takes sys/spawn.ts, sys/foreground.ts, the starts of sys/process.ts or sys/exec.ts run', () => {
  const found: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const from = relative(SRC, file);
    if (from.startsWith(`sys${'/'}`)) continue;
    for (const s of startersOf(from, readFileSync(file, 'utf8'))) found.push(`src/${from}: ${s}`);
  }
  assert.deepEqual(found, [], `processes started around System (use sys.change/query, start, startDetached, startHeld, startChild, foreground):\n${found.join('\n')}`);
});

test('the starter reader: values from the starting modules count, types and helpers do not', () => {
  const src = [
    "import { spawnArgv, type ChildProcess } from '../sys/spawn.js';",
    "import type { ChildProcess as C } from '../sys/spawn.js';",
    "import { sleep, isAlive, startDetachedHeld, type HeldStart } from '../sys/process.js';",
    "import { formatArgv, run } from '../sys/exec.js';",
    "import * as fg from '../sys/foreground.js';",
    "export { startChild } from '../sys/process.js';",
    "const { spawnForeground } = await import('../sys/foreground.js');",
    "import { System } from '../sys/system.js';",
    "import { spawnArgv as s } from './spawn.js';",
    "// import { spawnArgv } from '../sys/spawn.js';",
  ].join('\n');
  assert.deepEqual(startersOf(join('world', 'x.ts'), src), [
    'spawnArgv from sys/spawn.ts',
    'startDetachedHeld from sys/process.ts',
    'run from sys/exec.ts',
    '* from sys/foreground.ts',
    'startChild from sys/process.ts',
    '* from sys/foreground.ts',
  ]);
});

/** What a file outside src/sys may take from node:fs: readers (and open/openSync, for reading only: see below). */
const FS_READERS = new Set([
  'access', 'accessSync', 'closeSync', 'constants', 'existsSync', 'fstatSync', 'lstat', 'lstatSync', 'open', 'openSync',
  'readFile', 'readFileSync', 'readSync', 'readdir', 'readdirSync', 'readlink', 'readlinkSync', 'realpath', 'realpathSync',
  'stat', 'statSync', 'statfs', 'statfsSync', 'watch', 'FSWatcher', 'Stats', 'Dirent',
]);

/**
 * Writes to the file system in SOURCE outside src/sys: a write function taken from node:fs (or the
 * whole module, which could be anything), or open/openSync with a flag that writes.
 */
export function fsWritesOf(source: string): string[] {
  const found: string[] = [];
  for (const i of nodeImportsOf(source)) {
    if (i.module === 'child_process') continue;
    for (const n of i.names) if (!FS_READERS.has(n.replace(/^type\s+/, ''))) found.push(`${n} from node:${i.module}`);
  }
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  if (/\bO_(WRONLY|RDWR|CREAT|APPEND|TRUNC)\b/.test(code)) found.push('an open flag that writes');
  if (/\bopen(?:Sync)?\([^)]*,\s*['"`](?:[wa]|r\+)/.test(code)) found.push('open with a write flag');
  return found;
}

// Developer scripts (`npm run docs`): they write README.md and schema/ in the repository, run by a
// developer, never by vpnns as root; config/ sits below sys/, so they cannot use it.
const FS_WRITE_EXCEPTIONS = new Set([join('config', 'write-docs.ts'), join('config', 'write-schema.ts')]);

test('outside src/sys nothing writes to the file system: root writes go through the executor (System) or sys/files.ts', () => {
  const found: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const from = relative(SRC, file);
    if (from.startsWith(`sys${'/'}`) || FS_WRITE_EXCEPTIONS.has(from)) continue;
    for (const w of fsWritesOf(readFileSync(file, 'utf8'))) found.push(`src/${from}: ${w}`);
  }
  assert.deepEqual(found, [], `file-system writes outside src/sys:\n${found.join('\n')}`);
});

test('the write reader: write functions, whole modules and writing open flags count; readers and read-only opens do not', () => {
  assert.deepEqual(fsWritesOf("import { readFileSync, statSync, type Stats } from 'node:fs';\nimport { readFile } from 'node:fs/promises';"), []);
  assert.deepEqual(fsWritesOf("import { openSync, constants } from 'node:fs';\nconst fd = openSync(p, constants.O_RDONLY | constants.O_NOFOLLOW);"), []);
  assert.deepEqual(fsWritesOf("import { writeFileSync, rmSync } from 'node:fs';"), ['writeFileSync from node:fs', 'rmSync from node:fs']);
  assert.deepEqual(fsWritesOf("import { rename as mv } from 'node:fs/promises';"), ['rename from node:fs/promises']);
  assert.deepEqual(fsWritesOf("import fs from 'node:fs';"), ['default from node:fs']);
  assert.deepEqual(fsWritesOf("import { openSync } from 'node:fs';\nopenSync(p, 'a', 0o600);"), ['open with a write flag']);
  assert.deepEqual(fsWritesOf("import { openSync, constants } from 'node:fs';\nopenSync(p, constants.O_WRONLY | constants.O_CREAT);"), ['an open flag that writes']);
});
