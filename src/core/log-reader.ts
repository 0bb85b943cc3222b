// Reading vpnns's logs: the supervisor's JSON-lines log (vpnns.log) and a component's own output file
// (wireguard-go.log, socks.log...), filtered by component and level, their last lines read backwards
// (a huge log costs only its tail), and following them like `tail -F` (through rotation and
// truncation). `vpnns logs` prints what this reads.
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import type { Config } from '../config/types.js';
import { logDirFor, type Level } from './log.js';
import { namesFor } from './names.js';
import { readState } from './state.js';
import { untilInterrupted } from '../sys/process.js';

/** What a line in vpnns.log holds (see core/log.ts), or a raw line of a program's own log. */
export interface LogEntry {
  t?: string;
  level?: Level;
  component: string;
  msg: string;
  /** File name for lines of a program's own log (no level, no time of ours). */
  source?: string;
  fields: Record<string, unknown>;
  /** The line as written. */
  raw: string;
}

export interface LogSource {
  path: string;
  /** Raw program output attributed to this component; undefined for vpnns.log itself. */
  component?: string;
}

export const LEVELS: readonly Level[] = ['debug', 'info', 'warn', 'error'];
const VPN_CLIENT_LOGS = ['wireguard-go.log', 'openvpn.log', 'adguardvpn-cli.log', 'vpn-command.log'];

/** The files `vpnns logs [COMPONENT]` reads: vpnns.log, then the component's own output. */
export function logSources(logDir: string, component?: string): LogSource[] {
  const own = component === undefined ? [] : component === 'vpn' ? VPN_CLIENT_LOGS : component === 'supervisor' ? ['supervisor.out'] : [`${component}.log`];
  return [{ path: `${logDir}/vpnns.log` }, ...own.map((f) => ({ path: `${logDir}/${f}`, component }))];
}

export function parseLogLine(line: string, source: LogSource): LogEntry | undefined {
  if (!line.trim()) return undefined;
  if (source.component === undefined) {
    try {
      const j = JSON.parse(line) as Record<string, unknown>;
      if (j && typeof j === 'object' && typeof j.msg === 'string') {
        const { t, level, component, msg, ...fields } = j;
        return {
          t: typeof t === 'string' ? t : undefined,
          level: LEVELS.includes(level as Level) ? (level as Level) : undefined,
          component: typeof component === 'string' ? component : 'vpnns',
          msg,
          fields,
          raw: line,
        };
      }
    } catch {
      /* a line that is not ours (a crash trace appended by hand, a partial write): show it as is */
    }
    return { component: 'vpnns', msg: line, fields: {}, raw: line };
  }
  return { component: source.component, msg: line, source: source.path.split('/').at(-1), fields: {}, raw: line };
}

/** "vpn" matches vpn; "forward" matches forward-8080 and forward-socks. */
export function matchesComponent(entry: Pick<LogEntry, 'component'>, component: string | undefined): boolean {
  return component === undefined || entry.component === component || entry.component.startsWith(`${component}-`);
}

export function atLeast(entry: Pick<LogEntry, 'level'>, min: Level | undefined): boolean {
  // Raw program output has no level of ours: it is shown unless only errors/warnings are asked for.
  if (!min) return true;
  return LEVELS.indexOf(entry.level ?? 'info') >= LEVELS.indexOf(min);
}

function fieldValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (v === undefined) return '';
  return JSON.stringify(v) ?? String(v);
}

/** `time level component msg key=val ...`; a program's own lines as `component| line`. */
export function formatEntry(e: LogEntry): string {
  if (e.source) return `${''.padEnd(24)} ${'-'.padEnd(5)} ${e.component.padEnd(14)} ${e.source}| ${e.msg}`;
  const kv = Object.entries(e.fields).map(([k, v]) => `${k}=${fieldValue(v)}`);
  return [(e.t ?? '-').padEnd(24), (e.level ?? '-').padEnd(5), e.component.padEnd(14), e.msg, ...kv].join(' ').trimEnd();
}

/** --json: our lines verbatim, a program's own lines wrapped so every output line is one JSON object. */
export function jsonEntry(e: LogEntry): string {
  return e.source ? JSON.stringify({ component: e.component, source: e.source, msg: e.msg }) : e.raw;
}

/**
 * The last `n` lines of `path` that `keep` accepts, read backwards in chunks so a huge log (a
 * client busy-looping) costs only its tail. n = Infinity reads it all.
 */
export function lastLines(path: string, n: number, keep: (line: string) => boolean = () => true, end?: number): string[] {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return [];
  }
  try {
    const size = Math.min(fstatSync(fd).size, end ?? Infinity);
    const out: string[] = [];
    let pos = size;
    let carry = Buffer.alloc(0);
    const chunk = 65536;
    while (pos > 0 && out.length < n) {
      const len = Math.min(chunk, pos);
      pos -= len;
      const buf = Buffer.alloc(len);
      readSync(fd, buf, 0, len, pos);
      let data = Buffer.concat([buf, carry]);
      // Everything before the first newline may continue in the previous chunk.
      const first = pos > 0 ? data.indexOf(10) : -1;
      if (first === -1 && pos > 0) {
        carry = data;
        continue;
      }
      carry = pos > 0 ? data.subarray(0, first) : Buffer.alloc(0);
      data = pos > 0 ? data.subarray(first + 1) : data;
      const lines = data.toString('utf8').split('\n');
      for (let i = lines.length - 1; i >= 0 && out.length < n; i--) {
        const l = lines[i]!;
        if (l && keep(l)) out.push(l);
      }
    }
    return out.reverse();
  } finally {
    closeSync(fd);
  }
}

interface Tracked {
  source: LogSource;
  fd?: number;
  ino?: number;
  offset: number;
  partial: string;
}

