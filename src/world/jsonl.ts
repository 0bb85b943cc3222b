// JSON-lines logs. Written synchronously on purpose: a service logs before it
// answers, so a test that got its answer can read the log at once.
import { readFileSync } from 'node:fs';
import { appendFileTextSync } from '../sys/files.js';

export function appendJsonLine(path: string, record: object): void {
  appendFileTextSync(path, `${JSON.stringify(record)}\n`);
}

export function readJsonLines<T>(path: string): T[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T);
}

/** "::ffff:1.2.3.4" (a v4 client on a dual-stack socket) -> "1.2.3.4". */
export function plainAddress(addr: string | undefined): string {
  if (!addr) return '';
  return addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr;
}
