import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderConfigReference } from '../../src/config/docs.js';
import { withReference } from '../../src/config/write-docs.js';

const README = fileURLToPath(new URL('../../../README.md', import.meta.url));

test('the README config reference is generated from the schema and up to date (npm run docs)', () => {
  const readme = readFileSync(README, 'utf8');
  assert.equal(withReference(readme, renderConfigReference()), readme);
});

test('the README first screen has the demo and the test command', () => {
  const first = readFileSync(README, 'utf8').split('\n').slice(0, 30).join('\n');
  assert.match(first, /sudo \.\/scripts\/bootstrap && sudo \.\/bin\/vpnns demo/);
  assert.match(first, /sudo \.\/scripts\/bootstrap --test && sudo npm test/);
});
