// The JSON Schema of the config file, for editors (yaml-language-server reads the `$schema` comment at the top of
// config/wsgate.yaml). It describes the input side: durations and sizes as the strings people write.

import { z } from 'zod';
import { configSchema } from './schema.ts';

/** The schema as the text of config/wsgate.schema.json: stable key order, two-space indent, final newline. */
export function renderConfigJsonSchema(): string {
  // draft-07 rather than 2020-12: it is the draft editor tooling supports most completely.
  const schema = z.toJSONSchema(configSchema, { io: 'input', target: 'draft-07' });
  return `${JSON.stringify(schema, null, 2)}\n`;
}
