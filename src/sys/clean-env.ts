// The environment of root processes: vpnns's helpers (ip, mount, runuser), its daemons and the VPN
// client. Nothing from the caller's or the config's environment: LD_PRELOAD, LD_LIBRARY_PATH,
// NODE_OPTIONS, GCONV_PATH, PERL5OPT... would make a root process load code of the user's choice.
export const HELPER_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export function helperEnv(): Record<string, string> {
  return { PATH: HELPER_PATH, LANG: 'C.UTF-8' };
}

/** vpnns's own settings (VPNNS_RUN_DIR, ...): its node children (the forwarder) read them too. */
export function vpnnsSettings(from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(from)) if (v !== undefined && /^VPNNS_[A-Z0-9_]+$/.test(k)) out[k] = v;
  return out;
}
