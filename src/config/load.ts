// Finding, parsing and validating the config file against the schema in schema.ts. The YAML tree is
// walked directly (not converted to JS first) so every error can name its line.

import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, visit, type Document, type Node as YamlNode, type YAMLMap } from 'yaml';
import { didYouMean } from './did-you-mean.js';
import { ConfigError } from './errors.js';
import { configSchema, type ArraySchema, type ConfigOf, type MapSchema, type ObjectSchema, type Schema, type StringSchema, type UnionSchema } from './schema.js';
import { assertTrustedInputs } from './trusted-inputs.js';
import { readTrustedFile } from './trust.js';
import type { Config } from './types.js';

export const SYSTEM_CONFIG = '/etc/vpnns/config.yaml';
export const LOCAL_CONFIG = 'vpnns.yaml';

/**
 * Loads `file`, else /etc/vpnns/config.yaml, else ./vpnns.yaml (from `cwd`), else all defaults.
 * `systemFile` replaces /etc/vpnns/config.yaml (for tests).
 */
export async function loadConfig(opts: { file?: string; cwd?: string; systemFile?: string } = {}): Promise<Config> {
  const cwd = opts.cwd ?? process.cwd();
  const load = (abs: string, display: string) => {
    const cfg = parse(readConfigFile(abs, display), display, abs, cwd);
    // Run as root, every file and program the config names must be root's too (trust.ts).
    assertTrustedInputs(cfg, { cwd, file: display });
    return cfg;
  };
  if (opts.file !== undefined) return load(resolve(cwd, opts.file), opts.file);
  const system = opts.systemFile ?? SYSTEM_CONFIG;
  for (const [abs, display] of [[system, system], [resolve(cwd, LOCAL_CONFIG), LOCAL_CONFIG]] as const) {
    if (existsSync(abs)) return load(abs, display);
  }
  return parse('', undefined, undefined, cwd);
}

/** Parses config text; `file` (relative to the working directory) names it in errors and anchors relative paths. */
export function parseConfig(text: string, file?: string): Config {
  return parse(text, file, file === undefined ? undefined : resolve(file), process.cwd());
}

/**
 * For scripts/bundle.mjs, once, at build time: runs what every `up`, supervisor start and `exec
 * --config` runs first on a config (the YAML parser and the schema's checks, on a sample text), so
 * the V8 code cache written after it holds those functions compiled (the first parse of a config
 * otherwise compiles them: ~15 ms). Pure: parses a string, reads and changes nothing.
 */
export function warmUp(): void {
  parseConfig(
    [
      'namespace: vpn-ns',
      'network: { subnet: 10.0.0.0/30, ipv6: false }',
      'vpn:',
      '  type: wireguard',
      '  config: /etc/vpnns/wg0.conf',
      'proxies:',
      '  socks: { port: 1080 }',
      '  http: { port: 1090 }',
      'apps:',
      '  code-server:',
      '    port: 8443',
      '',
    ].join('\n'),
  );
}

export function defaultConfig(): Config {
  return parseConfig('');
}

/** Run as root, only a file root alone controls is read (trust.ts): a project's vpnns.yaml is the user's, not root's. */
function readConfigFile(abs: string, display: string): string {
  try {
    return readTrustedFile(abs, '', { file: display, hint: `a config for root belongs in ${SYSTEM_CONFIG} or in a root-owned file passed with --config` });
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const detail = code === 'ENOENT'
      ? `no such file; check the path, or leave it out to use ${SYSTEM_CONFIG} or ./${LOCAL_CONFIG}`
      : `cannot read it (${code ?? String(err)}); make it a readable file`;
    throw new ConfigError({ file: display, path: '', detail });
  }
}

