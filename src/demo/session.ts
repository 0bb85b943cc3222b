// What `vpnns demo` does, step by step, against the simulated internet the end-to-end tests use
// (src/world, compiled to dist/src/world and shipped in the package). vpnns itself is always the real CLI, run as a child in
// the world's "host" namespace exactly as the tests run it; nothing here touches this machine's own
// namespace beyond creating and deleting the world's namespaces.
import { existsSync, readdirSync } from 'node:fs';
import { copyTreeSync, removePathSync, replaceFileSync } from '../sys/files.js';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { World, WorldOptions } from '../world/world.js';
import { sleep } from '../sys/process.js';
import { runIsolated, startIsolated, type Ran } from './spawn.js';
import { System } from '../sys/system.js';
import { supervisorPidsOf } from '../supervisor/resource.js';
import { stateDirOf } from '../core/names.js';
import { netnsId } from '../core/state.js';
import { forwardRecordPath } from '../net/sysctl.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = join(REPO, 'bin', 'vpnns');
export const WORLD_JS = fileURLToPath(new URL('../world/world.js', import.meta.url));

/** Host port the demo app is published on, and its port inside the namespace. */
export const APP_HOST_PORT = 18080;
export const APP_PORT = 8080;
const SOCKS_PORT = 1080;
const HTTP_PORT = 1090;

// The app a user would run inside: it answers with where the request came from.
const APP_SOURCE = `require('node:http').createServer((q, s) => s.end('hello from an app inside the namespace; you came in as ' + q.socket.remoteAddress + '\\n')).listen(${APP_PORT}, '0.0.0.0')`;

export class StepFailed extends Error {}
export class Interrupted extends Error {}

export interface Step {
  label: string;
  /** Lines shown under the step once it is done. */
  run(): Promise<string[]>;
}

interface WorldModule {
  createWorld(o?: WorldOptions): Promise<World>;
  sweepStaleWorlds(): Promise<string[]>;
}

interface StatusJson {
  components: Record<string, { state: string; lastError?: string }>;
  vpn?: { connected?: boolean };
}

const firstLine = (s: string): string => s.trim().split('\n')[0] ?? '';
const lastLines = (s: string, n = 3): string => s.trim().split('\n').slice(-n).join(' / ');

export function worldMissingMessage(): string {
  return `the simulated internet is not built: ${WORLD_JS} is missing. this copy of vpnns is incomplete: reinstall the package, or run \`npm run build\` in ${REPO} for a git checkout.`;
}

export class DemoSession {
  world?: World;
  ns = '';
  private cfgFile = '';
  private app?: ReturnType<typeof startIsolated>;
  private upDone = false;
  private tornDown = false;
  /** What the demo starts goes through it (never a dry run). */
  private readonly sys = new System(false);

  /** Unique per run ("vd" + 4 hex digits), so a demo can run next to the tests' worlds ("vt..."). */
  readonly prefix = `vd${randomBytes(2).toString('hex')}`;

  constructor(private readonly signal: AbortSignal) {}

  private check(): void {
    if (this.signal.aborted) throw new Interrupted('interrupted');
  }

  /** `vpnns ARGS` in the world's host namespace, as the tests run it. */
  private vpnns(args: string[], timeoutMs = 60_000, abortable = true): Promise<Ran> {
    return this.inHost([process.execPath, BIN, ...args], timeoutMs, abortable);
  }

  private inHost(argv: string[], timeoutMs = 20_000, abortable = true): Promise<Ran> {
    const w = this.world!;
    return runIsolated(this.sys, ['nsenter', `--net=/run/netns/${w.ns.host}`, '--', ...argv], { timeoutMs, ...(abortable ? { signal: this.signal } : {}) });
  }

  /** In the host namespace with its resolv.conf (the world's ISP resolver), so names resolve as the user's machine would. */
  private inHostWithDns(argv: string[]): Promise<Ran> {
    return runIsolated(this.sys, ['ip', 'netns', 'exec', this.world!.ns.host, ...argv], { timeoutMs: 20_000, signal: this.signal });
  }

  private ok(r: Ran, what: string): Ran {
    this.check();
    if (r.code !== 0) throw new StepFailed(`${what} exited ${r.code}: ${lastLines(r.stderr || r.stdout)}`);
    return r;
  }

