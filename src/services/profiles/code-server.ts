// The code-server profile: VS Code in the browser, run as the user inside the namespace, listening
// on the namespace address only (the host reaches it through the published 127.0.0.1 port).
// Everything it keeps lives in its own directories under the user's home, so it never finds a
// code-server the user runs outside the namespace (its session socket is in the user-data-dir).
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { System } from '../../sys/system.js';

export const CODE_SERVER_VERSION = '4.100.3';
export const CODE_SERVER_PROGRAM = 'code-server';

export interface CodeServerPaths {
  base: string;
  data: string;
  extensions: string;
  /** Its own config file, so ~/.config/code-server/config.yaml (cert:, auth:, bind-addr:) cannot change how it runs. */
  config: string;
}

export function codeServerPaths(home: string): CodeServerPaths {
  const base = `${home}/.local/share/vpnns/code-server`;
  return { base, data: `${base}/data`, extensions: `${base}/extensions`, config: `${base}/config.yaml` };
}

export interface CodeServerOptions {
  /** The program and any leading arguments (default [`code-server`]). */
  program: string[];
  bindHost: string;
  port: number;
  auth: 'password' | 'none';
  paths: CodeServerPaths;
}

export function codeServerArgv(o: CodeServerOptions): string[] {
  return [
    ...o.program,
    '--bind-addr', `${o.bindHost}:${o.port}`,
    '--auth', o.auth,
    '--config', o.paths.config,
    '--user-data-dir', o.paths.data,
    '--extensions-dir', o.paths.extensions,
    '--disable-telemetry',
    '--disable-update-check',
  ];
}

/**
 * Environment that keeps code-server to itself: VSCODE_IPC_HOOK_CLI (set in a VS Code terminal)
 * would make it hand over to the editor that owns that socket, outside the namespace, and exit.
 */
export function codeServerEnv(): Record<string, string> {
  return { VSCODE_IPC_HOOK_CLI: '' };
}

export function passwordPath(appDir: string): string {
  return `${appDir}/password`;
}

/** 24 random bytes, base64url: 32 characters a person can paste. */
export function newPassword(): string {
  return randomBytes(24).toString('base64url');
}

/** The app's password, made (0600, root) the first time it is asked for. */
export async function ensurePassword(sys: System, file: string): Promise<string> {
  const existing = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (existing) return existing;
  const pw = newPassword();
  await sys.mkdir(dirname(file), 0o700);
  await sys.writeFile(file, `${pw}\n`, { mode: 0o600, secret: true });
  return pw;
}

export async function readPassword(file: string): Promise<string | undefined> {
  const pw = (await readFile(file, 'utf8').catch(() => '')).trim();
  return pw || undefined;
}
