// `vpnns browser [APP]`: the browser half of an app, confined. code-server's workbench, its
// webviews and web extensions run in a browser; a browser on the host sends their requests from
// the host's address. This runs a browser inside the namespace as the user (the same path as
// `vpnns exec`), with its own profile, opened at the app's address inside. Which browser opens
// what as whom, and its launch, are members/browser.ts's.
import { browserArgv } from '../services/browser.js';
import type { Parsed } from './args.js';
import { configFrom, requireRoot, type Command } from './command.js';
import { confinedBrowser, planBrowser } from '../members/browser.js';
import { UsageError } from '../errors.js';
import { System } from '../sys/system.js';
import { appStatus } from '../report/apps.js';

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
    const text = (v: string | boolean | undefined) => (typeof v === 'string' ? v : undefined);
    const plan = await planBrowser(await configFrom(args), {
      apps: args.positional,
      url: text(args.opts.url),
      browser: text(args.opts.browser),
      user: text(args.opts.user),
      headless: args.opts.headless === true,
      extra: args.rest,
    });
    if (args.opts.print === true) {
      const { kind, url, profileDir } = plan.launch;
      const argv = browserArgv(plan.launch);
      io.out(args.opts.json === true ? JSON.stringify({ kind, url, profileDir, argv, user: plan.who.user, namespace: plan.names.ns }) : argv.join(' '));
      return 0;
    }
    requireRoot('browser');
    const appState = async (app: string) => (await appStatus(plan.cfg, plan.names, app))[0]?.state;
    return new System(false).foreground(await confinedBrowser(plan, (l) => io.err(l), appState), io);
  },
};
