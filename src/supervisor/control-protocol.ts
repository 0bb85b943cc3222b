// The supervisor's control protocol: one JSON object per line each way, over a Unix socket in the
// namespace's run directory. Request {id?, op, args} → response {id?, ok: true, result} or
// {id?, ok: false, error, code}. Every field of a request is checked here before anything acts on
// it: the socket is root-only today, but whoever may connect later (members checked by SO_PEERCRED)
// must not be able to make the supervisor do more than these ops with these values.
import type { Names } from '../core/names.js';

/** Longest request line accepted; a longer one is refused and the connection closed. */
export const MAX_LINE = 16 * 1024;
/** Longest a request may ask the supervisor to wait for its effect. */
export const MAX_WAIT_MS = 300_000;

export function controlSocketPath(n: Pick<Names, 'stateDir'>): string {
  return `${n.stateDir}/control.sock`;
}

const SERVICE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const PORT = /^\d{1,5}$/;
const HOST_PORT = /^(\d{1,3}(\.\d{1,3}){3}|\[[0-9A-Fa-f:.]{2,45}\]):\d{1,5}$/;

export type Request =
  | { op: 'ping'; args: Record<string, never> }
  | { op: 'status'; args: Record<string, never> }
  | { op: 'reload'; args: Record<string, never> }
  | { op: 'app.start'; args: { service: string; waitMs: number } }
  | { op: 'app.stop'; args: { service: string; waitMs: number } }
  | { op: 'publish.add'; args: { target: string; host?: string; via?: 'forwarder' | 'relay' | 'kernel'; dryRun: boolean; waitMs: number } }
  | { op: 'publish.remove'; args: { host: string; dryRun: boolean; waitMs: number } }
  | { op: 'publish.list'; args: Record<string, never> }
  | { op: 'stats'; args: { gc: boolean } };

export type Op = Request['op'];
export const OPS: readonly Op[] = ['ping', 'status', 'reload', 'app.start', 'app.stop', 'publish.add', 'publish.remove', 'publish.list', 'stats'];

export type Response = { id?: number; ok: true; result: unknown } | { id?: number; ok: false; error: string; code: number };

export class ProtocolError extends Error {}

type Field = 'service' | 'target' | 'host' | 'via' | 'dryRun' | 'waitMs' | 'gc';
const FIELDS: Record<Op, { required: Field[]; optional: Field[] }> = {
  ping: { required: [], optional: [] },
  status: { required: [], optional: [] },
  reload: { required: [], optional: [] },
  'app.start': { required: ['service'], optional: ['waitMs'] },
  'app.stop': { required: ['service'], optional: ['waitMs'] },
  'publish.add': { required: ['target'], optional: ['host', 'via', 'dryRun', 'waitMs'] },
  'publish.remove': { required: ['host'], optional: ['dryRun', 'waitMs'] },
  'publish.list': { required: [], optional: [] },
  stats: { required: [], optional: ['gc'] },
};

function checkField(name: Field, v: unknown): unknown {
  switch (name) {
    case 'service':
      if (typeof v !== 'string' || !SERVICE.test(v)) throw new ProtocolError('service must be a service name');
      return v;
    case 'target':
      if (typeof v !== 'string' || !PORT.test(v)) throw new ProtocolError('target must be a port number');
      return v;
    case 'host':
      if (typeof v !== 'string' || !(PORT.test(v) || HOST_PORT.test(v))) throw new ProtocolError('host must be ADDR:PORT or PORT');
      return v;
    case 'via':
      if (v !== 'forwarder' && v !== 'relay' && v !== 'kernel') throw new ProtocolError('via must be forwarder, relay or kernel');
      return v;
    case 'dryRun':
    case 'gc':
      if (typeof v !== 'boolean') throw new ProtocolError(`${name} must be true or false`);
      return v;
    case 'waitMs':
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_WAIT_MS) throw new ProtocolError(`waitMs must be a whole number from 0 to ${MAX_WAIT_MS}`);
      return v;
  }
}

/** A request line, checked field by field; throws ProtocolError for anything else. */
export function parseRequest(line: string): { id?: number; req: Request } {
  if (line.length > MAX_LINE) throw new ProtocolError('request too long');
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    throw new ProtocolError('request is not JSON');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ProtocolError('request must be an object');
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'id' && k !== 'op' && k !== 'args') throw new ProtocolError(`unknown request field ${JSON.stringify(k.slice(0, 32))}`);
  const id = o.id;
  if (id !== undefined && (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 2 ** 31)) throw new ProtocolError('id must be a small whole number');
  const op = o.op;
  if (typeof op !== 'string' || !(OPS as readonly string[]).includes(op)) throw new ProtocolError(`unknown op ${JSON.stringify(String(op).slice(0, 32))}`);
  const spec = FIELDS[op as Op];
  const argsIn = o.args ?? {};
  if (typeof argsIn !== 'object' || argsIn === null || Array.isArray(argsIn)) throw new ProtocolError('args must be an object');
  const a = argsIn as Record<string, unknown>;
  const args: Record<string, unknown> = {};
  for (const k of Object.keys(a)) {
    if (!(spec.required as string[]).includes(k) && !(spec.optional as string[]).includes(k)) throw new ProtocolError(`${op} takes no argument ${JSON.stringify(k.slice(0, 32))}`);
  }
  for (const k of spec.required) {
    if (a[k] === undefined) throw new ProtocolError(`${op} needs ${k}`);
    args[k] = checkField(k, a[k]);
  }
  for (const k of spec.optional) if (a[k] !== undefined) args[k] = checkField(k, a[k]);
  if (spec.optional.includes('waitMs') && args.waitMs === undefined) args.waitMs = 60_000;
  if (spec.optional.includes('dryRun') && args.dryRun === undefined) args.dryRun = false;
  if (spec.optional.includes('gc') && args.gc === undefined) args.gc = false;
  return { ...(id !== undefined && { id: id as number }), req: { op, args } as Request };
}
