// Before members may make root run vpnns, vpnns itself must be root's: the node binary and every
// file of vpnns that node loads (bin, dist/src, package.json, the yaml dependency), and every
// directory above them, owned by root and writable by root alone. Otherwise whoever can write one
// of them would run code as root the next time a member runs `vpnns exec`.
import { lstatSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkTrustedPath } from '../config/trust.js';

/** The installed vpnns: the directory with bin/ and dist/ (this file is dist/src/members/install-check.js). */
export function packageRoot(): string {
  return dirname(dirname(dirname(dirname(fileURLToPath(import.meta.url)))));
}

/** What the root entry loads, relative to the package root. */
export const LOADED = ['package.json', 'bin', 'dist/src', 'node_modules/yaml'] as const;

function walk(path: string, problems: string[], budget: { left: number }): void {
  if (problems.length || --budget.left < 0) return;
  const st = lstatSync(path);
  if (st.uid !== 0) return void problems.push(`${path} is owned by uid ${st.uid}`);
  if (!st.isSymbolicLink() && (st.mode & 0o022) !== 0) return void problems.push(`${path} is writable by its group or every user`);
  if (st.isDirectory()) for (const e of readdirSync(path)) walk(join(path, e), problems, budget);
}

/** The first reason the installation at `root`, run by `node`, is not root's alone; undefined when it is. */
export function installationProblem(root: string, node: string): string | undefined {
  const top = checkTrustedPath(root, { kind: 'directory' });
  if (!top.trusted) return `${top.reason} (${top.fix})`;
  const bin = checkTrustedPath(node, { kind: 'executable' });
  if (!bin.trusted) return `${bin.reason} (${bin.fix})`;
  if ('missing' in bin) return `${node} does not exist`;
  const problems: string[] = [];
  const budget = { left: 50_000 };
  for (const rel of LOADED) {
    try {
      walk(join(root, rel), problems, budget);
    } catch (e) {
      problems.push(`${join(root, rel)}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
  }
  if (budget.left < 0) problems.push(`${root} has more files than vpnns expects`);
  return problems[0];
}
