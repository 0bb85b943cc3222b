// Root's writes that are bookkeeping rather than a resource's work: status and state files the
// supervisor rewrites, the lock, the log lines, the control socket, the demo's and the simulated
// world's own files. They change nothing a `--dry-run` would show (a dry run never gets this far),
// yet they are writes as root: here, next to the executor, is the only place that makes them
// (test/unit/layers.test.ts holds every other file of src/ to reading). Every function says what it
// does to the file, so a caller cannot write through a file half-written or widen a mode by accident.
import { appendFileSync, chmodSync, closeSync, constants, cpSync, lchownSync, mkdirSync, openSync, renameSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { chmod, mkdir, open, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { LOG_APPEND_FLAGS } from './log-file.js';

/** Replaces PATH whole (a reader sees the old file or the new one, never half): write beside it, then rename. */
export function replaceFileSync(path: string, text: string, mode = 0o644): void {
  const tmp = `${path}.tmp-${process.pid}`;
  rmSync(tmp, { force: true });
  // wx: never through a file or link someone put where the temporary goes.
  writeFileSync(tmp, text, { mode, flag: 'wx' });
  renameSync(tmp, path);
}

/** As replaceFileSync, creating the directory (MODE 0755) first. */
export async function replaceFile(path: string, text: string, mode = 0o644, dirMode = 0o755): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: dirMode });
  const tmp = `${path}.tmp-${process.pid}`;
  await rm(tmp, { force: true });
  await writeFile(tmp, text, { mode, flag: 'wx' });
  // The mode given to open(2) is filtered by the umask: set it exactly.
  await chmod(tmp, mode);
  await rename(tmp, path);
}

/** Writes a file that must not exist yet (EEXIST otherwise): the lock's way of being the only one. */
export async function createExclusive(path: string, text: string, mode = 0o644): Promise<void> {
  const fh = await open(path, 'wx', mode);
  try {
    await fh.writeFile(text);
  } finally {
    await fh.close();
  }
}

export async function makeDir(path: string, mode = 0o755): Promise<void> {
  await mkdir(path, { recursive: true, mode });
}

export function makeDirSync(path: string, mode = 0o755): void {
  mkdirSync(path, { recursive: true, mode });
}

/** Removes PATH and what is under it; absent is fine. */
export async function removePath(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}

export function removePathSync(path: string): void {
  rmSync(path, { recursive: true, force: true });
}

/** Removes one file (not a directory); throws ENOENT when it is not there, as unlink(2). */
export async function unlinkFile(path: string): Promise<void> {
  await unlink(path);
}

export function unlinkFileSync(path: string): void {
  unlinkSync(path);
}

/** Gives PATH itself to uid:gid, never what a link there points to (lchown). */
export function setLinkOwnerSync(path: string, uid: number, gid: number): void {
  lchownSync(path, uid, gid);
}

export async function renamePath(from: string, to: string): Promise<void> {
  await rename(from, to);
}

export function setModeSync(path: string, mode: number): void {
  chmodSync(path, mode);
}

export async function setMode(path: string, mode: number): Promise<void> {
  await chmod(path, mode);
}

/** Copies a directory tree (the demo keeps the world's logs), what FILTER accepts only. */
export function copyTreeSync(from: string, to: string, filter: (path: string) => boolean): void {
  cpSync(from, to, { recursive: true, filter });
}

/** Appends TEXT to a log, never through a symbolic link planted where the log goes (log-file.ts). */
export function appendToLogSync(path: string, text: string, mode = 0o640): void {
  const fd = openSync(path, LOG_APPEND_FLAGS, mode);
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

/** Appends TEXT to a file of the simulated world's (its own directory: records of what its servers saw). */
export function appendFileTextSync(path: string, text: string): void {
  appendFileSync(path, text);
}

/** An fd open for appending (created 0600 if missing), for a child's stdout and stderr; close it after the spawn. */
export function openForAppendSync(path: string, mode = 0o600): number {
  return openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, mode);
}

export function closeFd(fd: number): void {
  closeSync(fd);
}
