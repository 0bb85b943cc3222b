// One idea, one spelling (issue 14): each of these helpers is defined once in src/, in the lowest
// layer that uses it, and everything else imports it. Three host:port parsers had grown three
// different grammars; this test fails as soon as a second definition appears.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

// Compiled to dist/test/unit/: the sources are three folders up.
const SRC = join(fileURLToPath(new URL('../../../', import.meta.url)), 'src');

interface Word {
  what: string;
  /** The one file (relative to src/) allowed to define it. */
  home: string;
  /** What a definition looks like, in code with comments removed. */
  definition: RegExp;
}

export const VOCABULARY: readonly Word[] = [
  { what: 'the host:port parser', home: 'config/net-utils.ts', definition: /\b(?:function\s*\*?|(?:const|let|var)\s+)parse(?:Host|Addr)Port\b/ },
  { what: 'the host:port formatter', home: 'config/net-utils.ts', definition: /\b(?:function|(?:const|let|var))\s+format(?:Host|Addr)Port\b/ },
  { what: 'the port parser', home: 'config/net-utils.ts', definition: /\b(?:function|(?:const|let|var))\s+parsePort\b/ },
  {
    what: 'the IPv6 text and bytes conversions',
    home: 'config/net-utils.ts',
    definition: /\bfunction\s+(?:ipv6Groups|expandIPv6|ipv6Bytes|ipv6ToBytes|bytesToIpv6|ipv6FromBytes|canonicalIP|ipv6)\s*\(/,
  },
  // node's isIP answers 0/4/6 and takes `fe80::1%eth0` for an address; the project's predicates do not
  // (and isIPv6 is the project's own, with node's answers: its first call compiles no pattern).
  {
    what: "the IP predicates (node:net's isIP/isIPv4/isIPv6, or one of their own)",
    home: 'config/net-utils.ts',
    definition: /import\s*\{[^}]*\bisIP(?:v4|v6)?\b[^}]*\}\s*from\s*['"]node:net['"]|\b(?:function|(?:const|let|var))\s+isIP(?:v4|v6)?\b/,
  },
  { what: 'the host name check', home: 'config/net-utils.ts', definition: /\b(?:function|(?:const|let|var))\s+isHostName\b|\bconst\s+HOSTNAME\s*=/ },
  {
    what: 'did-you-mean',
    home: 'config/did-you-mean.ts',
    definition: /\b(?:function|(?:const|let|var))\s+(?:didYouMean|suggest|editDistance|levenshtein\w*|closest\w*)\b/i,
  },
  {
    what: 'sleep',
    home: 'sys/process.ts',
    // A named sleep, node's timers/promises renamed to one, or the inline promise around a timer.
    definition: /\b(?:function|(?:const|let|var))\s+sleep\b|\bsetTimeout\s+as\s+\w+|new Promise(?:<void>)?\(\s*\(?\s*(\w+)\s*\)?\s*=>\s*setTimeout\(\s*\1\s*,/,
  },
  { what: "the state root '/var/lib/vpnns' (LIB_DIR)", home: 'config/paths.ts', definition: /['"`]\/var\/lib\/vpnns\b/ },
  // The demo had a copy of its own (and built the namespace's state and lock paths from it by hand).
  { what: "the run-time root '/run/vpnns' (RUN_DIR)", home: 'core/names.ts', definition: /['"`]\/run\/vpnns\b(?!-)/ },
  // The world's DNS server and query helper and `vpnns check` each had a codec of their own.
  {
    what: 'the DNS wire codec',
    home: 'net/dns-wire.ts',
    definition: /\b(?:function|(?:const|let|var))\s+(?:buildQuery|parseQuery|buildResponse|parseResponse|readResponse|encodeName|readName|skipName)\b/,
  },
];

/** The text a definition is looked for in: block and line comments removed (a URL's `//` in a string stays). */
export function codeOf(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

/** "file: what (belongs in home)" for every definition outside its home, and every word whose home lacks it. */
export function strayDefinitions(files: ReadonlyMap<string, string>, vocabulary: readonly Word[] = VOCABULARY): string[] {
  const out: string[] = [];
  for (const w of vocabulary) {
    let atHome = false;
    for (const [file, source] of files) {
      if (!w.definition.test(codeOf(source))) continue;
      if (file === w.home) atHome = true;
      else out.push(`src/${file} defines ${w.what} again; import it from src/${w.home}`);
    }
    if (!atHome) out.push(`src/${w.home} no longer defines ${w.what}; move the vocabulary test's home for it along`);
  }
  return out;
}

function sources(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (n.endsWith('.ts')) out.set(relative(dir, p), readFileSync(p, 'utf8'));
    }
  };
  walk(dir);
  return out;
}

test('src/ defines each shared helper once: host:port, IP addresses, did-you-mean, sleep, the state and run-time roots, the DNS codec', () => {
  const stray = strayDefinitions(sources(SRC));
  assert.deepEqual(stray, [], stray.join('\n'));
});

test('the vocabulary guard sees a second definition in each spelling it knows', () => {
  const home = new Map(VOCABULARY.map((w) => [w.home, '']));
  const seeded = new Map<string, string>([
    ['config/net-utils.ts', "export const isIPv6 = (s: string): boolean => false;\nexport function parseHostPort() {}\nexport function formatHostPort() {}\nexport function parsePort() {}\nexport function isHostName() {}\nexport function ipv6Groups(s) {}"],
    ['config/did-you-mean.ts', 'export function didYouMean() {}'],
    ['sys/process.ts', 'export function sleep() {}'],
    ['config/paths.ts', "export const LIB_DIR = '/var/lib/vpnns';"],
    ['net/dns-wire.ts', 'export function buildQuery() {}\nexport function parseResponse() {}'],
    ['core/names.ts', "export const RUN_DIR = '/run/vpnns';"],
  ]);
  for (const k of home.keys()) assert.ok(seeded.has(k), k);
  assert.deepEqual(strayDefinitions(seeded), []);
  const again: Array<[string, string]> = [
    ['vpn/endpoint.ts', 'export function parseHostPort(text: string) {}'],
    ['services/forward.ts', 'export const formatHostPort = ({ host, port }) => ``;'],
    ['config/load.ts', 'export function suggest(word, candidates) {}'],
    ['vpn/errors.ts', 'function editDistance(a, b) {}'],
    ['checks/drill.ts', 'const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));'],
    ['core/lock.ts', 'await new Promise((resolve) => setTimeout(resolve, 100));'],
    ['world/run.ts', "import { setTimeout as sleep } from 'node:timers/promises';"],
    ['services/apps.ts', "export const LIB_DIR = '/var/lib/vpnns';"],
    ['config/schema.ts', 'const HOSTNAME = /^x$/;'],
    ['vpn/wgquick.ts', 'function ipv6Bytes(ip: string): number[] {}'],
    ['world/dns-wire.ts', "import { isIPv4, isIPv6 } from 'node:net';"],
    ['checks/gather.ts', "import { connect, isIP } from 'node:net';"],
    ['vpn/ovpn.ts', 'function isIPv6(s: string): boolean {}'],
    ['checks/dns-wire.ts', 'export function buildQuery(id: number, name: string, type: QueryType): Buffer {}'],
    ['world/dns-query.ts', 'function skipName(msg: Buffer, pos: number): number {}'],
    ['demo/session.ts', "const RUN_DIR = '/run/vpnns';"],
  ];
  for (const [file, text] of again) {
    const stray = strayDefinitions(new Map([...seeded, [file, text]]));
    assert.equal(stray.length, 1, `${file}: ${text}`);
    assert.match(stray[0]!, new RegExp(`^src/${file} defines `));
  }
  // A mention in a comment is not a definition.
  assert.deepEqual(strayDefinitions(new Map([...seeded, ['vpn/x.ts', '// function sleep() was here; see /var/lib/vpnns\n/* const sleep = 1 */']])), []);
  // The world's own directory beside it is another root, not a copy.
  assert.deepEqual(strayDefinitions(new Map([...seeded, ['world/cleanup.ts', "export const OWNER_DIR = '/run/vpnns-test';"]])), []);
});
