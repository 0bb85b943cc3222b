// The AdGuard part of `vpnns doctor`: the installed version, and whether vpnns's AdGuard home is
// logged in. The session is bound to the MAC address and hostname the client sees, so it is asked
// inside the namespace (the veth's stable MAC) when that is up; when it is down the answer would be
// the host's, which says nothing about the namespace's, and `vpnns up` tells a missing login itself.
import type { Config, VpnAdguard } from '../config/types.js';
import { adguardEnv, adguardHome, saysNotLoggedIn } from '../vpn/adguard.js';
import { clientCgroup } from '../sys/client-cgroup.js';
import { CLIENT_GID } from '../vpn/provider.js';
import { fullArgv } from '../sys/process.js';
import { namesFor } from '../core/names.js';
import { netnsExists } from '../net/ip.js';
import { System } from '../sys/system.js';
import { assertTrustedFile } from '../config/trust.js';
import { ADGUARD_INSTALL } from './doctor.js';

export interface AdguardDoctor {
  installed: boolean;
  version?: string;
  /** true / false, or undefined when it could not be asked (not root, namespace down). */
  loggedIn?: boolean;
  loginNote: string;
  home: string;
}

const strip = (s: string) => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');

export async function adguardDoctor(cfg: Config, bin: string | undefined): Promise<AdguardDoctor> {
  const home = adguardHome({ cfg });
  const login = `sudo vpnns adguard login${cfg.source ? ` --config ${cfg.source}` : ''}`;
  if (!bin) return { installed: false, home, loginNote: `not installed: ${ADGUARD_INSTALL}` };
  const root = process.getuid?.() === 0;
  // Doctor only asks: a version and a login state, read through the executor like every command.
  const sys = new System(false);
  let version: string | undefined;
  try {
    // Root runs it: only a program root alone can change (config/trust.ts), as for `up`.
    if (root) assertTrustedFile(bin, 'vpn.binary', { kind: 'executable', place: '/usr/local/bin' });
    const r = await sys.query([bin, '--version'], { env: adguardEnv(home, {}), allowFail: true, timeoutMs: 10_000 });
    version = /v?(\d+\.\d+\.\d+\S*)/.exec(strip(r.stdout))?.[1];
  } catch (e) {
    return { installed: true, home, loginNote: (e as Error).message };
  }
  if (!root) return { installed: true, version, home, loginNote: 'not checked: run `sudo vpnns doctor` to ask the client' };
  const names = namesFor(cfg);
  if (!(await netnsExists(sys, names.ns))) {
    return { installed: true, version, home, loginNote: `not checked while namespace ${names.ns} is down (the session is bound to the MAC the namespace shows); \`vpnns up\` says so if it is missing, and \`${login}\` logs in` };
  }
  const cg = clientCgroup(names.ns);
  const argv = fullArgv({ name: 'adguard', netns: names.ns, gid: CLIENT_GID, cgroup: cg?.dir, argv: [bin, 'license'] });
  const r = await sys.query(argv, { env: adguardEnv(home), allowFail: true, timeoutMs: 20_000 });
  const text = strip(`${r.stdout}\n${r.stderr}`);
  if (r.code === 0 && !saysNotLoggedIn(text, r.code)) {
    const who = /Logged in as (\S+)/.exec(text)?.[1];
    return { installed: true, version, loggedIn: true, home, loginNote: `logged in${who ? ` as ${who}` : ''}` };
  }
  if (saysNotLoggedIn(text, r.code)) return { installed: true, version, loggedIn: false, home, loginNote: `not logged in: run \`${login}\`` };
  return { installed: true, version, home, loginNote: `could not tell (license exited ${r.code}: ${text.trim().split('\n').at(-1) ?? ''})` };
}

export function adguardDoctorLines(d: AdguardDoctor): string[] {
  return [`AdGuard VPN CLI: ${d.installed ? `version ${d.version ?? 'unknown'}` : 'not installed'}; login (home ${d.home}): ${d.loginNote}`, ''];
}
