// What the user asked for at run time (`vpnns app start|stop NAME`, sent on the control socket), one
// file per service under /run/vpnns/<ns>/wanted/, written and read only by the supervisor, so it finds
// it again after a restart of its own. Under the state dir on purpose: `down` removes it.
import { readdir, readFile } from 'node:fs/promises';
import { replaceFile } from '../sys/files.js';
import type { Names } from '../core/names.js';

export type Wanted = 'start' | 'stop';

export function wantedDir(n: Pick<Names, 'stateDir'>): string {
  return `${n.stateDir}/wanted`;
}

export async function readWanted(n: Pick<Names, 'stateDir'>): Promise<Record<string, Wanted>> {
  const dir = wantedDir(n);
  const out: Record<string, Wanted> = {};
  let files: string[];
  try {
    files = await readdir(dir);
  } catch {
    return out;
  }
  for (const f of files) {
    if (f.includes('.tmp-')) continue;
    const v = (await readFile(`${dir}/${f}`, 'utf8').catch(() => '')).trim();
    if (v === 'start' || v === 'stop') out[f] = v;
  }
  return out;
}

export async function writeWanted(n: Pick<Names, 'stateDir'>, service: string, want: Wanted): Promise<void> {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(service)) throw new Error(`bad service name ${JSON.stringify(service)}`);
  const dir = wantedDir(n);
  // Beside it, then renamed (a `.tmp-` name, which the reader skips).
  await replaceFile(`${dir}/${service}`, `${want}\n`, 0o644, 0o755);
}
