// Structured JSON lines: one object per event, with level and component, journald friendly.
import { appendToLogSync, makeDirSync } from '../sys/files.js';
import type { Config } from '../config/types.js';

export type Level = 'debug' | 'info' | 'warn' | 'error';

export function logDirFor(cfg: Pick<Config, 'logDir' | 'namespace'>): string {
  return `${cfg.logDir}/${cfg.namespace}`;
}

export interface Logger {
  (level: Level, msg: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
}

export function createLogger(file: string | undefined, component = 'vpnns', alsoStderr = false): Logger {
  if (file) makeDirSync(file.replace(/\/[^/]*$/, ''));
  const make = (comp: string): Logger => {
    const fn = ((level: Level, msg: string, fields: Record<string, unknown> = {}) => {
      const line = JSON.stringify({ t: new Date().toISOString(), level, component: comp, msg, ...fields }) + '\n';
      if (file) {
        try {
          // Never through a symbolic link planted in the log directory.
          appendToLogSync(file, line, 0o640);
        } catch {
          /* logging must never take the supervisor down */
        }
      }
      if (alsoStderr) process.stderr.write(line);
    }) as Logger;
    fn.child = (c: string) => make(c);
    return fn;
  };
  return make(component);
}
