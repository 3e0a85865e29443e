// The config schema as the rest of wsgate uses it: the shape (shape.ts: keys, types, defaults, descriptions), then
// the checks across keys (checks.ts), then resolution into the Config every other module reads (resolve.ts). One
// parse gives either every issue at once or the resolved Config. The types here name the parts of that Config.
// Pure: values in, values out.
//
// The input side is what people write (durations as "10s", `match` as one object or a list, an upstream as a URL
// or a name); the output side is resolved (milliseconds, always a list, always { name, url }).

import { crossCheck } from './checks.ts';
import { resolveConfig } from './resolve.ts';
import { configObject } from './shape.ts';

/** The whole config: parsing it yields the resolved, ready-to-use Config. */
export const configSchema = configObject.superRefine(crossCheck, { when: () => true }).transform(resolveConfig);

export type Config = ReturnType<typeof resolveConfig>;
export type Listener = Config['listeners'][number];
export type Route = Listener['routes'][number];
export type Upstream = Config['upstreams'][number];
export type LimitsConfig = Config['limits'];
export type TapLevel = Config['tap']['level'];
export type ProxyConfig = Config['proxies'][number];
