import type { Context, Resource } from '../plan/resource.js';
import { listAddrs, netnsExists } from './ip.js';

/** The network namespace itself, with loopback up. */
export const namespaceResource: Resource = {
  id: 'netns',
  title: 'network namespace',
  async check({ sys, names }) {
    if (!(await netnsExists(sys, names.ns))) return false;
    const lo = await listAddrs(sys, names.ns, 'lo');
    return lo[0]?.flags?.includes('UP') ?? false;
  },
  async apply({ sys, names }) {
    if (!(await netnsExists(sys, names.ns))) await sys.change(['ip', 'netns', 'add', names.ns]);
    await sys.change(['ip', '-n', names.ns, 'link', 'set', 'lo', 'up']);
  },
  async remove({ sys, names }) {
    if (!(await netnsExists(sys, names.ns))) return false;
    await killInside(sys, names.ns);
    await sys.change(['ip', 'netns', 'del', names.ns]);
    return true;
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
    await new Promise((res) => setTimeout(res, 100));
  }
  const left = (await sys.query(['ip', 'netns', 'pids', ns], { allowFail: true })).stdout.split(/\s+/).filter(Boolean);
  if (left.length) await sys.change(['kill', '-KILL', ...left], { allowFail: true });
}