function parse(text: string, display: string | undefined, abs: string | undefined, cwd: string): Config {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  const syntax = doc.errors[0];
  if (syntax) {
    const what = syntax.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    const detail = syntax.code === 'DUPLICATE_KEY'
      ? 'invalid YAML: a key appears twice in the same mapping; remove one of them'
      : `invalid YAML: ${what.charAt(0).toLowerCase()}${what.slice(1)}; check the indentation and quoting here`;
    const unclosedQuote = syntax.code === 'MISSING_CHAR' && what.includes('quote');
    const line = (unclosedQuote ? quoteStartLine(doc, lineCounter, syntax.pos[0]) : undefined) ?? syntax.linePos?.[0].line;
    throw new ConfigError({ file: display, line, path: '', detail });
  }
  const walker = new Walker(doc, lineCounter, display, abs ? dirname(abs) : cwd);
  // The walker returns `unknown`; what it builds is what the schema says (ConfigOf), which
  // types.ts checks is a Config, so the compiler holds this line to the schema.
  const root = walker.value(doc.contents ?? undefined, configSchema, '', 1) as ConfigOf<typeof configSchema>;
  return { ...root, ...(abs !== undefined && { source: abs }) };
}

/** An unclosed quote is reported where the text ends; the line where the quote opens is the one to fix. */
function quoteStartLine(doc: Document, lc: LineCounter, offset: number): number | undefined {
  let start: number | undefined;
  visit(doc, {
    Scalar(_, node) {
      const quoted = node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE';
      if (quoted && node.range && node.range[0] < offset && offset <= node.range[2]) start = node.range[0];
    },
  });
  return start === undefined ? undefined : lc.linePos(start).line;
}

type Node = YamlNode | null | undefined;

class Walker {
  constructor(private doc: Document, private lc: LineCounter, private file: string | undefined, private baseDir: string) {}

  private line(node: Node): number | undefined {
    return node?.range ? this.lc.linePos(node.range[0]).line : undefined;
  }

  private fail(path: string, at: Node | number | undefined, detail: string): never {
    const line = typeof at === 'number' ? at : this.line(at);
    throw new ConfigError({ file: this.file, line, path, detail });
  }

  /** `at` is the line to blame when the value itself is missing (the key's line). */
  value(input: Node, s: Schema, path: string, at: number | undefined): unknown {
    const node = isAlias(input) ? input.resolve(this.doc) : input;
    if (node === undefined || node === null || (isScalar(node) && node.value === null)) return this.absent(s, path, at);
    switch (s.kind) {
      case 'string': return this.string(node, s, path);
      case 'integer': {
        const v = isScalar(node) ? node.value : undefined;
        const ok = typeof v === 'number' && Number.isInteger(v) && (s.min === undefined || v >= s.min) && (s.max === undefined || v <= s.max);
        return ok ? v : this.fail(path, node, `expected ${expectation(s)}, got ${describe(node)}`);
      }
      case 'boolean':
        return isScalar(node) && typeof node.value === 'boolean' ? node.value : this.fail(path, node, `expected true or false, got ${describe(node)}`);
      case 'array': return this.array(node, s, path);
      case 'map': return this.map(node, s, path);
      case 'object': return this.object(node, s, path);
      case 'union': return this.union(node, s, path);
    }
  }

  private absent(s: Schema, path: string, at: number | undefined): unknown {
    if (s.default !== undefined) return structuredClone(s.default);
    if (s.kind === 'object' && !Object.values(s.fields).some((f) => f.required)) return this.object(undefined, s, path);
    if (s.required) return this.fail(path, at, `missing; add \`${path.slice(path.lastIndexOf('.') + 1)}:\` (${s.description.replace(/\.$/, '')})`);
    return undefined;
  }

  private string(node: YamlNode, s: StringSchema, path: string): string {
    const raw = isScalar(node) ? node.value : undefined;
    // A number where text is expected (a uid, a port in an env value) is taken as written.
    const v = typeof raw === 'string' ? raw : typeof raw === 'number' && isScalar(node) ? node.source ?? String(raw) : undefined;
    if (v === undefined) {
      const tip = typeof raw === 'boolean' ? `; quote it ("${String(raw)}") if you mean the text` : '';
      return this.fail(path, node, `expected ${expectation(s)}, got ${describe(node)}${tip}`);
    }
    if (s.enum && !s.enum.includes(v)) {
      const guess = didYouMean(v, s.enum);
      return this.fail(path, node, `expected one of ${s.enum.join(', ')}, got ${JSON.stringify(v)}${guess ? `; did you mean ${guess}?` : ''}`);
    }
    if (s.pattern && !s.pattern.test(v)) return this.fail(path, node, `expected ${s.hint ?? `text matching ${s.pattern.source}`}, got ${JSON.stringify(v)}`);
    const problem = s.check?.(v);
    if (problem) return this.fail(path, node, problem);
    if (s.path === 'always' || (s.path === 'ifSlash' && v.includes('/'))) return resolve(this.baseDir, v);
    return v;
  }

