// The confined browser (`vpnns browser`): which app it opens and at which URL inside the namespace,
// which browser program is installed, and (pure functions) the argv of a browser that runs inside
// it as the user.
//
// Why inside, not the host's browser pointed at the SOCKS proxy: a browser inside the namespace is
// confined by the same kill switch as every other program there: each request it makes, DNS
// included (its resolver reads the namespace's resolv.conf), WebRTC, a webview's image, a web
// extension's telemetry, goes through the tunnel or nowhere, whatever the browser's own settings
// say; with the tunnel down it fails instead of leaving from the host. A host browser with
// --proxy-server is confined only as far as every part of it honours the proxy (Chromium's
// WebRTC, DNS prefetch, Firefox's DoH and remote-DNS settings each need their own flag), and it
// falls back to the host's network the moment a flag is missed. The WebRTC policy flag is still
// passed, as defence in depth.
import { basename } from 'node:path';
import type { AppConfig, Config } from '../config/types.js';
import { UsageError } from '../errors.js';
import { findProgramSync, profileOf } from './apps.js';

export type BrowserKind = 'chromium' | 'firefox';

/** Browsers looked for, in order, when --browser names none or a family. */
export const CHROMIUM_PROGRAMS = ['chromium', 'chromium-browser', 'google-chrome-stable', 'google-chrome'] as const;
export const FIREFOX_PROGRAMS = ['firefox', 'firefox-esr'] as const;

/** The browser family of a program path (anything not Firefox is driven like Chromium). */
export function browserKind(program: string): BrowserKind {
  return /firefox/i.test(basename(program)) ? 'firefox' : 'chromium';
}

/** The port an app serves its web UI on inside the namespace, if it has one. */
export function appWebPort(name: string, a: AppConfig): number | undefined {
  if (profileOf(name, a) === 'code-server') return a.port ?? 8080;
  const p = a.publish[0];
  return p ? (p.target ?? p.port) : undefined;
}

/** Apps a browser can open: those with a web port. */
export function webApps(cfg: Pick<Config, 'apps'>): string[] {
  return Object.entries(cfg.apps).filter(([n, a]) => appWebPort(n, a) !== undefined).map(([n]) => n);
}

/**
 * The app's URL inside the namespace: its own address, where the app listens (code-server binds
 * the namespace address only), not the host's 127.0.0.1, which inside is the namespace's loopback.
 */
export function appInsideUrl(nsAddr: string, port: number): string {
  return `http://${nsAddr}:${port}/`;
}

/**
 * Where the browser keeps its profile for one app of one namespace: its own, never the user's
 * everyday profile, and never another namespace's: a browser started with a profile that a running
 * browser holds hands it the URL (the profile's singleton socket is a file, which every network
 * namespace reaches), and that browser opens it on its own namespace's network; or, where the socket
 * is out of sight, refuses the profile as in use.
 */
export function browserProfileDir(home: string, ns: string, app: string, kind: BrowserKind): string {
  return `${home}/.local/share/vpnns/browser/${ns}/${app}${kind === 'firefox' ? '-firefox' : ''}`;
}

export interface BrowserLaunch {
  kind: BrowserKind;
  program: string;
  url: string;
  profileDir: string;
  headless?: boolean;
  /** The user's own extra arguments for the browser (after `--`). */
  extra?: readonly string[];
}

/**
 * Chromium's argv. Its own --user-data-dir also means its own singleton: it never hands the URL to a
 * Chromium the user already runs on the host (which would open it outside the namespace).
 */
export function chromiumArgv(l: BrowserLaunch): string[] {
  const origin = new URL(l.url).origin;
  return [
    l.program,
    `--user-data-dir=${l.profileDir}`,
    '--no-first-run',
    '--no-default-browser-check',
    // WebRTC: UDP only through a proxy (there is none). Defence in depth: Chromium 156 still listed
    // an mDNS-masked host candidate with it; whatever WebRTC sends goes through the namespace anyway.
    '--force-webrtc-ip-handling-policy=disable_non_proxied_udp',
    // The app's origin inside is http://10.0.0.2:PORT, which is not a secure context; code-server's
    // webviews need one (service workers). Only this exact origin is treated as secure.
    `--unsafely-treat-insecure-origin-as-secure=${origin}`,
    ...(l.headless ? ['--headless'] : []),
    ...(l.extra ?? []),
    l.url,
  ];
}

