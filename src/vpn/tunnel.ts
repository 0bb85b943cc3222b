import type { VpnContext } from './provider.js';
import { sleep } from '../sys/process.js';

/** Resolves when the tunnel interface is gone (deleted by someone, or its client died). */
export async function tunnelGone(ctx: VpnContext, tunnel: string, everyMs = 500): Promise<string> {
  for (;;) {
    await sleep(everyMs);
    const r = await ctx.sys.query(['ip', '-n', ctx.names.ns, 'link', 'show', tunnel], { allowFail: true });
    if (r.code !== 0) return `${tunnel} disappeared`;
  }
}

/** Byte counters of an interface inside the namespace. */
export async function linkBytes(ctx: VpnContext, dev: string): Promise<{ rx?: number; tx?: number }> {
  const r = await ctx.sys.query(['ip', '-n', ctx.names.ns, '-json', '-s', 'link', 'show', dev], { allowFail: true });
  if (r.code !== 0) return {};
  const s = (JSON.parse(r.stdout) as Array<{ stats64?: { rx?: { bytes: number }; tx?: { bytes: number } } }>)[0]?.stats64;
  return { rx: s?.rx?.bytes, tx: s?.tx?.bytes };
}