  private async status(): Promise<StatusJson | undefined> {
    const r = await this.vpnns(['status', '--config', this.cfgFile, '--json'], 20_000);
    try {
      return JSON.parse(r.stdout) as StatusJson;
    } catch {
      return undefined;
    }
  }

  private async waitRunning(names: string[], ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    let last: StatusJson | undefined;
    for (;;) {
      this.check();
      last = await this.status();
      if (last && last.vpn?.connected && names.every((n) => last!.components[n]?.state === 'running')) return;
      if (Date.now() > deadline) {
        const states = names.map((n) => `${n}=${last?.components[n]?.state ?? 'missing'}${last?.components[n]?.lastError ? ` (${last.components[n]!.lastError})` : ''}`);
        throw new StepFailed(`not everything came up within ${ms / 1000} s: ${states.join(', ')}`);
      }
      await sleep(200, this.signal);
    }
  }

  private writeConfig(wgProfile: string): void {
    const w = this.world!;
    const cfg = {
      namespace: this.ns,
      logDir: join(w.dir, 'vpnns-log'),
      vpn: { type: 'wireguard', config: wgProfile, connectTimeout: 10 },
      proxies: { socks: { enabled: true, port: SOCKS_PORT, publish: true }, http: { enabled: true, port: HTTP_PORT, publish: true } },
      publish: [{ host: `127.0.0.1:${APP_HOST_PORT}`, target: APP_PORT }],
      check: {
        echoUrl: [`http://${w.names.echo}/`],
        echoUrl6: [`http://[${w.addr.echo6}]/`],
        dnsWhoami: w.names.whoami,
        hostDns: [w.addr.ispResolver],
        timeout: 3,
      },
    };
    this.cfgFile = join(w.dir, 'vpnns.yaml');
    replaceFileSync(this.cfgFile, stringify(cfg), 0o600);
  }

  async buildWorld(): Promise<string[]> {
    if (!existsSync(WORLD_JS)) throw new StepFailed(worldMissingMessage());
    const mod = (await import(new URL('../world/world.js', import.meta.url).href)) as WorldModule;
    // Leftovers of a demo or test run that was SIGKILLed (their owner process is gone); live ones are never touched.
    await mod.sweepStaleWorlds();
    const before = new Map(['SIGINT', 'SIGTERM', 'SIGHUP'].map((s) => [s, process.listeners(s as NodeJS.Signals)]));
    try {
      this.world = await mod.createWorld({ prefix: this.prefix, openvpn: false });
    } finally {
      // The world tears itself down synchronously on a signal; the demo wants `vpnns down` to run
      // first, so it takes those signals over. The world's exit hook stays as the last resort.
      for (const [s, old] of before) {
        for (const l of process.listeners(s as NodeJS.Signals)) if (!old.includes(l)) process.off(s, l as () => void);
      }
    }
    this.check();
    this.ns = `${this.world.prefix}-v`;
    this.world.adoptNamespace(this.ns);
    const profile = await this.world.wireguard!.writeClientConfig();
    this.writeConfig(profile);
    const w = this.world;
    return [
      `the internet:     ${w.ns.wan} (echo.${w.names.zone} = ${w.addr.echo}, ISP resolver ${w.addr.ispResolver})`,
      `the VPN provider: ${w.ns.vsrv} (WireGuard server at ${w.addr.vpnPublic}:${w.wireguard!.port})`,
      `your machine:     ${w.ns.host} (public address ${w.addr.hostPublic})`,
      `config:           ${this.cfgFile}`,
    ];
  }

  async up(): Promise<string[]> {
    this.upDone = true; // from here on, teardown runs `vpnns down` even if `up` was cut short
    const r = this.ok(await this.vpnns(['up', '--config', this.cfgFile]), 'vpnns up');
    await this.waitRunning(['vpn', 'socks', 'http', 'forward-socks', 'forward-http', `forward-${APP_HOST_PORT}`], 30_000);
    // Started now so that `vpnns check` finds the published port answering.
    const argv = [process.execPath, BIN, 'exec', '--config', this.cfgFile, '--', process.execPath, '-e', APP_SOURCE];
    this.app = startIsolated(this.sys, ['nsenter', `--net=/run/netns/${this.world!.ns.host}`, '--', ...argv]);
    return [
      `$ vpnns up --config ${this.cfgFile}`,
      ...r.stdout.trim().split('\n').filter((l) => /is up|already up/.test(l)),
      `$ vpnns exec -- node -e '<an HTTP server on port ${APP_PORT}>' &      (the config publishes it: { host: 127.0.0.1:${APP_HOST_PORT}, target: ${APP_PORT} })`,
    ];
  }