/** Firefox's preferences for its vpnns profile (user.js): WebRTC off, names through the namespace's resolver. */
export function firefoxPrefs(url: string): string {
  const host = new URL(url).host;
  const prefs: Array<[string, string | number | boolean]> = [
    ['media.peerconnection.enabled', false],
    // 5 = DNS over HTTPS off: names are resolved by the namespace's resolv.conf (the VPN's resolver).
    ['network.trr.mode', 5],
    // No proxy: the namespace is the confinement (a system proxy setting would point outside it).
    ['network.proxy.type', 0],
    ['dom.securecontext.allowlist', host],
    ['browser.shell.checkDefaultBrowser', false],
    ['datareporting.policy.dataSubmissionEnabled', false],
    ['toolkit.telemetry.enabled', false],
  ];
  return prefs.map(([k, v]) => `user_pref(${JSON.stringify(k)}, ${JSON.stringify(v)});\n`).join('');
}

export function firefoxArgv(l: BrowserLaunch): string[] {
  // -no-remote -new-instance: never hand the URL to a Firefox already running on the host.
  return [l.program, '-profile', l.profileDir, '-no-remote', '-new-instance', ...(l.headless ? ['-headless'] : []), ...(l.extra ?? []), l.url];
}

/** The browser's own argv (what `vpnns browser --print` shows). */
export function browserArgv(l: BrowserLaunch): string[] {
  return l.kind === 'firefox' ? firefoxArgv(l) : chromiumArgv(l);
}

/**
 * What runs as the user inside: a fixed sh script (its input only as positional arguments) that
 * makes the profile directory as the user (never root writing into a home) and, for Firefox,
 * writes user.js into it, then execs the browser.
 */
export function browserLauncher(l: BrowserLaunch): string[] {
  const argv = browserArgv(l);
  if (l.kind === 'firefox') {
    const script = 'umask 077; mkdir -p -- "$1" && printf %s "$2" > "$1/user.js" && shift 2 && exec "$@"';
    return ['/bin/sh', '-c', script, 'vpnns-browser', l.profileDir, firefoxPrefs(l.url), ...argv];
  }
  return ['/bin/sh', '-c', 'umask 077; mkdir -p -- "$1" && shift && exec "$@"', 'vpnns-browser', l.profileDir, ...argv];
}

/** Display variables a GUI browser inside needs (X11 through /tmp/.X11-unix, Wayland through XDG_RUNTIME_DIR). */
export const DISPLAY_VARS = ['DISPLAY', 'XAUTHORITY', 'WAYLAND_DISPLAY', 'XDG_RUNTIME_DIR'] as const;

export function hasDisplay(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.DISPLAY || env.WAYLAND_DISPLAY);
}

/** The app `vpnns browser [APP]` opens: the one asked for, or the only one with a web UI. */
export function pickWebApp(cfg: Pick<Config, 'apps'>, asked: string | undefined): string {
  const apps = webApps(cfg);
  if (asked) {
    if (!cfg.apps[asked]) throw new UsageError(`there is no app "${asked}" in the config${apps.length ? `; apps with a web UI: ${apps.join(', ')}` : ''}; or pass --url URL.`);
    if (!apps.includes(asked)) throw new UsageError(`apps.${asked} has no web port (no code-server profile and nothing in its publish list); pass --url URL.`);
    return asked;
  }
  if (apps.length === 1) return apps[0]!;
  if (!apps.length) throw new UsageError('no app with a web UI is configured (a code-server app, or an app with a `publish` list); add one under `apps:` in the config, or pass --url URL.');
  throw new UsageError(`several apps have a web UI (${apps.join(', ')}); name one: \`vpnns browser APP\`.`);
}

/**
 * What to tell the user when the app is not serving (the browser would only show "refused to
 * connect"): undefined while it runs or starts. A warning, not a refusal: the status file may lag.
 */
export function appNotServing(app: string, state: string | undefined): string | undefined {
  if (state === 'stopped' || state === 'crash-looping' || state === 'failed' || state === 'backoff') {
    return `apps.${app} is not running (${state}), so the page will not load; start it with \`sudo vpnns app start ${app}\` (its output: \`sudo vpnns app logs ${app}\`).`;
  }
  return undefined;
}

/** The browser program to run: of the family asked for (default Chromium), or the path given. */
export function findBrowser(asked: string | undefined, home: string | undefined): string {
  const family = asked === 'firefox' ? FIREFOX_PROGRAMS : asked === undefined || asked === 'chromium' ? CHROMIUM_PROGRAMS : [asked];
  const found = findProgramSync(family, home);
  if (!found) {
    const hint = asked === 'firefox' ? '`apt-get install firefox-esr`' : asked && asked !== 'chromium' ? `check the path of --browser ${asked}` : '`apt-get install chromium`, or --browser firefox';
    throw new UsageError(`no browser found (${family.join(', ')}); ${hint}.`);
  }
  return found;
}
