// `vpnns app install code-server`: code-server 4.100.3 from npm, the newest that runs on Node 20.
// npm builds its native modules (≈3 min on 2 cores, needs the -dev packages below). One of its
// dependencies, @vscode/ripgrep, downloads rg from GitHub at install time; it first looks in a cache
// under $TMPDIR, which we fill from the npm package @vscode/ripgrep-linux-x64 so the install only
// needs the npm registry.
import { mkdtemp, rm, stat, writeFile, mkdir, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { VpnnsError } from '../../errors.js';
import { run } from '../../sys/exec.js';
import { exists, type System } from '../../sys/system.js';
import { CODE_SERVER_VERSION } from './code-server.js';

/** What code-server's @vscode/ripgrep 1.15.11 looks for in its download cache. */
const RIPGREP_CACHE = 'vscode-ripgrep-cache-1.15.11';
const RIPGREP_ASSET = 'ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz';
const RIPGREP_PACKAGE = '@vscode/ripgrep-linux-x64@1.18.0';

/** Debian packages the native modules build against (kerberos, native-keymap, keytar) and the build tools. */
export const CODE_SERVER_BUILD_PACKAGES = ['libkrb5-dev', 'libxkbfile-dev', 'libsecret-1-dev', 'python3', 'make', 'g++', 'pkg-config'];

export interface CodeServerInstallOptions {
  /** Directory that receives node_modules/code-server (default /opt/vpnns/code-server-<version>-node<N>). */
  prefix?: string;
  /** Directory to put a `code-server` symlink in (default /usr/local/bin); null: none. */
  linkDir?: string | null;
  nodeVersion?: string;
  arch?: string;
}

export function defaultPrefix(nodeVersion: string = process.versions.node, arch: string = process.arch): string {
  return `/opt/vpnns/code-server-${CODE_SERVER_VERSION}-node${nodeVersion.split('.')[0]}-${arch}`;
}

export function codeServerBin(prefix: string): string {
  return join(prefix, 'node_modules', '.bin', 'code-server');
}

/** Why this machine cannot take code-server 4.100.3 from npm, or undefined. */
export function unsupportedReason(nodeVersion: string = process.versions.node, arch: string = process.arch): string | undefined {
  const major = Number(nodeVersion.split('.')[0]);
  if (major !== 20) {
    return `code-server ${CODE_SERVER_VERSION} needs Node 20 and this is Node ${nodeVersion}; install code-server with its own installer instead (https://coder.com/docs/code-server/install)`;
  }
  if (arch !== 'x64') return `\`vpnns app install code-server\` supports x64 only (this is ${arch}); install code-server with its own installer (https://coder.com/docs/code-server/install)`;
  return undefined;
}

async function missingPackages(pkgs: readonly string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const p of pkgs) {
    const r = await run(['dpkg-query', '-W', '-f=${Status}', p], { allowFail: true });
    if (!r.stdout.includes('install ok installed')) missing.push(p);
  }
  return missing;
}

/** `code-server --version`, run with a throwaway HOME: it writes a default config.yaml into the caller's home. */
export async function installedVersion(bin: string): Promise<string | undefined> {
  if (!(await exists(bin))) return undefined;
  const home = await mkdtemp(join(tmpdir(), 'vpnns-code-server-home-'));
  try {
    const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), XDG_DATA_HOME: join(home, '.local', 'share') };
    const r = await run([bin, '--version'], { allowFail: true, timeoutMs: 60_000, env });
    return r.code === 0 ? r.stdout.trim().split('\n').pop()!.split(/\s+/)[0] : undefined;
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

/** Installs (or finds) code-server and returns the path of its executable. */
export async function installCodeServer(sys: System, opts: CodeServerInstallOptions, say: (l: string) => void): Promise<string> {
  const why = unsupportedReason(opts.nodeVersion, opts.arch);
  if (why) throw new VpnnsError(`${why}.`, { exitCode: 2 });
  const prefix = opts.prefix ?? defaultPrefix(opts.nodeVersion, opts.arch);
  const bin = codeServerBin(prefix);
  const have = await installedVersion(bin);
  if (have === CODE_SERVER_VERSION) {
    say(`code-server ${have} is already installed in ${prefix}.`);
  } else {
    const missing = await missingPackages(CODE_SERVER_BUILD_PACKAGES);
    if (missing.length) {
      throw new VpnnsError(`code-server builds native modules and needs ${missing.join(', ')}; install them with: apt-get install ${missing.join(' ')}`, { exitCode: 2 });
    }
    say(`installing code-server ${CODE_SERVER_VERSION} into ${prefix} with npm (about 3 minutes: it builds native modules) ...`);
    const tmp = await mkdtemp(join(tmpdir(), 'vpnns-code-server-'));
    try {
      await fillRipgrepCache(tmp);
      // A half-made tree from an interrupted run would be taken as installed: build beside it, then swap.
      const staging = `${prefix}.partial-${process.pid}`;
      await rm(staging, { recursive: true, force: true });
      await mkdir(staging, { recursive: true });
      await writeFile(join(staging, 'package.json'), '{ "private": true }\n');
      const env = {
        ...process.env,
        TMPDIR: tmp,
        // code-server's postinstall.sh refuses to run as root without it (npm itself no longer knows the setting).
        npm_config_unsafe_perm: 'true',
        npm_config_build_from_source: 'true',
        npm_config_yes: 'true',
        npm_config_audit: 'false',
        npm_config_fund: 'false',
        npm_config_update_notifier: 'false',
      };
      try {
        await sys.change(['npm', 'install', '--omit=dev', '--no-package-lock', `code-server@${CODE_SERVER_VERSION}`], { cwd: staging, env, timeoutMs: 40 * 60_000 });
        const built = await installedVersion(codeServerBin(staging));
        if (built !== CODE_SERVER_VERSION) throw new VpnnsError(`npm installed code-server but \`code-server --version\` does not answer ${CODE_SERVER_VERSION} (got ${built ?? 'nothing'}).`);
        await rm(prefix, { recursive: true, force: true });
        await rename(staging, prefix);
      } catch (e) {
        await rm(staging, { recursive: true, force: true });
        throw e;
      }
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }
  if (opts.linkDir !== null) {
    const link = join(opts.linkDir ?? '/usr/local/bin', 'code-server');
    await sys.change(['ln', '-sfn', bin, link]);
    say(`code-server ${CODE_SERVER_VERSION}: ${link} -> ${bin}`);
  }
  return bin;
}

async function fillRipgrepCache(tmp: string): Promise<void> {
  const pack = join(tmp, 'pack');
  await mkdir(pack);
  const r = await run(['npm', 'pack', '--silent', RIPGREP_PACKAGE, '--pack-destination', pack], { cwd: pack, timeoutMs: 5 * 60_000 });
  const tgz = join(pack, r.stdout.trim().split('\n').pop()!);
  await run(['tar', 'xzf', tgz, '-C', pack]);
  const rg = join(pack, 'package', 'bin', 'rg');
  await stat(rg);
  const cache = join(tmp, RIPGREP_CACHE);
  await mkdir(cache);
  await run(['tar', 'czf', join(cache, RIPGREP_ASSET), '-C', dirname(rg), 'rg']);
}