  async compare(): Promise<string[]> {
    const w = this.world!;
    const url = `http://${w.names.echo}/`;
    const curl = ['curl', '-sS', '--max-time', '5', url];
    // -4: the simulated host also has global IPv6, and the comparison is about the IPv4 the VPN replaces.
    const fromHost = this.ok(await this.inHostWithDns(['curl', '-4', ...curl.slice(1)]), 'curl from the host').stdout.trim();
    const fromInside = this.ok(await this.vpnns(['exec', '--config', this.cfgFile, '--', ...curl], 20_000), 'vpnns exec -- curl').stdout.trim();
    const dnsHost = firstLine(this.ok(await this.inHostWithDns(['getent', 'hosts', w.names.whoami]), 'getent on the host').stdout).split(/\s+/)[0] ?? '?';
    const dnsInside = firstLine(this.ok(await this.vpnns(['exec', '--config', this.cfgFile, '--', 'getent', 'hosts', w.names.whoami], 20_000), 'vpnns exec -- getent').stdout).split(/\s+/)[0] ?? '?';
    if (fromHost !== w.addr.hostPublic) throw new StepFailed(`the host should be seen as ${w.addr.hostPublic}, the echo service saw ${JSON.stringify(fromHost)}`);
    if (fromInside !== w.addr.vpnPublic) throw new StepFailed(`inside should be seen as the VPN server ${w.addr.vpnPublic}, the echo service saw ${JSON.stringify(fromInside)}`);
    const who = (ip: string): string => (ip === w.addr.ispResolver ? "your ISP's" : ip === w.addr.vpnResolver ? "the VPN's" : 'unknown');
    return [
      `$ curl ${url}                                   (the echo service answers with the address it sees)`,
      `from the host:   ${fromHost.padEnd(15)} (your machine)          DNS answered by ${dnsHost} (${who(dnsHost)} resolver)`,
      `from inside:     ${fromInside.padEnd(15)} (the VPN server)        DNS answered by ${dnsInside} (${who(dnsInside)} resolver)`,
      `                 (inside = \`vpnns exec -- curl ${url}\`)`,
    ];
  }

  /** `vpnns check`; undefined lines when this build has no check command. */
  async checkCmd(): Promise<string[]> {
    const r = await this.vpnns(['check', '--config', this.cfgFile, '--brief'], 90_000);
    this.check();
    if (r.code === 2 && /unknown command/.test(r.stderr)) return ['check: not available in this build'];
    const table = r.stdout.trimEnd().split('\n');
    const verdict = table.at(-1)?.trim() ?? '';
    if (r.code === 3) throw new StepFailed(`vpnns check found a leak (${verdict}):\n${table.join('\n')}`);
    if (r.code !== 0) throw new StepFailed(`vpnns check exited ${r.code} (${verdict || lastLines(r.stderr)}):\n${table.join('\n')}${r.stderr ? `\n${lastLines(r.stderr)}` : ''}`);
    return [`$ vpnns check --config ${this.cfgFile} --brief`, ...table];
  }

  async proxies(): Promise<string[]> {
    const w = this.world!;
    const url = `http://${w.names.echo}/`;
    const socks = ['curl', '-sS', '--max-time', '5', '--socks5-hostname', `127.0.0.1:${SOCKS_PORT}`, url];
    const http = ['curl', '-sS', '--max-time', '5', '-x', `http://127.0.0.1:${HTTP_PORT}`, url];
    const out: string[] = [];
    for (const argv of [socks, http]) {
      const got = this.ok(await this.inHost(argv), argv.slice(4, 6).join(' ')).stdout.trim();
      if (got !== w.addr.vpnPublic) throw new StepFailed(`${argv.join(' ')} answered ${JSON.stringify(got)}, expected the VPN address ${w.addr.vpnPublic}`);
      out.push(`$ ${argv.filter((a) => a !== '-sS' && a !== '--max-time' && a !== '5').join(' ').padEnd(72)} -> ${got}`);
    }
    return [...out, '  (a program on the host that speaks SOCKS5 or HTTP proxy goes through the VPN without entering the namespace)'];
  }

