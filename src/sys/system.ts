// The executor: every change vpnns makes to the machine goes through here, so `--dry-run`
// is one flag and the log of what was done is one list.
import { mkdir, readFile, rename, rm, writeFile, chmod, chown, stat, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import { run, formatArgv, type RunOptions, type RunResult } from './exec.js';
import { createLogFileFor, idsOf } from './log-file.js';

export interface FileOptions {
  mode?: number;
  /** Never print the content (keys, passwords). */
  secret?: boolean;
  /**
   * Rewrite the existing file rather than replace it: bind mounts of it (systemd BindReadOnlyPaths=
   * in running units) keep pointing at the same inode and see the new content.
   */
  inPlace?: boolean;
  /** Owner of the new file (a file only that user may read: the environment of their app). */
  owner?: { uid: number; gid: number };
}

export class System {
  /** What was done (or, in dry-run, what would be done), in order. */
  readonly actions: string[] = [];

  constructor(readonly dryRun = false) {}

  private record(line: string): void {
    this.actions.push(line);
    // A long-running supervisor records every reconnect; keep the recent past only.
    if (this.actions.length > 2000) this.actions.splice(0, 1000);
  }

  /** Read-only commands run even in dry-run: they change nothing. */
  query(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return run(argv, opts);
  }

  async change(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    this.record(`$ ${formatArgv(argv)}${opts.input ? `  <<'EOF'\n${indent(opts.input)}EOF` : ''}`);
    if (this.dryRun) return { code: 0, stdout: '', stderr: '' };
    return run(argv, opts);
  }

  async writeFile(path: string, content: string, opts: FileOptions = {}): Promise<void> {
    const mode = opts.mode ?? 0o644;
    const shown = opts.secret ? `  (${content.length} bytes, secret)\n` : indent(content);
    this.record(`write ${path} (mode ${mode.toString(8)}${opts.owner ? `, owner ${opts.owner.uid}` : ''})\n${shown}`);
    if (this.dryRun) return;
    await mkdir(dirname(path), { recursive: true });
    if (opts.inPlace && (await exists(path))) {
      await writeFile(path, content, { mode, flag: 'r+' });
      await truncate(path, Buffer.byteLength(content));
      return;
    }
    // Write then rename so a reader never sees half a file, and a secret never exists with a wider mode.
    const tmp = `${path}.tmp-${process.pid}`;
    await writeFile(tmp, content, { mode });
    await chmod(tmp, mode);
    if (opts.owner) await chown(tmp, opts.owner.uid, opts.owner.gid);
    await rename(tmp, path);
  }

  async remove(path: string): Promise<void> {
    this.record(`remove ${path}`);
    if (this.dryRun) return;
    await rm(path, { recursive: true, force: true });
  }

  /** Creates (or keeps) a log file owned by `user:group`, never through a link (log-file.ts). */
  async createLogFileFor(path: string, user: string, group: string): Promise<void> {
    this.record(`create ${path} owned by ${user}:${group} (not through a link)`);
    if (this.dryRun) return;
    const { uid, gid } = idsOf(user, group);
    createLogFileFor(path, uid, gid);
  }

  async mkdir(path: string, mode = 0o755): Promise<void> {
    if (await exists(path)) return;
    this.record(`mkdir ${path}`);
    if (this.dryRun) return;
    await mkdir(path, { recursive: true, mode });
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

export async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

function indent(text: string): string {
  return text
    .split('\n')
    .filter((l, i, a) => i < a.length - 1 || l !== '')
    .map((l) => `    ${l}\n`)
    .join('');
}
