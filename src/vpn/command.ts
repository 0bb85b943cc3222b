// Any other client: a start command that creates `interface` inside the namespace and stays in the
// foreground. It runs as root with vpnns's client group (it is the user's own program: vpnns cannot
// make it set a mark), and its packets pass the kill switch by uid 0 and that group, AND the exact
// endpoint when given.
//
// The start and stop commands run as root, so whoever can change the program (or a script or config
// it is handed by absolute path) runs code as root: each must be a file only root can change. The
// check runs at `up` and again before every start (the supervisor's restarts too), and the command is
// run by the path it resolved to, so a symlink swapped in afterwards changes nothing.
import { realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute } from 'node:path';
import type { VpnCommand } from '../config/types.js';
import { ConfigError } from '../config/errors.js';
import { VpnnsError } from '../errors.js';
import { sleep, type Running } from '../sys/process.js';
import { formatHostPort } from '../config/net-utils.js';
import { parseEndpointSpec, resolveEndpoints } from './endpoint.js';
import type { VpnProvider, VpnSession, VpnStatus } from './provider.js';
import { CLIENT_GID } from './provider.js';
import { tunnelGone, linkBytes } from './tunnel.js';

/**
 * Why `path` is not a file only root can change, or undefined: owned by root, not writable by group
 * or others, and the same for every directory above it (a root-owned sticky directory such as /tmp
 * is fine: others cannot rename root's entries in it).
 * SEAM: the config-trust work's assertTrustedFile(path, what) is to replace this function.
 */
export async function notRootOnly(path: string): Promise<string | undefined> {
  const st = await stat(path);
  if (st.uid !== 0) return `it is owned by uid ${st.uid}`;
  if (st.mode & 0o022) return `it is writable by ${st.mode & 0o002 ? 'every user' : `group ${st.gid}`}`;
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const d = await stat(dir);
    if (d.uid !== 0) return `${dir} is owned by uid ${d.uid}`;
    if (d.mode & 0o022 && !(d.mode & 0o1000)) return `${dir} is writable by ${d.mode & 0o002 ? 'every user' : `group ${d.gid}`}`;
    if (dir === '/') return undefined;
  }
}

/**
 * The argv to run as root, with the program resolved to its real path; throws a ConfigError (exit 2)
 * naming the key when the program, or an existing file given to it by absolute path (`/x` or
 * `--opt=/x`), is not a file only root can change. (A file named inside a longer argument, as in
 * `sh -c ". /x"`, is not recognised: keep such commands in a root-owned script.)
 */
export async function trustedCommand(argv: readonly string[], key: string): Promise<string[]> {
  const [program, ...args] = argv;
  const fail = (detail: string): never => {
    throw new ConfigError({ path: key, detail });
  };
  if (program === undefined) return fail('needs a program to run');
  if (!isAbsolute(program)) return fail(`"${program}" must be an absolute path: the command runs as root, so vpnns does not look it up in PATH`);
  const real = await realpath(program).catch(() => fail(`${program} does not exist; fix the path`));
  if (!(await stat(real)).isFile()) return fail(`${program} is not a file; name the program itself`);
  const fix = (file: string, why: string) =>
    `${file} runs as root (or is read by what does), but ${why}, so another user could change what root runs; make it and its directories root-owned and writable only by root (chown root: FILE; chmod go-w FILE)`;
  const problem = await notRootOnly(real);
  if (problem) return fail(fix(program, problem));
  for (const arg of args) {
    // `--config=/x` hands the program a file as surely as `--config /x` does.
    const path = isAbsolute(arg) ? arg : /^-[^=]*=(\/.*)$/.exec(arg)?.[1];
    if (path === undefined) continue;
    const file = await realpath(path).catch(() => undefined);
    if (file === undefined || !(await stat(file)).isFile()) continue;
    const argProblem = await notRootOnly(file);
    if (argProblem) return fail(fix(path, argProblem));
  }
  return [real, ...args];
}