  private array(node: YamlNode, s: ArraySchema, path: string): unknown[] {
    if (!isSeq(node)) {
      if (s.single && isScalar(node)) return [this.value(node, s.items, path, this.line(node))];
      return this.fail(path, node, `expected ${expectation(s)}, got ${describe(node)}`);
    }
    const n = node.items.length;
    if (s.minItems !== undefined && n < s.minItems) {
      return this.fail(path, node, `expected at least ${s.minItems} ${s.minItems === 1 ? 'entry' : 'entries'}, got ${n === 0 ? 'an empty list' : n}${s.required ? '' : '; remove the key for the default'}`);
    }
    if (s.maxItems !== undefined && n > s.maxItems) return this.fail(path, node, `expected at most ${s.maxItems} entries, got ${n}; remove ${n - s.maxItems}`);
    return node.items.map((item, i) => {
      const v = this.value(item as Node, s.items, `${path}[${i}]`, this.line(item as Node) ?? this.line(node));
      return v === undefined ? this.fail(`${path}[${i}]`, (item as Node) ?? node, `expected ${expectation(s.items)}, got nothing`) : v;
    });
  }

  private map(node: YamlNode, s: MapSchema, path: string): Record<string, unknown> {
    if (!isMap(node)) return this.fail(path, node, `expected a mapping, got ${describe(node)}`);
    const out: Record<string, unknown> = {};
    for (const pair of node.items) {
      const key = keyName(pair.key as Node);
      const keyPath = join(path, key ?? '?');
      if (key === undefined || !s.keyPattern.test(key)) return this.fail(keyPath, pair.key as Node, `expected ${s.keyHint} as the key, got ${describe(pair.key as Node)}`);
      const v = this.value(pair.value as Node, s.values, keyPath, this.line(pair.key as Node));
      // An object value may be written bare (`web:`) and take its defaults; anything else needs a value.
      out[key] = v ?? this.fail(keyPath, pair.key as Node, `expected ${expectation(s.values)}, got nothing`);
    }
    return out;
  }

  private object(node: YamlNode | undefined, s: ObjectSchema, path: string): Record<string, unknown> {
    if (node !== undefined && !isMap(node)) {
      if (s.shorthand && isScalar(node)) return this.fields(undefined, s, path, undefined, { [s.shorthand]: node });
      return this.fail(path, node, `expected ${expectation(s)}, got ${describe(node)}`);
    }
    return this.fields(node, s, path);
  }

  private fields(node: YAMLMap | undefined, s: ObjectSchema, path: string, variant?: { union: UnionSchema; name: string }, given?: Record<string, YamlNode>): Record<string, unknown> {
    const byKey = new Map<string, { key: Node; value: Node }>();
    for (const pair of node?.items ?? []) {
      const key = keyName(pair.key as Node);
      if (key === undefined) return this.fail(join(path, '?'), pair.key as Node, `expected a plain key, got ${describe(pair.key as Node)}`);
      if (!(key in s.fields)) return this.fail(join(path, key), pair.key as Node, unknownKey(key, Object.keys(s.fields), variant));
      byKey.set(key, { key: pair.key as Node, value: pair.value as Node });
    }
    for (const [key, value] of Object.entries(given ?? {})) byKey.set(key, { key: value, value });
    const mapLine = this.line(node);
    const out: Record<string, unknown> = {};
    for (const [key, field] of Object.entries(s.fields)) {
      const pair = byKey.get(key);
      const v = this.value(pair?.value, field, join(path, key), this.line(pair?.key) ?? mapLine);
      if (v !== undefined) out[key] = v;
    }
    const issue = s.refine?.(out);
    if (issue) {
      const at = issue.key !== undefined ? byKey.get(issue.key)?.key ?? node : node;
      return this.fail(issue.key !== undefined ? join(path, issue.key) : path, at ?? mapLine, issue.detail);
    }
    return s.normalize ? s.normalize(out) : out;
  }

