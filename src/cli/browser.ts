// `vpnns browser [APP]`: the browser half of an app, confined. code-server's workbench, its
// webviews and web extensions run in a browser; a browser on the host sends their requests from
// the host's address. This runs a browser inside the namespace as the user (the same path as
// `vpnns exec`), with its own profile, opened at the app's address inside.
import { UsageError, VpnnsError } from '../errors.js';
import { namesFor } from '../core/names.js';
import { readState } from '../core/state.js';
import { netnsExists } from '../net/ip.js';
import { System } from '../sys/system.js';
import { lookupUser, profileOf } from '../services/apps.js';
import {
  appInsideUrl, appNotServing, appWebPort, browserArgv, browserKind, browserLauncher, browserProfileDir, findBrowser, hasDisplay, pickWebApp, type BrowserLaunch,
} from '../services/browser.js';
import { appStatus } from '../report/apps.js';
import type { Parsed } from './args.js';
import { configFrom, requireRoot, type Command } from './command.js';
import { assertTunnelUp } from '../report/tunnel.js';
import { execLaunch } from '../members/launch.js';
import { SANDBOX_DEFAULTS } from '../sandbox/channels.js';
import { invokingUser, userExists } from './invoker.js';

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

export const browserCommand: Command = {
  name: 'browser',
  usage: `vpnns browser [APP] [--url URL] [--browser chromium|firefox|PATH] [--user USER] [--headless] [--print] [-- BROWSER-ARGS...]

Opens APP (default: the one app with a web UI, e.g. code-server) in a browser that runs inside the
namespace as you, so the part of the app that lives in the browser (code-server's workbench, its
webviews, web extensions) is confined too: every request, DNS included, goes through the VPN or
fails. Its own profile (~/.local/share/vpnns/browser/NAMESPACE/APP), never shared with a browser you already
run; WebRTC limited to proxied UDP (Chromium) or off (Firefox). The app is opened at its address
inside the namespace (http://10.0.0.2:PORT/). Refused while the VPN is not connected.

The browser needs your display: under sudo keep it with
  sudo --preserve-env=DISPLAY,XAUTHORITY,WAYLAND_DISPLAY vpnns browser
--url URL opens URL instead of an app, e.g. a login page whose OAuth callback listens on
localhost inside (the browser's localhost is the namespace's). --browser firefox runs Firefox
(-profile ~/.local/share/vpnns/browser/NAMESPACE/APP-firefox -no-remote, a user.js with WebRTC and
DNS-over-HTTPS off). --print shows the browser's argv (JSON with --json) and starts nothing.`,
  options: {
    url: { value: true },
    browser: { value: true },
    user: { value: true, short: 'u' },
    namespace: { value: true },
    headless: {},
    print: {},
    json: {},
  },
  async run(args: Parsed, io) {
    // First (before the config, which is often root's alone), and not requireRoot's sentence: this
    // one keeps the display, which a plain `sudo vpnns browser` drops. --print needs no root.
    if (args.opts.print !== true && typeof process.getuid === 'function' && process.getuid() !== 0) {
      throw new UsageError('`vpnns browser` needs root to start the browser inside the namespace (it then runs as you, not as root); run `sudo --preserve-env=DISPLAY,XAUTHORITY,WAYLAND_DISPLAY vpnns browser`.');
    }
    const file = await configFrom(args);
    const state = await readState(namesFor(file));
    const cfg = state?.config ?? file;
    const names = namesFor(cfg);
    const appName = typeof args.opts.url === 'string' ? undefined : pickWebApp(cfg, args.positional[0]);
    if (args.positional.length > 1) throw new UsageError(`one app at a time, got ${args.positional.join(' ')}; pass browser arguments after \`--\`.`);
    const url = typeof args.opts.url === 'string' ? checkedUrl(args.opts.url) : appInsideUrl(names.nsAddr, appWebPort(appName!, cfg.apps[appName!]!)!);
    const who = typeof args.opts.user === 'string' ? { user: args.opts.user, source: '--user' } : invokingUser();
    if (!userExists(who.user)) throw new UsageError(`user "${who.user}" does not exist on this machine; pass an existing one with --user.`);
    const home = lookupUser(who.user)?.home ?? `/home/${who.user}`;
    const program = findBrowser(typeof args.opts.browser === 'string' ? args.opts.browser : undefined, home);
    const kind = browserKind(program);
    const launch: BrowserLaunch = {
      kind,
      program,
      url,
      profileDir: browserProfileDir(home, names.ns, appName ?? 'url', kind),
      headless: args.opts.headless === true,
      extra: args.rest,
    };
    if (args.opts.print === true) {
      const argv = browserArgv(launch);
      io.out(args.opts.json === true ? JSON.stringify({ kind, url, profileDir: launch.profileDir, argv, user: who.user, namespace: names.ns }) : argv.join(' '));
      return 0;
    }
    requireRoot('browser');
    const sys = new System(false);
    if (!state || !(await netnsExists(sys, names.ns))) {
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
      const warning = appNotServing(appName, (await appStatus(cfg, names, appName))[0]?.state);
      if (warning) io.err(`vpnns: ${warning}`);
    }
    if (appName && profileOf(appName, cfg.apps[appName]!) === 'code-server' && (cfg.apps[appName]!.auth ?? 'password') === 'password') {
      io.err(`vpnns: opening ${url} in ${kind} inside ${names.ns}; the password: \`sudo vpnns app password ${appName}\`.`);
    }
    const sandbox = { ...SANDBOX_DEFAULTS, ...file.sandbox, ...BROWSER_CHANNELS };
    return sys.foreground(execLaunch({ sandbox }, names.ns, who.user, browserLauncher(launch)), io);
  },
};
