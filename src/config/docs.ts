// The Markdown config reference (key, type, default, description), generated from schema.ts.

import { configSchema, type Schema } from './schema.js';

interface Row { key: string; type: string; dflt: string; description: string }

export function renderConfigReference(): string {
  const rows = collect(configSchema, '');
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  return [
    '| Key | Type | Default | Description |',
    '| --- | --- | --- | --- |',
    ...rows.map((r) => `| \`${r.key}\` | ${cell(r.type)} | ${cell(r.dflt)} | ${cell(r.description)} |`),
  ].join('\n') + '\n';
}

function collect(s: Schema, key: string, only?: string): Row[] {
  const prefix = key === '' ? '' : `${key}.`;
  switch (s.kind) {
    case 'object':
      return Object.entries(s.fields).flatMap(([k, f]) => collect(f, `${prefix}${k}`, only));
    case 'union': {
      const rows: Row[] = [row({ kind: 'string', description: s.description, enum: Object.keys(s.variants), default: (s.default as Record<string, unknown> | undefined)?.[s.tag] }, `${prefix}${s.tag}`)];
      // A field shared by several variants (the same schema object) gets one row naming all of them.
      const seen = new Map<Schema, string[]>();
      for (const [name, v] of Object.entries(s.variants)) for (const f of Object.values(v.fields)) seen.set(f, [...(seen.get(f) ?? []), name]);
      const done = new Set<Schema>();
      for (const v of Object.values(s.variants)) {
        for (const [k, f] of Object.entries(v.fields)) {
          if (done.has(f)) continue;
          done.add(f);
          const owners = seen.get(f)!;
          const empty = Object.keys(s.variants).filter((n) => Object.keys(s.variants[n]!.fields).length === 0);
          const label = owners.length + empty.length === Object.keys(s.variants).length && empty.length > 0 ? `all but ${empty.join(', ')}` : owners.join(', ');
          rows.push(...collect(f, `${prefix}${k}`, label));
        }
      }
      return rows;
    }
    case 'array':
      return [row(s, key, only), ...(s.items.kind === 'object' ? collect(s.items, `${key}[]`, only) : [])];
    case 'map':
      return [row(s, key, only), ...(s.values.kind === 'object' ? collect(s.values, `${key}.<name>`, only) : [])];
    default:
      return [row(s, key, only)];
  }
}

function row(s: Schema, key: string, only?: string): Row {
  const dflt = s.docDefault ?? (s.default !== undefined ? `\`${yamlish(s.default)}\`` : s.required ? '*required*' : '');
  return { key, type: s.docType ?? typeName(s), dflt, description: only ? `(${only}) ${s.description}` : s.description };
}

function typeName(s: Schema): string {
  switch (s.kind) {
    case 'string': return s.enum ? s.enum.map((e) => `\`${e}\``).join(' | ') : 'string';
    case 'integer': return s.min !== undefined && s.max !== undefined ? `integer ${s.min}..${s.max}` : 'integer';
    case 'boolean': return 'boolean';
    case 'array': return `list of ${typeName(s.items)}`;
    case 'map': return `map of ${typeName(s.values)}`;
    case 'object': return 'mapping';
    case 'union': return 'mapping';
  }
}

function yamlish(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(yamlish).join(', ')}]`;
  if (v !== null && typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `${k}: ${yamlish(x)}`).join(', ')}}`;
  return String(v);
}
