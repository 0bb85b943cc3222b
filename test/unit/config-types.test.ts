// ConfigOf (config/schema.ts) reads a schema as the type load.ts yields, and config/types.ts's build-time
// check (ConfigMatchesSchema) compares the hand-kept Config with it. This file is mostly checked by
// the compiler: each `@ts-expect-error` line is a drift the check must refuse, so the build fails if
// the check ever stops seeing it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bool, int, list, map, obj, str, union, type ConfigOf } from '../../src/config/schema.js';
import type { Assert, ConfigMatchesSchema, SameShape } from '../../src/config/types.js';
import { defaultConfig } from '../../src/config/load.js';

const sample = obj('x', {
  name: str('a name', { default: 'n' }),
  mode: str('a mode', { enum: ['a', 'b'], default: 'a' }),
  note: str('optional'),
  must: str('required', { required: true }),
  count: int('a count', { min: 1, default: 3 }),
  maybe: int('optional'),
  flag: bool('a flag', true),
  unset: bool('an optional flag'),
  tags: list(str('a tag'), 'tags', { default: [] }),
  env: map(str('v'), 'env', { keyPattern: /^x$/, keyHint: 'x', default: {} }),
  inner: obj('no required fields: always there', { port: int('p', { default: 1 }) }),
  kind: union('tagged', 'type', { one: obj('1', {}), two: obj('2', { path: str('p', { required: true }) }) }, { default: { type: 'one' } }),
});
type Sample = ConfigOf<typeof sample>;
type Written = {
  name: string; mode: 'a' | 'b'; note?: string; must: string; count: number; maybe?: number; flag: boolean; unset?: boolean;
  tags: string[]; env: Record<string, string>; inner: { port: number }; kind: { type: 'one' } | { type: 'two'; path: string };
};

export type SampleIsRead = Assert<SameShape<Sample, Written>>;
// The same shape spelled as an intersection is still the same (so the refusals below are real).
export type SameSpelledOtherwise = Assert<SameShape<Sample, Omit<Written, 'note'> & { note?: string }>>;
// @ts-expect-error a key the schema does not have
export type ExtraKey = Assert<SameShape<Sample, Written & { more?: string }>>;
// @ts-expect-error a key that is optional in the schema written as always there
export type TooRequired = Assert<SameShape<Sample, Omit<Written, 'note'> & { note: string }>>;
// @ts-expect-error a defaulted key written as optional
export type TooOptional = Assert<SameShape<Sample, Omit<Written, 'count'> & { count?: number }>>;
// @ts-expect-error an enum that lost a value
export type NarrowEnum = Assert<SameShape<Sample, Omit<Written, 'mode'> & { mode: 'a' }>>;

test('Config is checked against the schema at build time, and a default config is one', () => {
  const proof: ConfigMatchesSchema = true;
  assert.equal(proof, true);
  const cfg = defaultConfig();
  assert.equal(cfg.vpn.type, 'none');
  assert.equal(cfg.proxies.socks.port, 1080);
});
