// Writes config/wsgate.schema.json from the zod schema. Run after changing src/config/schema.ts:
//   node scripts/gen-schema.ts
// A unit test fails while the committed file differs from what this writes.

import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderConfigJsonSchema } from '../src/config/json-schema.ts';

const target = fileURLToPath(new URL('../config/wsgate.schema.json', import.meta.url));
writeFileSync(target, renderConfigJsonSchema());
process.stdout.write(`wrote ${target}\n`);
