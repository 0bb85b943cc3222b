// Where the end-to-end tests find the real programs they drive (code-server, Kilo CLI, Chromium),
// and a throwaway login user to run them as. scripts/bootstrap installs the programs into a cache
// outside the repository (/var/cache/vpnns-test), keyed by version, so a warm machine skips the
// ≈3 minute code-server build. A test whose program is missing skips with the command that fixes it.
import { execFileSync } from 'node:child_process';
import { accessSync, chmodSync, constants, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { CODE_SERVER_VERSION } from '../../src/services/profiles/code-server.js';
import { KILO_VERSION } from '../../src/services/profiles/kilo.js';
import { fileURLToPath } from 'node:url';
import type { World, WorldOptions } from '../../src/world/world.js';
import type { MockGeminiLog } from '../../src/world/mock-gemini.js';

export const TEST_CACHE = process.env.VPNNS_TEST_CACHE ?? '/var/cache/vpnns-test';
export const CODE_SERVER_DIR = `${TEST_CACHE}/code-server-${CODE_SERVER_VERSION}-node${process.versions.node.split('.')[0]}-${process.arch}`;
export const KILO_DIR = `${TEST_CACHE}/kilo-${KILO_VERSION}`;
export const CHROMIUM = '/usr/bin/chromium';

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function codeServerBinary(): string | undefined {
  const p = `${CODE_SERVER_DIR}/node_modules/.bin/code-server`;
  return executable(p) ? p : undefined;
}

export function kiloBinary(): string | undefined {
  const p = `${KILO_DIR}/node_modules/.bin/kilo`;
  return executable(p) ? p : undefined;
}

/** Why the code-server browser test cannot run here, or undefined. */
export function codeServerSkip(): string | undefined {
  if (!codeServerBinary()) return `code-server ${CODE_SERVER_VERSION} is not in ${CODE_SERVER_DIR}; run \`sudo ./scripts/bootstrap\` (or \`sudo ./bin/vpnns app install code-server --prefix ${CODE_SERVER_DIR} --no-link\`)`;
  if (!executable(CHROMIUM)) return `${CHROMIUM} is missing; run \`sudo ./scripts/bootstrap\` (or \`apt-get install chromium\`)`;
  try {
    createRequire(import.meta.url).resolve('playwright-core');
  } catch {
    return 'playwright-core is not installed; run `npm ci`';
  }
  return undefined;
}

export function kiloSkip(): string | undefined {
  return kiloBinary() ? undefined : `Kilo CLI ${KILO_VERSION} is not in ${KILO_DIR}; run \`sudo ./scripts/bootstrap\` (or \`npm install --prefix ${KILO_DIR} @kilocode/cli@${KILO_VERSION}\`)`;
}

export interface TestUser {
  name: string;
  home: string;
  uid: number;
  remove(): void;
}

/** A login user with a home, removed (with its home and processes) by remove(). */
export function addTestUser(name: string): TestUser {
  execFileSync('useradd', ['-m', '-s', '/bin/bash', name]);
  const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
  return {
    name,
    home: `/home/${name}`,
    uid,
    remove() {
      // Whatever still runs as this throwaway user was started by the test: end it, PID by PID.
      for (const pid of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
        try {
          if (statSync(`/proc/${pid}`).uid === uid) process.kill(Number(pid), 'SIGKILL');
        } catch {
          /* exited meanwhile */
        }
      }
      try {
        execFileSync('userdel', ['-r', name], { stdio: 'ignore' });
      } catch {
        /* already gone */
      }
    },
  };
}

/**
 * A hostile LD_PRELOAD library (DIR/evil.so) and NODE_OPTIONS script (DIR/evil.js): each process
 * that loads one writes a marker `so-uid<N>-<pid>` or `js-uid<N>-<pid>` into the directory returned
 * (world-writable, sticky), so a test can prove which uids ever loaded them.
 */
export function hostileLoaders(dir: string): string {
  const markers = join(dir, 'markers');
  mkdirSync(markers, { recursive: true });
  chmodSync(dir, 0o755);
  chmodSync(markers, 0o1777);
  writeFileSync(
    join(dir, 'evil.c'),
    `#include <stdio.h>\n#include <unistd.h>\n__attribute__((constructor)) static void mark(void) { char p[512]; snprintf(p, sizeof p, "${markers}/so-uid%d-%d", (int)geteuid(), (int)getpid()); FILE *f = fopen(p, "w"); if (f) fclose(f); }\n`,
  );
  execFileSync('gcc', ['-shared', '-fPIC', '-o', join(dir, 'evil.so'), join(dir, 'evil.c')]);
  writeFileSync(join(dir, 'evil.js'), `require('fs').writeFileSync(${JSON.stringify(markers)} + '/js-uid' + process.getuid() + '-' + process.pid, '');\n`);
  return markers;
}

export function exists(p: string): boolean {
  return existsSync(p);
}

// ---- Kilo against a mock Gemini API in the world's wan ----

export const GEMINI_HOST = 'generativelanguage.googleapis.com';
const GEMINI_ADDR = '198.51.100.90';
export const GEMINI_REPLY = 'MOCK-GEMINI says: the tunnel works 7f3a';
const MOCK = fileURLToPath(new URL('../../src/world/mock-gemini.js', import.meta.url));

/** Kilo headless against the google provider at the given base URL; nothing else it could reach for. */
export function kiloEnv(baseURL: string, caFile: string, tmp: string): Record<string, string> {
  return {
    KILO_CONFIG_CONTENT: JSON.stringify({
      disabled_providers: ['kilo'],
      model: 'google/gemini-2.5-flash',
      provider: { google: { options: { baseURL, apiKey: 'test-key-not-secret' } } },
    }),
    NODE_EXTRA_CA_CERTS: caFile,
    SSL_CERT_FILE: caFile,
    KILO_TELEMETRY_LEVEL: 'off',
    KILO_DISABLE_MODELS_FETCH: '1',
    KILO_DISABLE_AUTOUPDATE: '1',
    KILO_DISABLE_DEFAULT_PLUGINS: '1',
    // Each run leaves a native library in $TMPDIR: keep it in the user's home, removed with the user.
    TMPDIR: tmp,
  };
}

export const geminiWorld: Pick<WorldOptions, 'extraWanAddresses' | 'extraRecords' | 'extraServices'> = {
  extraWanAddresses: [GEMINI_ADDR],
  extraRecords: { [GEMINI_HOST]: { A: [GEMINI_ADDR] } },
  extraServices: [{ name: 'gemini', module: MOCK, listen: [{ host: GEMINI_ADDR, port: 443, tls: true }], options: { reply: GEMINI_REPLY } }],
};


/** The API calls the mock logged (not the generic request lines). */
export async function geminiCalls(w: World): Promise<MockGeminiLog[]> {
  return ((await w.serviceRequests('gemini')) as unknown[]).filter((e) => (e as MockGeminiLog).kind === 'gemini') as MockGeminiLog[];
}

/** Alive and not a zombie (runuser leaves its exited child to PID 1, which may reap it late). */
export function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
