// The option parser is node:util's parseArgs behind a wrapper (src/cli/args.ts); these are the
// corners where parseArgs alone would read a command line differently than vpnns always has.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs, type OptionSpec } from '../../src/cli/args.js';
import { UsageError } from '../../src/errors.js';

const SPEC: Record<string, OptionSpec> = { json: {}, user: { value: true, short: 'u' } };
const p = (...argv: string[]) => parseArgs(argv, SPEC, 'exec');
const usage = (re: RegExp) => (e: unknown) => e instanceof UsageError && e.exitCode === 2 && re.test(e.message);

test('a short option is exactly -x: no value glued on, no bundling', () => {
  assert.throws(() => p('-ualice'), usage(/^unknown option -ualice for `vpnns exec`/));
  assert.throws(() => p('-c=x.yaml'), usage(/^unknown option -c=x\.yaml /));
  assert.throws(() => p('-vh'), usage(/^unknown option -vh /));
});

test('a value may start with a dash, and may be empty when written inline', () => {
  assert.equal(p('--user', '-x').opts.user, '-x');
  assert.equal(p('-c', '--').opts.config, '--');
  assert.deepEqual(p('-c', '--').rest, []);
  assert.equal(p('--user=').opts.user, '');
});

test('the last of a repeated option wins; positionals keep their order around options', () => {
  const r = p('a', '--user', 'x', 'b', '-u', 'y', 'c');
  assert.equal(r.opts.user, 'y');
  assert.deepEqual(r.positional, ['a', 'b', 'c']);
});

test('no --no-FLAG negation and no option named by an empty or odd name', () => {
  assert.throws(() => p('--no-json'), usage(/^unknown option --no-json /));
  assert.throws(() => p('--=x'), usage(/^unknown option -- for `vpnns exec`/));
  assert.throws(() => p('-5'), usage(/^unknown option -5 /));
});
