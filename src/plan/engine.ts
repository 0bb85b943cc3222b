// `up` and `down`: walk the plan, record each step in the state before doing it, and on failure
// undo what this run made so nothing is left half-made.
import type { Config } from '../config/types.js';
import { System } from '../sys/system.js';
import { acquireLock } from './lock.js';
import { namesFor, type Names } from './names.js';
import { ALL_RESOURCES, planResources } from './plan.js';
import type { Context, Resource } from './resource.js';
import { hostNetnsId, readState, writeState, type State } from './state.js';
import { VpnnsError } from '../errors.js';

export interface RunOptions {
  sys: System;
  say: (line: string) => void;
  /** Stay attached: the supervisor runs in this process (systemd, containers). */
  foreground?: boolean;
  /** Make the namespace, firewall and files only; something else (systemd) runs the processes. */
  noSupervisor?: boolean;
}

export interface UpResult {
  changed: string[];
  unchanged: string[];
  ctx: Context;
}

function makeContext(cfg: Config, names: Names, state: State, opts: RunOptions): Context {
  const ctx: Context = {
    sys: opts.sys,
    cfg,
    names,
    state,
    say: opts.say,
    saveState: () => writeState(opts.sys, names, ctx.state),
  };
  return ctx;
}

async function newState(cfg: Config): Promise<State> {
  return {
    version: 1,
    namespace: cfg.namespace,
    hostNetns: await hostNetnsId(),
    startedAt: new Date().toISOString(),
    config: cfg,
    applied: [],
    runtime: {},
  };
}

/** Config fields whose change needs the namespace rebuilt; anything else is converged in place. */
function sameShape(a: Config, b: Config): boolean {
  return a.network.subnet === b.network.subnet && JSON.stringify(a.vpn) === JSON.stringify(b.vpn) && a.killSwitch === b.killSwitch;
}

export async function up(cfg: Config, opts: RunOptions): Promise<UpResult> {
  const names = namesFor(cfg);
  const lock = opts.sys.dryRun ? undefined : await acquireLock(names.lockFile, `namespace ${names.ns}`);
  try {
    const existing = await readState(names);
    if (existing && !sameShape(existing.config, cfg)) {
      throw new VpnnsError(
        `namespace ${names.ns} is already up with a different network, VPN or kill-switch setting; run \`vpnns down\` first, then \`vpnns up\`.`,
        { exitCode: 2 },
      );
    }
    const state = existing ? { ...existing, config: cfg } : await newState(cfg);
    const ctx = makeContext(cfg, names, state, opts);
    const changed: string[] = [];
    const unchanged: string[] = [];
    const madeNow: Resource[] = [];
    try {
      for (const r of planResources(cfg)) {
        if (r.id === 'supervisor' && (opts.foreground || opts.noSupervisor)) continue;
        if (await r.check(ctx)) {
          unchanged.push(r.title);
          continue;
        }
        if (!state.applied.includes(r.id)) {
          state.applied.push(r.id);
          madeNow.push(r);
        }
        await ctx.saveState();
        await r.apply(ctx);
        changed.push(r.title);
        await testHangAfter(r.id);
        opts.say(`${opts.sys.dryRun ? 'would make' : 'made'} ${r.title}`);
      }
      await ctx.saveState();
    } catch (err) {
      if (!opts.sys.dryRun) {
        // Undo this run's work: everything if the namespace is new, else only what this run added.
        const undo = existing ? madeNow : ALL_RESOURCES;
        await removeAll(ctx, [...undo].reverse(), () => {});
        if (!existing) await opts.sys.remove(names.stateDir).catch(() => {});
        else {
          state.applied = state.applied.filter((id) => !madeNow.some((r) => r.id === id));
          await ctx.saveState().catch(() => {});
        }
      }
      throw err;
    }
    return { changed, unchanged, ctx };
  } finally {
    await lock?.release();
  }
}

export interface DownResult {
  removed: string[];
}

/** Removes everything vpnns may have made for this namespace, also after a crash in the middle of `up`. */
export async function down(cfg: Config, opts: RunOptions): Promise<DownResult> {
  const names0 = namesFor(cfg);
  const lock = opts.sys.dryRun ? undefined : await acquireLock(names0.lockFile, `namespace ${names0.ns}`);
  try {
    const existing = await readState(names0);
    // The config `up` used wins over today's file: it names what was really made.
    const used = existing?.config ?? cfg;
    const names = namesFor(used);
    const state = existing ?? (await newState(used));
    const ctx = makeContext(used, names, state, opts);
    const removed: string[] = [];
    await removeAll(ctx, [...ALL_RESOURCES].reverse(), (title) => {
      removed.push(title);
      opts.say(`${opts.sys.dryRun ? 'would remove' : 'removed'} ${title}`);
    });
    if (existing) await opts.sys.remove(names.stateDir);
    return { removed };
  } finally {
    await lock?.release();
  }
}

async function removeAll(ctx: Context, resources: Resource[], onRemoved: (title: string) => void): Promise<void> {
  const errors: unknown[] = [];
  for (const r of resources) {
    try {
      if (await r.remove(ctx)) onRemoved(r.title);
    } catch (e) {
      // Keep going: one stuck resource must not strand the others.
      errors.push(e);
    }
  }
  if (errors.length) throw errors[0];
}

/**
 * Test hook: VPNNS_TEST_HANG_AFTER=<resource id> makes `up` stop right after that resource, so a
 * test can SIGKILL it half-way and prove `down` still removes everything.
 */
async function testHangAfter(id: string): Promise<void> {
  if (process.env.VPNNS_TEST_HANG_AFTER !== id) return;
  process.stdout.write(`vpnns: test hook: hanging after ${id}\n`);
  await new Promise(() => {});
}