  async publish(): Promise<string[]> {
    if (!this.app) throw new StepFailed('the app was not started');
    const url = `http://127.0.0.1:${APP_HOST_PORT}/`;
    const deadline = Date.now() + 10_000;
    let r: Ran;
    for (;;) {
      r = await this.inHost(['curl', '-sS', '--max-time', '2', url], 10_000);
      this.check();
      if (r.code === 0 && r.stdout.includes('hello')) break;
      if (Date.now() > deadline) throw new StepFailed(`${url} did not answer within 10 s: ${lastLines(r.stderr)}; app: ${lastLines(this.app.output())}`);
      await sleep(150, this.signal);
    }
    return [
      `$ curl ${url}                         (on the host; the app runs inside, started in step 2)`,
      r.stdout.trim(),
    ];
  }

  /** Removes everything; safe to call at any point, and more than once. Never aborted. `keepLogs`: copy the logs out first (after a failure). */
  async teardown(keepLogs = false): Promise<string[]> {
    if (this.tornDown) return [];
    this.tornDown = true;
    const lines: string[] = [];
    const problems: string[] = [];
    await this.app?.stop();
    const w = this.world;
    if (w && this.upDone) {
      const r = await this.vpnns(['down', '--config', this.cfgFile], 60_000, false);
      lines.push(`$ vpnns down --config ${this.cfgFile}`, ...r.stdout.trim().split('\n').filter((l) => /is down|not up/.test(l)));
      if (r.code !== 0) problems.push(`vpnns down exited ${r.code}: ${lastLines(r.stderr)}`);
    }
    if (w && keepLogs) {
      const dest = `/tmp/vpnns-demo-${w.prefix}-logs`;
      try {
        copyTreeSync(w.dir, dest, (src) => !src.includes('/pki') && !/\.(conf|key|pem)$/.test(src));
        lines.push(`logs kept in ${dest}`);
      } catch (e) {
        problems.push(`could not keep the logs: ${(e as Error).message}`);
      }
    }
    if (w) {
      if (this.ns) killSupervisors(this.ns);
      const forwardState = await ipForwardState(w.ns.host);
      await w.destroy();
      if (this.ns) {
        const { stateDir, lockFile } = stateDirOf(this.ns);
        removePathSync(stateDir);
        removePathSync(lockFile);
      }
      if (forwardState) removePathSync(forwardState);
      const left = leftovers(w.prefix, this.ns);
      if (left.length) problems.push(`left behind: ${left.join(', ')}`);
      else lines.push(`removed the world (${w.prefix}-*) and namespace ${this.ns}; nothing is left behind`);
    }
    if (problems.length) throw new StepFailed(problems.join('; '));
    return lines;
  }
}

/** The file where vpnns keeps the world's host namespace's original ip_forward (net/sysctl.ts). */
async function ipForwardState(hostNs: string): Promise<string | undefined> {
  try {
    return forwardRecordPath(await netnsId(`/run/netns/${hostNs}`));
  } catch {
    return undefined;
  }
}

/** Supervisors run detached; if `down` could not stop one, find it by its argv (`supervise ... NS`). */
function killSupervisors(ns: string): void {
  for (const pid of supervisorPidsOf(ns)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* exited */
    }
  }
}

/** What a demo run could strand: its namespaces, DNS files, vpnns state, supervisors. */
export function leftovers(prefix: string, ns: string): string[] {
  const found: string[] = [];
  if (existsSync('/run/netns')) for (const n of readdirSync('/run/netns')) if (n.startsWith(`${prefix}-`)) found.push(`namespace ${n}`);
  if (existsSync('/etc/netns')) for (const n of readdirSync('/etc/netns')) if (n.startsWith(`${prefix}-`)) found.push(`/etc/netns/${n}`);
  // Without a namespace yet (the demo stopped as its world was made) there is none of its state, and
  // no supervisor: '' would name /run/vpnns itself and match every supervisor's argv.
  const own = ns ? stateDirOf(ns) : undefined;
  for (const p of [...(own ? [own.stateDir, own.lockFile] : []), `/run/vpnns-test/${prefix}.owner`]) if (existsSync(p)) found.push(p);
  if (ns) for (const pid of supervisorPidsOf(ns)) found.push(`supervisor pid ${pid}`);
  return found;
}
