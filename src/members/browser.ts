// `vpnns browser`'s launch: which app it opens at which URL, which browser runs as whom with which
// profile (what --print shows), and its start inside the namespace as that user (the same path as
// `vpnns exec`), refused while the namespace is down or the VPN is not connected.
import type { Config } from '../config/types.js';
import { UsageError, VpnnsError } from '../errors.js';
import { namesFor, type Names } from '../core/names.js';
import { readState, type State } from '../core/state.js';
import { netnsExists } from '../net/ip.js';
import type { Launch } from '../sandbox/index.js';
import { SANDBOX_DEFAULTS } from '../sandbox/channels.js';
import { System } from '../sys/system.js';
import { lookupUser, profileOf } from '../services/apps.js';
import {
  appInsideUrl, appNotServing, appWebPort, browserKind, browserLauncher, browserProfileDir, findBrowser, hasDisplay, pickWebApp, type BrowserLaunch,
} from '../services/browser.js';
import { invokingUser, userExists, type Invoker } from './invoker.js';
import { execLaunch } from './launch.js';
import { assertTunnelUp } from './tunnel.js';

/**
 * What the browser asks of exec's sandbox (which hides the display, the user bus and the ssh agent
 * from programs inside by default): the display (X11 or Wayland), and nothing else.
 */
export const BROWSER_CHANNELS = { x11: true, wayland: true } as const;

/** A URL the user typed: http(s) only (a file: or javascript: URL has no business here). */
function checkedUrl(u: string): string {
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    throw new UsageError(`--url ${JSON.stringify(u)} is not a URL; e.g. --url http://10.0.0.2:8080/.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--url must be an http:// or https:// URL, got ${url.protocol}; e.g. --url http://127.0.0.1:PORT/.`);
  return url.href;
}

export interface BrowserRequest {
  /** The positional arguments: the app, at most one. */
  apps: readonly string[];
  url?: string;
  browser?: string;
  user?: string;
  headless: boolean;
  /** The browser's own arguments (after `--`). */
  extra: readonly string[];
}

export interface BrowserPlan {
  launch: BrowserLaunch;
  who: Invoker;
  appName: string | undefined;
  /** The config as the file says now; `cfg` as the namespace runs it (its state), else the same. */
  file: Config;
  cfg: Config;
  names: Names;
  state: State | undefined;
}

/** Which browser opens what as whom (no root needed: `--print` shows it and starts nothing). */
export async function planBrowser(file: Config, r: BrowserRequest): Promise<BrowserPlan> {
  const state = await readState(namesFor(file));
  const cfg = state?.config ?? file;
  const names = namesFor(cfg);
  const appName = r.url !== undefined ? undefined : pickWebApp(cfg, r.apps[0]);
  if (r.apps.length > 1) throw new UsageError(`one app at a time, got ${r.apps.join(' ')}; pass browser arguments after \`--\`.`);
  const url = r.url !== undefined ? checkedUrl(r.url) : appInsideUrl(names.nsAddr, appWebPort(appName!, cfg.apps[appName!]!)!);
  const who = r.user !== undefined ? { user: r.user, source: '--user' } : invokingUser();
  if (!userExists(who.user)) throw new UsageError(`user "${who.user}" does not exist on this machine; pass an existing one with --user.`);
  const home = lookupUser(who.user)?.home ?? `/home/${who.user}`;
  const program = findBrowser(r.browser, home);
  const kind = browserKind(program);
  const launch: BrowserLaunch = {
    kind,
    program,
    url,
    profileDir: browserProfileDir(home, names.ns, appName ?? 'url', kind),
    headless: r.headless,
    extra: r.extra,
  };
  return { launch, who, appName, file, cfg, names, state };
}

/**
 * The browser's launch inside, as its user, with the display: refused while the namespace is down
 * or the VPN is not connected, as root by default, or without a display. `say` hears where the
 * password of a code-server app is, and a warning when the app is not serving; `appState` says how
 * the app runs (the supervisor's report, which sits above this layer, so the caller asks it).
 */
export async function confinedBrowser(
  p: BrowserPlan,
  say: (line: string) => void,
  appState: (app: string) => Promise<string | undefined>,
): Promise<Launch> {
  const { cfg, names, who, appName, launch } = p;
  const sys = new System(false);
  if (!p.state || !(await netnsExists(sys, names.ns))) {
    throw new VpnnsError(`namespace ${names.ns} is not up, so the browser would not be confined; run \`sudo vpnns up\` first.`);
  }
  await assertTunnelUp(names.ns, sys, cfg.vpn.type);
  if (who.user === 'root' && who.source === 'default') {
    throw new UsageError('a browser should not run as root; run `sudo vpnns browser` from your account (SUDO_USER) or pass --user NAME.');
  }
  if (!launch.headless && !hasDisplay(process.env)) {
    throw new UsageError('no display to open the browser on (DISPLAY and WAYLAND_DISPLAY are unset: sudo drops them); run `sudo --preserve-env=DISPLAY,XAUTHORITY,WAYLAND_DISPLAY vpnns browser`, or pass --headless.');
  }
  const uid = lookupUser(who.user)?.uid;
  // Wayland's socket is in the user's runtime directory, which sudo does not pass on.
  if (process.env.WAYLAND_DISPLAY && !process.env.XDG_RUNTIME_DIR && uid !== undefined) process.env.XDG_RUNTIME_DIR = `/run/user/${uid}`;
  if (appName) {
    const warning = appNotServing(appName, await appState(appName));
    if (warning) say(`vpnns: ${warning}`);
  }
  if (appName && profileOf(appName, cfg.apps[appName]!) === 'code-server' && (cfg.apps[appName]!.auth ?? 'password') === 'password') {
    say(`vpnns: opening ${launch.url} in ${launch.kind} inside ${names.ns}; the password: \`sudo vpnns app password ${appName}\`.`);
  }
  const sandbox = { ...SANDBOX_DEFAULTS, ...p.file.sandbox, ...BROWSER_CHANNELS };
  return execLaunch({ sandbox }, names.ns, who.user, browserLauncher(launch));
}
