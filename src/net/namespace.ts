import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import type { Context, Resource } from '../core/resource.js';
import { VpnnsError } from '../errors.js';
import { sleep } from '../sys/process.js';
import { netnsExists } from './ip.js';
import { ipv6OffArgv } from './sysctl.js';

/** The kernel's number of a named namespace (the nsfs inode behind /run/netns/<ns>), or undefined. */
async function netnsId(ns: string): Promise<number | undefined> {
  try {
    return (await stat(`/run/netns/${ns}`)).ino;
  } catch {
    return undefined;
  }
}

/** Loopback inside: whether it is up, and the alias vpnns tagged it with. */
async function loopback(sys: Context['sys'], ns: string): Promise<{ up: boolean; alias?: string }> {
  const r = await sys.query(['ip', '-n', ns, '-json', 'link', 'show', 'dev', 'lo'], { allowFail: true });
  if (r.code !== 0 || !r.stdout.trim()) return { up: false };
  const lo = (JSON.parse(r.stdout) as Array<{ flags?: string[]; ifalias?: string }>)[0];
  return { up: lo?.flags?.includes('UP') ?? false, ...(lo?.ifalias !== undefined ? { alias: lo.ifalias } : {}) };
}

/**
 * Is the namespace of this name the one vpnns made? The state may say it made one, yet a namespace
 * of that name made later by someone else (after ours was deleted by hand, or in the moment between
 * `up`'s check and its `ip netns add`) is not ours. The kernel's number alone cannot tell them
 * apart: it hands a freed namespace's number to the next one made. So vpnns records a random tag
 * before it makes the namespace and writes it as the alias of the loopback inside, which only
 * root can set; a namespace without that alias is someone else's. A state written before the tag
 * existed has only the number to go by; a record with neither proves nothing, so it is not ours.
 */
async function isOurs(ctx: Context, lo?: { alias?: string }): Promise<boolean> {
  const { netnsId: recorded, netnsTag: tag } = ctx.state.runtime;
  if (typeof tag === 'string') {
    if ((lo ?? (await loopback(ctx.sys, ctx.names.ns))).alias !== tag) return false;
    return typeof recorded !== 'number' || (await netnsId(ctx.names.ns)) === recorded;
  }
  if (typeof recorded !== 'number') return false;
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
    if (!(await netnsExists(sys, names.ns))) return false;
    const lo = await loopback(sys, names.ns);
    if (!(await isOurs(ctx, lo))) throw notOurs(names.ns);
    return lo.up;
  },
  async apply(ctx) {
    const { sys, names } = ctx;
    if (!(await netnsExists(sys, names.ns))) {
      // The tag is recorded before the namespace exists, so a namespace someone else makes meanwhile
      // lacks it. (A crash between `ip netns add` and the alias leaves an empty namespace that is not
      // recognised: `down` leaves it and the next `up` says how to remove it. Never the reverse.)
      const tag = `vpnns-${randomBytes(8).toString('hex')}`;
      if (!sys.dryRun) {
        ctx.state.runtime.netnsTag = tag;
        await ctx.saveState();
      }
      // One process (each start is time on the way to the first byte): `ip -batch` runs the lines in
      // order and stops at the first that fails, `netns exec` included (in a batch ip forks, waits
      // for the program and fails on its exit status: so since 2015, long before the `-json` output
      // vpnns reads elsewhere).
      // The first fails if the name was taken since the check: `ip netns add` does not reuse one.
      // Then lo with the tag and, when the config wants IPv6 off, the namespace's IPv6 settings
      // (nsIpv6Resource's, written by a process inside: they are per namespace).
      const lines = [`netns add ${names.ns}`, `netns exec ${names.ns} ip link set lo up alias ${tag}`];
      const ipv6Off = !ctx.cfg.network.ipv6;
      if (ipv6Off) lines.push(`netns exec ${names.ns} ${ipv6OffArgv().join(' ')}`);
      await sys.change(['ip', '-batch', '-'], { input: `${lines.join('\n')}\n` });
      ctx.freshNamespace = true;
      if (ipv6Off) ctx.ipv6OffAtCreation = true;
      if (!sys.dryRun) {
        ctx.state.runtime.netnsId = await netnsId(names.ns);
        await ctx.saveState();
      }
      return;
    }
    if (!(await isOurs(ctx))) throw notOurs(names.ns);
    await sys.change(['ip', '-n', names.ns, 'link', 'set', 'lo', 'up']);
  },
  async remove(ctx) {
    const { sys, names } = ctx;
    if (!(await netnsExists(sys, names.ns))) return false;
    // Someone else's namespace of the same name: neither it nor what runs in it is ours to end.
    if (!(await isOurs(ctx))) return false;
    await killInside(sys, names.ns);
    await sys.change(['ip', 'netns', 'del', names.ns]);
    return true;
  },
  async foreign({ sys, names }) {
    if (!(await netnsExists(sys, names.ns))) return undefined;
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
