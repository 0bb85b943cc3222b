// NetworkManager and vpnns's veths. A NetworkManager that takes the host end of the veth for its own
// (a DHCP client on it, a "Wired connection", its addresses flushed when NM restarts) breaks the
// namespace's only link. When NetworkManager runs, `up` drops a keyfile into NM's runtime
// configuration directory naming the pair unmanaged, and asks NM to reload its configuration;
// `down` removes that file (one file per namespace: the last namespace's `down` leaves none).
//
// Facts this rests on (NetworkManager.conf(5) and NM's nm-config.c / nms-keyfile-plugin.c):
// - /run/NetworkManager/conf.d/*.conf is "per-boot configuration" for scripts, read after
//   /usr/lib/NetworkManager/conf.d and before NetworkManager.conf and /etc/NetworkManager/conf.d.
// - Files read later override a key set earlier, so each namespace's file APPENDS with
//   `unmanaged-devices+=` (a device-spec list NM merges across files); a plain `=` in one namespace's
//   file would undo another's. (A plain `unmanaged-devices=` a person writes in /etc still wins.)
// - `nmcli general reload conf` (NM >= 1.22; the D-Bus Reload call, flag 0x1) re-reads the
//   configuration, and the keyfile plugin re-applies unmanaged-devices when it changed.
import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import type { Context, Resource } from '../core/resource.js';
import type { Names } from '../core/names.js';
import type { System } from '../sys/system.js';
import { readText } from '../sys/system.js';
import { findTool } from '../sys/tools.js';

export const NM_RUNTIME_CONF_DIR = '/run/NetworkManager/conf.d';

const HEADER = '# Written by vpnns';

export function nmConfPath(ns: string, dir = NM_RUNTIME_CONF_DIR): string {
  return `${dir}/vpnns-${ns}.conf`;
}

/** The keyfile drop-in for one namespace: both ends of its veth pair unmanaged. */
export function renderNmUnmanaged(names: Pick<Names, 'ns' | 'vethHost' | 'vethNs'>): string {
  return [
    `${HEADER} for namespace ${names.ns}; removed by \`vpnns down\`. NetworkManager leaves these links alone.`,
    '[keyfile]',
    // `+=`: appended to what earlier files set (another namespace's file, the distribution's own).
    `unmanaged-devices+=interface-name:${names.vethHost};interface-name:${names.vethNs}`,
    '',
  ].join('\n');
}

export function writtenByVpnns(text: string | undefined): boolean {
  return text !== undefined && text.startsWith(HEADER);
}

/** The argv that makes a running NetworkManager re-read its configuration files (and nothing else). */
export function nmReloadArgv(nmcli: string): string[] {
  return [nmcli, 'general', 'reload', 'conf'];
}

/**
 * Does NetworkManager run here? A process whose command name is NetworkManager (any user may read
 * /proc/PID/comm). /run/NetworkManager alone would not do: it outlives a stopped NetworkManager.
 */
export async function networkManagerRunning(procDir = '/proc'): Promise<boolean> {
  let entries: string[];
  try {
    entries = await readdir(procDir);
  } catch {
    return false;
  }
  // Read in one go, synchronously: hundreds of tiny files, each a thread-pool round trip otherwise
  // (tens of milliseconds of `up` on a busy machine).
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    let comm: string;
    try {
      comm = readFileSync(`${procDir}/${e}/comm`, 'utf8');
    } catch {
      continue;
    }
    if (comm.trim() === 'NetworkManager') return true;
  }
  return false;
}

export interface NmOptions {
  confDir?: string;
  running?: () => Promise<boolean>;
  nmcli?: () => Promise<string | undefined>;
}

/** One line for `vpnns doctor`. */
export function nmDoctorLine(running: boolean, ns: string, dir = NM_RUNTIME_CONF_DIR): string {
  return running
    ? `NetworkManager: running; vpnns keeps vh-*/vn-* unmanaged via ${nmConfPath(ns, dir)}`
    : 'NetworkManager: not running (nothing to do)';
}

async function reload(sys: System, opts: Required<NmOptions>, say: (l: string) => void): Promise<void> {
  if (!(await opts.running())) return;
  const nmcli = await opts.nmcli();
  if (!nmcli) {
    say('note: nmcli is not installed, so NetworkManager reads the new unmanaged-devices setting only at its next reload (`systemctl reload NetworkManager`).');
    return;
  }
  // A failed reload must not fail `up` or `down`: the file is in place for NM's next start.
  await sys.change(nmReloadArgv(nmcli), { allowFail: true });
}

/** The resource; options only for tests (another directory, NetworkManager "running"). */
export function networkManagerResource(o: NmOptions = {}): Resource {
  const opts: Required<NmOptions> = {
    confDir: o.confDir ?? NM_RUNTIME_CONF_DIR,
    running: o.running ?? (() => networkManagerRunning()),
    nmcli: o.nmcli ?? (() => findTool('nmcli')),
  };
  const path = (names: Names) => nmConfPath(names.ns, opts.confDir);
  // One look through /proc per run of `up` (its first look for what is in the way, the look again
  // right before this step, and the check come within milliseconds of each other).
  const seen = new WeakMap<Context, Promise<boolean>>();
  const running = (ctx: Context) => {
    let r = seen.get(ctx);
    if (!r) seen.set(ctx, (r = opts.running()));
    return r;
  };
  return {
    id: 'nm-unmanaged',
    title: 'NetworkManager keeps the veth pair unmanaged',
    async check(ctx) {
      const { names } = ctx;
      // Without NetworkManager there is nothing to keep from it: in place as it is, no file written.
      if (!(await running(ctx))) return true;
      return (await readText(path(names))) === renderNmUnmanaged(names);
    },
    async apply(ctx) {
      await ctx.sys.writeFile(path(ctx.names), renderNmUnmanaged(ctx.names), { mode: 0o644 });
      await reload(ctx.sys, opts, ctx.say);
    },
    async remove(ctx) {
      // Only vpnns's own file (its header): one a person put under this name stays.
      if (!writtenByVpnns(await readText(path(ctx.names)))) return false;
      await ctx.sys.remove(path(ctx.names));
      await reload(ctx.sys, opts, ctx.say);
      return true;
    },
    async foreign(ctx) {
      const { names } = ctx;
      // Only in the way when vpnns would write there.
      if (!(await running(ctx))) return undefined;
      const text = await readText(path(names));
      if (text !== undefined && !writtenByVpnns(text)) return { what: path(names), fix: 'move it away if nothing needs it' };
      return undefined;
    },
  };
}

export const nmUnmanagedResource = networkManagerResource();
