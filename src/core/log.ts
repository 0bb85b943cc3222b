// Structured JSON lines: one object per event, with level and component, journald friendly.
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import type { Config } from '../config/types.js';
import { LOG_APPEND_FLAGS } from '../sys/log-file.js';

export type Level = 'debug' | 'info' | 'warn' | 'error';

export function logDirFor(cfg: Pick<Config, 'logDir' | 'namespace'>): string {
  return `${cfg.logDir}/${cfg.namespace}`;
}

export interface Logger {
  (level: Level, msg: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
}

export function createLogger(file: string | undefined, component = 'vpnns', alsoStderr = false): Logger {
  if (file) mkdirSync(file.replace(/\/[^/]*$/, ''), { recursive: true });
  const make = (comp: string): Logger => {
    const fn = ((level: Level, msg: string, fields: Record<string, unknown> = {}) => {
      const line = JSON.stringify({ t: new Date().toISOString(), level, component: comp, msg, ...fields }) + '\n';
      if (file) {
        try {
          // Never through a symbolic link planted in the log directory.
          const fd = openSync(file, LOG_APPEND_FLAGS, 0o640);
          try {
            writeSync(fd, line);
          } finally {
            closeSync(fd);
          }
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
