// The environment of root processes: vpnns's helpers (ip, mount, runuser), its daemons and the VPN
// client. Nothing from the caller's or the config's environment: LD_PRELOAD, LD_LIBRARY_PATH,
// NODE_OPTIONS, GCONV_PATH, PERL5OPT... would make a root process load code of the user's choice.
import { SYSTEM_PATH } from '../config/paths.js';

export const HELPER_PATH = SYSTEM_PATH;

export function helperEnv(): Record<string, string> {
  return { PATH: HELPER_PATH, LANG: 'C.UTF-8' };
}

/**
 * Variables that make a program load or run code of their value's choosing: the dynamic loader's
 * (LD_*), glibc's (GCONV_PATH, LOCPATH, GLIBC_TUNABLES, ...), interpreters' (NODE_OPTIONS, PERL5OPT,
 * PYTHONPATH, BASH_ENV, ...).
 */
const LOADER_VARS = /^(LD_|GCONV_PATH$|GETCONF_DIR$|GLIBC_TUNABLES$|HOSTALIASES$|LOCALDOMAIN$|LOCPATH$|MALLOC_|NLSPATH$|RES_OPTIONS$|RESOLV_HOST_CONF$|TMPDIR$|TZDIR$|NODE_|npm_config_|NPM_CONFIG_|PERL5|PERLLIB$|PERLIO|PYTHON|RUBY|BASH_ENV$|ENV$|BASH_FUNC_|SHELLOPTS$|PS4$|IFS$)/;

/** vpnns's environment for the short commands it runs (ip, nft, ...): without LOADER_VARS, whoever started vpnns. */
export function withoutLoaderVars(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (!LOADER_VARS.test(k)) out[k] = v;
  return out;
}

/** The short commands' environment: vpnns's own without LOADER_VARS, and the fixed PATH they are found in. */
export function commandEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...withoutLoaderVars(env), PATH: HELPER_PATH };
}