export const commandProvider: VpnProvider = {
  tools: () => [],

  async prepare(ctx) {
    const vpn = ctx.cfg.vpn as VpnCommand;
    await trustedCommand(vpn.start, 'vpn.start');
    if (vpn.stop) await trustedCommand(vpn.stop, 'vpn.stop');
    const specs = (vpn.endpoints ?? []).map((e, i) => parseEndpointSpec(e, `vpn.endpoints[${i}]`));
    const endpoints = specs.length ? await resolveEndpoints(specs, { resolveWith: vpn.resolveWith, ipv6: ctx.cfg.network.ipv6 }) : [];
    return {
      type: 'command',
      clientTraffic: endpoints.length
        ? endpoints.map((e) => ({ kind: 'endpoint' as const, ip: e.ip, port: e.port, proto: e.proto, sender: { gid: CLIENT_GID } }))
        : [{ kind: 'gid' as const, gid: CLIENT_GID }],
      dns: vpn.dns,
      tunnel: vpn.interface,
      info: { endpoints: endpoints.map((e) => `${formatHostPort({ host: e.ip, port: e.port })}/${e.proto}`), command: vpn.start.join(' ') },
      warnings: [],
    };
  },

  async start(ctx, prepared) {
    const vpn = ctx.cfg.vpn as VpnCommand;
    // Checked again: a restart may come long after `up`, and the files may have changed since.
    const start = await trustedCommand(vpn.start, 'vpn.start');
    const stopArgv = vpn.stop ? await trustedCommand(vpn.stop, 'vpn.stop') : undefined;
    const proc: Running = ctx.sys.start(
      { name: 'vpn', netns: ctx.names.ns, gid: CLIENT_GID, argv: start },
      { logFile: `${ctx.logDir}/vpn-command.log` },
    );
    let exit: { code: number | null } | undefined;
    void proc.exited.then((r) => (exit = r));
    const deadline = Date.now() + vpn.connectTimeout * 1000;
    const up = async () => {
      const r = await ctx.sys.query(['ip', '-n', ctx.names.ns, '-json', 'link', 'show', vpn.interface], { allowFail: true });
      return r.code === 0 && !(JSON.parse(r.stdout) as Array<{ flags?: string[] }>)[0]?.flags?.includes('NO-CARRIER');
    };
    while (Date.now() < deadline) {
      if (await up()) break;
      // A client that daemonizes exits 0 and leaves its interface behind; that is fine.
      if (exit && exit.code !== 0) break;
      await sleep(100);
    }
    if (!(await up())) {
      await proc.stop(2000);
      if (stopArgv) await ctx.sys.change(['ip', 'netns', 'exec', ctx.names.ns, ...stopArgv], { allowFail: true });
      throw new VpnnsError(
        exit
          ? `the VPN command exited (code ${exit.code}) without creating ${vpn.interface}; see ${ctx.logDir}/vpn-command.log.`
          : `the VPN command did not create ${vpn.interface} within ${vpn.connectTimeout} s; check vpn.interface and the command.`,
      );
    }
    const gone = tunnelGone(ctx, vpn.interface);
    const session: VpnSession = {
      process: proc,
      ended: exit ? gone : Promise.race([gone, proc.exited.then((r) => (r.code === 0 ? gone : `the VPN command exited (code ${r.code})`))]),
      tunnel: vpn.interface,
      stop: async () => {
        if (stopArgv) await ctx.sys.change(['ip', 'netns', 'exec', ctx.names.ns, ...stopArgv], { allowFail: true, timeoutMs: 15_000 });
        await proc.stop(3000);
      },
    };
    return session;
  },

  async status(ctx, prepared): Promise<VpnStatus> {
    const dev = prepared.tunnel;
    const r = await ctx.sys.query(['ip', '-n', ctx.names.ns, 'link', 'show', dev], { allowFail: true });
    const bytes = await linkBytes(ctx, dev);
    return { connected: r.code === 0, tunnel: dev, rxBytes: bytes.rx, txBytes: bytes.tx, detail: 'command' };
  },
};
