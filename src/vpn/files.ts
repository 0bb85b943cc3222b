// Reading the user's VPN files with errors that say which key pointed at them and what to do.
// Run as root, only files root alone controls are read (config/trust.ts).
import { stat } from 'node:fs/promises';
import { ConfigError } from '../config/errors.js';
import { readTrustedFile } from '../config/trust.js';

export async function readUserFile(path: string, key: string): Promise<{ text: string; warnings: string[] }> {
  let text: string;
  try {
    text = readTrustedFile(path, key);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError({
      path: key,
      detail: code === 'ENOENT' ? `file ${path} does not exist; fix the path` : `cannot read ${path} (${code}); check its permissions`,
    });
  }
  const warnings: string[] = [];
  const s = await stat(path);
  if (s.mode & 0o004) warnings.push(`${path} holds VPN secrets and is readable by every user; run: chmod 600 ${path}`);
  return { text, warnings };
}
