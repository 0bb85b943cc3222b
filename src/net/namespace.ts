import { stat } from 'node:fs/promises';
import type { Context, Resource } from '../core/resource.js';
import { VpnnsError } from '../errors.js';
import { sleep } from '../sys/process.js';
import { listAddrs, netnsFileExists } from './ip.js';

/** The kernel's identity of a named namespace (the nsfs inode behind /run/netns/<ns>), or undefined. */
async function netnsId(ns: string): Promise<number | undefined> {
  try {
    return (await stat(`/run/netns/${ns}`)).ino;
  } catch {
    return undefined;
  }
}

/**
 * Is the namespace of this name the one vpnns made? The state may say it made one, yet a namespace
 * of that name made later by someone else (after ours was deleted by hand) is not ours: the
 * identity recorded at creation tells them apart. No identity recorded (a crash right after
 * `ip netns add`) means ours: that is the adoption after a crash.
 */
async function isOurs(ctx: Context): Promise<boolean> {
  const recorded = ctx.state.runtime.netnsId;
  if (typeof recorded !== 'number') return true;
  const now = await netnsId(ctx.names.ns);
  return now === undefined || now === recorded;
}

function notOurs(ns: string): VpnnsError {
  return new VpnnsError(
    `network namespace ${ns} is not the one vpnns made (it was replaced since); remove it with \`ip netns del ${ns}\` if nothing needs it, or choose another \`namespace\` in the config.`,
    { exitCode: 2 },
  );
}

/** The network namespace itself, with loopback up. */
export const namespaceResource: Resource = {
  id: 'netns',
  title: 'network namespace',
  async check(ctx) {
    const { sys, names } = ctx;
    if (!(await netnsFileExists(sys, names.ns))) return false;
    if (!(await isOurs(ctx))) throw notOurs(names.ns);
    const lo = await listAddrs(sys, names.ns, 'lo');
    return lo[0]?.flags?.includes('UP') ?? false;
  },
  async apply(ctx) {
    const { sys, names } = ctx;
    if (!(await netnsFileExists(sys, names.ns))) {
      await sys.change(['ip', 'netns', 'add', names.ns]);
      ctx.freshNamespace = true;
      if (!sys.dryRun) {
        ctx.state.runtime.netnsId = await netnsId(names.ns);
        await ctx.saveState();
      }
    } else if (!(await isOurs(ctx))) throw notOurs(names.ns);
    await sys.change(['ip', '-n', names.ns, 'link', 'set', 'lo', 'up']);
  },
  async remove(ctx) {
    const { sys, names } = ctx;
    if (!(await netnsFileExists(sys, names.ns))) return false;
    // Someone else's namespace of the same name: neither it nor what runs in it is ours to end.
    if (!(await isOurs(ctx))) return false;
    await killInside(sys, names.ns);
    await sys.change(['ip', 'netns', 'del', names.ns]);
    return true;
  },
  async foreign({ sys, names }) {
    if (!(await netnsFileExists(sys, names.ns))) return undefined;
    return { what: `network namespace ${names.ns}`, fix: `remove it with \`ip netns del ${names.ns}\` if nothing needs it` };
  },
};

/** Processes still inside keep the namespace alive after `ip netns del`; nothing of ours may outlive `down`. */
async function killInside(sys: Context['sys'], ns: string): Promise<void> {
  const r = await sys.query(['ip', 'netns', 'pids', ns], { allowFail: true });
  const pids = r.stdout.split(/\s+/).filter(Boolean);
  if (!pids.length) return;
  await sys.change(['kill', '-TERM', ...pids], { allowFail: true });
  for (let i = 0; i < 30; i++) {
    const left = (await sys.query(['ip', 'netns', 'pids', ns], { allowFail: true })).stdout.trim();
    if (!left || sys.dryRun) return;
    await sleep(100);
  }
  const left = (await sys.query(['ip', 'netns', 'pids', ns], { allowFail: true })).stdout.split(/\s+/).filter(Boolean);
  if (left.length) await sys.change(['kill', '-KILL', ...left], { allowFail: true });
}
