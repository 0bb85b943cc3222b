// `up` and `down`: walk the plan, record each step in the state before doing it, and on failure
// undo what this run made so nothing is left half-made. The record is also the line between what
// is vpnns's and what is not: `up` refuses to take over a namespace, link, table or file of its
// names that it has no record of making, and `down` removes only what is recorded.
import type { Config } from '../config/types.js';
import { System } from '../sys/system.js';
import { acquireLock, hostLockFile, type Lock } from '../core/lock.js';
import { preflight } from './preflight.js';
import { hostLook, netnsExists } from '../net/ip.js';
import { listTables } from '../firewall/nft.js';
import { vethResource } from '../net/veth.js';
import { namesFor, type Names } from '../core/names.js';
import { ALL_RESOURCES, planResources } from './plan.js';
import type { Context, Resource } from '../core/resource.js';
import { hostNetnsId, readState, statePath, writeState, type State } from '../core/state.js';
import { existsSync } from 'node:fs';
import { UsageError, VpnnsError } from '../errors.js';
import { traced } from '../sys/trace.js';
import { assertSupervisorAnswers, discardPrestarted, prestartSupervisor, supervisorResource } from '../supervisor/resource.js';

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
  let hostLock: Lock | undefined;
  const releaseHost = async () => {
    const l = hostLock;
    hostLock = undefined;
    await l?.release();
  };
  try {
    // A fresh namespace (no state yet) that gets a supervisor: its process starts now and loads
    // while the checks run and the rest is made (see prestartSupervisor); unused, it ends in `finally`.
    if (!opts.sys.dryRun && !existsSync(statePath(names)) && planResources(cfg).includes(supervisorResource) && !(opts.foreground || opts.noSupervisor)) prestartSupervisor(names, cfg, opts.sys);
    // From the checks until the links and addresses exist: a second namespace's `up` started at the
    // same moment waits, then sees this one's subnet as taken.
    if (!opts.sys.dryRun) hostLock = await traced('host lock', async () => acquireLock(hostLockFile(await hostNetnsId()), "the host's addresses and links"));
    const existing = await readState(names);
    const otherShape =
      existing && !sameShape(existing.config, cfg)
        ? new VpnnsError(`namespace ${names.ns} is already up with a different network, VPN or kill-switch setting; run \`vpnns down\` first, then \`vpnns up\`.`, {
            exitCode: 2,
          })
        : undefined;
    const state = existing ? { ...existing, config: cfg } : await newState(cfg);
    const ctx = makeContext(cfg, names, state, opts);
    const plan = planResources(cfg).filter((r) => !(r.id === 'supervisor' && (opts.foreground || opts.noSupervisor)));
    // Both only look, so they run at once; their errors keep the order they had one after the
    // other: the preflight's, a different shape, then something in the way. Before anything is
    // made: what vpnns has no record of making is not vpnns's to take over.
    // The host's links and routes, listed once for both, and its nftables tables (a process start each).
    const look = hostLook(opts.sys);
    if (!otherShape) {
      ctx.hostLinks = look.then((l) => l.links.map((x) => x.ifname));
      // Its failure is the preflight's to report (which awaits `look`); not a second, unhandled one.
      ctx.hostLinks.catch(() => {});
      ctx.hostTables = listTables(opts.sys);
    }
    const [pre, foreign] = await Promise.allSettled([traced('preflight', () => preflight(cfg, opts.sys, look)), otherShape ? Promise.resolve() : traced('foreign', () => refuseForeign(ctx, plan))]);
    // Later looks at links ask the machine again.
    delete ctx.hostLinks;
    if (pre.status === 'rejected') throw pre.reason;
    if (otherShape) throw otherShape;
    if (foreign.status === 'rejected') throw foreign.reason;
    // A running namespace whose supervisor is stopped or hung: one sentence before the new config
    // is saved or any file rewritten (the supervisor step would only find out at the end).
    if (existing && !opts.sys.dryRun) await assertSupervisorAnswers(existing, names);
    const changed: string[] = [];
    const unchanged: string[] = [];
    const madeNow: Resource[] = [];
    try {
      // The host lock is held until the links and addresses exist; the rest (files, tables, the
      // supervisor, which can take many seconds to connect) takes nothing another `up` checks.
      const linksMade = plan.findIndex((r) => r.id === vethResource.id);
      for (const [i, r] of plan.entries()) {
        if (i > linksMade) await releaseHost();
        // Again right before it is recorded (something may have appeared since): a resource of
        // someone else's must never get into the record, or `down` would remove it. Not for one
        // made exclusively: its own making fails on what appeared, and it refuses then.
        if (!state.applied.includes(r.id) && !r.madeExclusively) await refuseForeign(ctx, [r]);
        if (await traced(`check ${r.id}`, () => r.check(ctx))) {
          // In place, and not someone else's (refused above): vpnns's own, such as the DNS files of
          // a run before a reboot. Recorded, so `down` removes it.
          if (!state.applied.includes(r.id)) state.applied.push(r.id);
          unchanged.push(r.title);
          continue;
        }
        if (!state.applied.includes(r.id)) {
          state.applied.push(r.id);
          madeNow.push(r);
        }
        // Recorded before it is made: a crash in the middle leaves a record `down` can undo.
        await ctx.saveState();
        await traced(`apply ${r.id}`, () => r.apply(ctx));
        changed.push(r.title);
        await testHangAfter(r.id);
        opts.say(`${opts.sys.dryRun ? 'would make' : 'made'} ${r.title}`);
      }
      await ctx.saveState();
    } catch (err) {
      discardPrestarted(names);
      if (!opts.sys.dryRun) {
        // Undo this run's work: all that is ours if the namespace is new, else only what this run
        // added. Never more: what vpnns did not make stays as it was.
        const undo = existing ? madeNow : ours(state);
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
    discardPrestarted(names);
    await releaseHost();
    await lock?.release();
  }
}

/**
 * One sentence for the first thing in the way, in the plan's order (exit 2, like a subnet that
 * overlaps the host's). The looks are read-only and independent: asked all at once.
 */
async function refuseForeign(ctx: Context, plan: readonly Resource[]): Promise<void> {
  const found = await Promise.all(plan.map((r) => (ctx.state.applied.includes(r.id) ? undefined : r.foreign?.(ctx))));
  const f = found.find((x) => x !== undefined);
  if (f) throw new UsageError(`${f.what} already exists and vpnns did not make it; ${f.fix}, or choose another \`namespace\` in the config.`);
}

/** What a state says vpnns made, plus the self-tracked shared settings, in `up` order. */
function ours(state: State): Resource[] {
  return ALL_RESOURCES.filter((r) => state.applied.includes(r.id) || r.selfTracked);
}

export interface DownResult {
  removed: string[];
  /** Nothing was recorded, yet a namespace of this name exists: someone else's, left alone. */
  notOurs?: boolean;
}

/**
 * Removes what vpnns made for this namespace, also after a crash in the middle of `up` (each step
 * is recorded before it is made). Only that: without a record, nothing is vpnns's to remove.
 */
export async function down(cfg: Config, opts: RunOptions): Promise<DownResult> {
  const names0 = namesFor(cfg);
  const lock = opts.sys.dryRun ? undefined : await acquireLock(names0.lockFile, `namespace ${names0.ns}`);
  try {
    const existing = await readState(names0);
    if (!existing) return { removed: [], notOurs: await netnsExists(opts.sys, names0.ns) };
    // The config `up` used wins over today's file: it names what was really made.
    const used = existing.config;
    const names = namesFor(used);
    const ctx = makeContext(used, names, existing, opts);
    const removed: string[] = [];
    await removeAll(ctx, ours(existing).reverse(), (title) => {
      removed.push(title);
      opts.say(`${opts.sys.dryRun ? 'would remove' : 'removed'} ${title}`);
    });
    await opts.sys.remove(names.stateDir);
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