/**
 * Follows files like `tail -F`: starts at their current end, picks up a file that appears later,
 * reads a rotated file to its end before switching to the new one, and starts over when a file
 * is truncated. Polling, because inotify misses renames across directories and is not needed at
 * human speed.
 */
export class LogFollower {
  private readonly files: Tracked[];

  constructor(sources: LogSource[], opts: { fromStart?: boolean } = {}) {
    this.files = sources.map((source) => {
      const t: Tracked = { source, offset: 0, partial: '' };
      this.open(t);
      if (t.fd !== undefined && !opts.fromStart) t.offset = fstatSync(t.fd).size;
      return t;
    });
  }

  private open(t: Tracked): void {
    try {
      t.fd = openSync(t.source.path, 'r');
      t.ino = fstatSync(t.fd).ino;
    } catch {
      t.fd = undefined;
      t.ino = undefined;
    }
    t.offset = 0;
    t.partial = '';
  }

  /** Where following starts in each file (what was there before is the initial output). */
  positions(): Map<string, number> {
    return new Map(this.files.map((t) => [t.source.path, t.offset]));
  }

  /** Complete lines written since the last call, with their source, in file order per source. */
  poll(): Array<{ source: LogSource; line: string }> {
    const out: Array<{ source: LogSource; line: string }> = [];
    for (const t of this.files) {
      if (t.fd === undefined) {
        this.open(t);
        if (t.fd === undefined) continue;
      }
      let onDisk: number | undefined;
      try {
        onDisk = statSync(t.source.path).ino;
      } catch {
        onDisk = undefined;
      }
      // Whatever the old file got before it was moved away still belongs to the output.
      this.drain(t, out);
      if (onDisk !== t.ino) {
        this.flushPartial(t, out);
        closeSync(t.fd!);
        this.open(t);
        if (t.fd !== undefined) this.drain(t, out);
      }
    }
    return out;
  }

  private drain(t: Tracked, out: Array<{ source: LogSource; line: string }>): void {
    const size = fstatSync(t.fd!).size;
    if (size < t.offset) {
      // Truncated in place (copytruncate, `: > file`): everything now there is new.
      t.offset = 0;
      t.partial = '';
    }
    while (t.offset < size) {
      const len = Math.min(1 << 20, size - t.offset);
      const buf = Buffer.alloc(len);
      const got = readSync(t.fd!, buf, 0, len, t.offset);
      if (got <= 0) break;
      t.offset += got;
      const text = t.partial + buf.subarray(0, got).toString('utf8');
      const lines = text.split('\n');
      t.partial = lines.pop() ?? '';
      for (const line of lines) if (line) out.push({ source: t.source, line });
    }
  }

  private flushPartial(t: Tracked, out: Array<{ source: LogSource; line: string }>): void {
    if (t.partial) out.push({ source: t.source, line: t.partial });
    t.partial = '';
  }

  close(): void {
    for (const t of this.files) if (t.fd !== undefined) closeSync(t.fd);
    this.files.length = 0;
  }
}

export interface LogsOptions {
  component?: string;
  level?: Level;
  json: boolean;
  /** Lines per source before following; Infinity for all. */
  lines: number;
}

/** The initial output: each source's last lines that pass the filters, vpnns.log last. */
export function readLogs(sources: LogSource[], o: LogsOptions, ends?: Map<string, number>): string[] {
  const out: string[] = [];
  // The program's own output first, then our events about it (which usually explain it).
  const ordered = [...sources.filter((s) => s.component !== undefined), ...sources.filter((s) => s.component === undefined)];
  for (const source of ordered) {
    const keep = (l: string) => {
      const e = parseLogLine(l, source);
      return e !== undefined && matchesComponent(e, o.component) && atLeast(e, o.level);
    };
    for (const l of lastLines(source.path, o.lines, keep, ends?.get(source.path))) {
      const e = parseLogLine(l, source)!;
      out.push(o.json ? jsonEntry(e) : formatEntry(e));
    }
  }
  return out;
}

/** A component name as `vpnns status` lists them; never a path (`/`, `..`): it names a file in the log directory. */
export function isComponentName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name) && !name.includes('..');
}

/** The running namespace's own config decides where its logs are, as it does for the supervisor. */
export async function logDirOfRunning(cfg: Config): Promise<string> {
  return logDirFor((await readState(namesFor(cfg)))?.config ?? cfg);
}

export function anyLogExists(sources: readonly LogSource[]): boolean {
  return sources.some((s) => {
    try {
      statSync(s.path);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * `readLogs`, then every new line that passes the filters, until `signal` aborts. The follower is
 * opened before the initial read, so nothing written in between is lost or shown twice.
 */
export async function followLogs(sources: LogSource[], o: LogsOptions, out: (line: string) => void, signal: AbortSignal): Promise<void> {
  const follower = new LogFollower(sources);
  try {
    for (const l of readLogs(sources, o, follower.positions())) out(l);
    if (signal.aborted) return;
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        for (const { source, line } of follower.poll()) {
          const e = parseLogLine(line, source);
          if (e && matchesComponent(e, o.component) && atLeast(e, o.level)) out(o.json ? jsonEntry(e) : formatEntry(e));
        }
      }, 250);
      signal.addEventListener('abort', () => {
        clearInterval(timer);
        resolve();
      }, { once: true });
    });
  } finally {
    follower.close();
  }
}

/** `vpnns logs -f`: followLogs until Ctrl-C (or the TERM of whoever runs us). */
export async function followLogsUntilSignal(sources: LogSource[], o: LogsOptions, out: (line: string) => void): Promise<void> {
  await untilInterrupted((signal) => followLogs(sources, o, out, signal));
}
