// Golden files: a rendered config is compared byte for byte with a reviewed copy under
// test/unit/golden/. `UPDATE_GOLDEN=1` rewrites the copy instead; review the diff before committing.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Tests run from dist/test/unit/, the golden files stay in the sources (test/unit/golden/).
const GOLDEN_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'unit', 'golden');

export function goldenPath(name: string): string {
  return join(GOLDEN_DIR, name);
}

export function assertGolden(name: string, actual: string): void {
  const path = goldenPath(name);
  if (process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, actual);
    return;
  }
  if (!existsSync(path)) assert.fail(`golden file ${path} is missing; create it with UPDATE_GOLDEN=1 and review it`);
  assert.equal(actual, readFileSync(path, 'utf8'), `output differs from ${path}; if the change is intended, rerun with UPDATE_GOLDEN=1 and review the diff`);
}
