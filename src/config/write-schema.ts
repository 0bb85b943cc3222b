// `npm run schema`: writes schema/vpnns.schema.json from the DSL in schema.ts.

import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderJsonSchema } from './schema.js';

// dist/src/config/write-schema.js -> <repo>/schema/
const target = fileURLToPath(new URL('../../../schema/vpnns.schema.json', import.meta.url));
await mkdir(dirname(target), { recursive: true });
await writeFile(target, renderJsonSchema());
console.log(`wrote ${target}`);