  private union(node: YamlNode, s: UnionSchema, path: string): Record<string, unknown> {
    if (!isMap(node)) {
      const named = isScalar(node) && typeof node.value === 'string' && node.value in s.variants;
      return this.fail(path, node, `expected ${expectation(s)}, got ${describe(node)}${named ? `; write \`${s.tag}: ${String((node as { value: unknown }).value)}\` on its own line under \`${path}:\`` : ''}`);
    }
    const names = Object.keys(s.variants);
    const tagPair = node.items.find((p) => keyName(p.key as Node) === s.tag);
    const tagSchema: StringSchema = { kind: 'string', description: s.description, enum: names };
    if (!tagPair) return this.fail(join(path, s.tag), node, `missing; add \`${s.tag}:\` with one of ${names.join(', ')}`);
    const name = this.value(tagPair.value as Node, { ...tagSchema, required: true }, join(path, s.tag), this.line(tagPair.key as Node)) as string;
    const v = s.variants[name]!;
    return this.fields(node, { ...v, fields: { [s.tag]: tagSchema, ...v.fields } }, path, { union: s, name });
  }
}

function keyName(key: Node): string | undefined {
  if (!isScalar(key) || key.value === null || typeof key.value === 'object') return undefined;
  return typeof key.value === 'number' ? key.source ?? String(key.value) : String(key.value);
}

const join = (path: string, key: string) => (path === '' ? key : `${path}.${key}`);

function unknownKey(key: string, allowed: string[], variant?: { union: UnionSchema; name: string }): string {
  const guess = didYouMean(key, allowed);
  if (guess) return `unknown key; did you mean \`${guess}\`?`;
  if (variant) {
    const owners = Object.entries(variant.union.variants).filter(([, v]) => key in v.fields).map(([n]) => n);
    if (owners.length > 0) return `not used by ${variant.union.tag} ${variant.name}; it belongs to ${owners.join(', ')}`;
  }
  const homes = keyHomes(configSchema, '').filter(([k]) => k === key).map(([, parent]) => `\`${parent}\``);
  if (homes.length > 0) return `unknown key here; it belongs under ${[...new Set(homes)].join(' or ')}`;
  return allowed.length > 0 ? `unknown key; allowed here: ${allowed.join(', ')}` : 'unknown key; nothing else is allowed here';
}

/** [key, parent path] for every key the schema knows, to point a key written at the wrong level to its place. */
function keyHomes(s: Schema, path: string): Array<[string, string]> {
  switch (s.kind) {
    case 'object': return Object.entries(s.fields).flatMap(([k, f]) => [[k, path || '(top level)'] as [string, string], ...keyHomes(f, join(path, k))]);
    case 'union': return Object.values(s.variants).flatMap((v) => keyHomes(v, path));
    case 'array': return keyHomes(s.items, `${path}[]`);
    case 'map': return keyHomes(s.values, `${path}.<name>`);
    default: return [];
  }
}

function describe(node: Node): string {
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (!isScalar(node) || node.value === null || node.value === undefined) return 'nothing';
  if (typeof node.value === 'string') return JSON.stringify(node.value);
  return node.source ?? String(node.value);
}

function expectation(s: Schema): string {
  switch (s.kind) {
    case 'string': return s.enum ? `one of ${s.enum.join(', ')}` : s.hint ?? 'a string';
    case 'integer':
      if (s.min !== undefined && s.max !== undefined) return `an integer from ${s.min} to ${s.max}`;
      return s.min !== undefined ? `an integer of at least ${s.min}` : s.max !== undefined ? `an integer of at most ${s.max}` : 'an integer';
    case 'boolean': return 'true or false';
    case 'array': return s.single ? `${expectation(s.items)} or a list of them` : 'a list';
    case 'map': return 'a mapping';
    case 'object': return s.shorthand ? `${expectation(s.fields[s.shorthand]!)} or a mapping` : 'a mapping';
    case 'union': return `a mapping with \`${s.tag}\``;
  }
}
