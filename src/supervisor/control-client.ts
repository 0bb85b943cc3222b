// The CLI's side of the control protocol: one request, one answer, and a deadline. A supervisor
// that is not there, or does not answer in time (stopped, hung), is one sentence and exit 1. The
// CLI pings first, so a frozen supervisor is found before anything is asked of it: a ping that was
// never answered changed nothing; a request that was taken but answered late may have done part of
// its work, and the sentence says so.
import { connect } from 'node:net';
import { VpnnsError } from '../errors.js';
import type { Names } from '../core/names.js';
import { controlSocketPath, MAX_LINE, type Request, type Response } from './control-protocol.js';

/** How long a supervisor has to answer a ping. */
export const ANSWER_MS = 5000;

export class SupervisorUnreachable extends VpnnsError {}

/** It is there (the socket takes the connection) but gives no answer in time: stopped or hung. */
export class SupervisorSilent extends SupervisorUnreachable {}

function notRunning(ns: string): SupervisorUnreachable {
  return new SupervisorUnreachable(`the vpnns supervisor of namespace ${ns} is not running; run \`sudo vpnns up\` again to restart it.`);
}

/**
 * The fix it names works for a supervisor that is stopped or hung for good: `up` refuses to act on
 * one that does not answer (it would change nothing), `down` ends it whatever its state.
 */
function silent(ns: string, ms: number): SupervisorSilent {
  return new SupervisorSilent(
    `the supervisor of ${ns} did not answer within ${Math.round(ms / 1000)} s; nothing was changed; see \`vpnns logs supervisor\`, and if it stays silent, \`sudo vpnns down\` then \`sudo vpnns up\` start it over.`,
  );
}

function late(ns: string, op: string, ms: number): SupervisorSilent {
  return new SupervisorSilent(
    `the supervisor of ${ns} took the request (${op}) but did not answer within ${Math.round(ms / 1000)} s, so it may have done part of it; see \`vpnns status\` and \`vpnns logs supervisor\`.`,
  );
}

/** Sends one request and returns its result; throws the supervisor's error as a VpnnsError with its code. */
export function request<T = unknown>(names: Pick<Names, 'stateDir' | 'ns'>, req: { op: Request['op']; args?: Record<string, unknown> }, timeoutMs = ANSWER_MS): Promise<T> {
  return new Promise((resolve, reject) => {
    const sock = connect(controlSocketPath(names));
    let buf = '';
    let done = false;
    const finish = (err: Error | undefined, v?: T) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(v as T);
    };
    const timer = setTimeout(() => finish(silent(names.ns, timeoutMs)), timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(`${JSON.stringify({ id: 1, op: req.op, args: req.args ?? {} })}\n`));
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') finish(notRunning(names.ns));
      else if (e.code === 'EACCES') finish(new VpnnsError(`cannot reach the supervisor of ${names.ns} (permission denied); run with sudo.`));
      else finish(new VpnnsError(`cannot reach the supervisor of ${names.ns}: ${e.message}.`));
    });
    sock.on('close', () => finish(new VpnnsError(`the supervisor of ${names.ns} closed the connection without an answer; see \`vpnns logs supervisor\`.`)));
    sock.on('data', (d: string) => {
      buf += d;
      const i = buf.indexOf('\n');
      if (i < 0) {
        // The supervisor's answers are small; a runaway one is not read without end.
        if (buf.length > 64 * MAX_LINE) finish(new VpnnsError(`the supervisor of ${names.ns} sent an answer that is too long.`));
        return;
      }
      let r: Response;
      try {
        r = JSON.parse(buf.slice(0, i)) as Response;
      } catch {
        finish(new VpnnsError(`the supervisor of ${names.ns} sent an answer that is not JSON.`));
        return;
      }
      if (r.ok) finish(undefined, r.result as T);
      else finish(new VpnnsError(r.error, { exitCode: r.code }));
    });
  });
}

/**
 * A ping first, so a frozen supervisor is one prompt sentence and nothing changed; then the request,
 * allowed `waitMs` plus the answer time (or `answerMs` for an op that has no waitMs).
 */
export async function ask<T = unknown>(names: Pick<Names, 'stateDir' | 'ns'>, op: Request['op'], args: Record<string, unknown> = {}, answerMs = ANSWER_MS): Promise<T> {
  await request(names, { op: 'ping' });
  const ms = (typeof args.waitMs === 'number' ? args.waitMs : 0) + answerMs;
  try {
    return await request<T>(names, { op, args }, ms);
  } catch (e) {
    if (e instanceof SupervisorSilent) throw late(names.ns, op, ms);
    throw e;
  }
}
