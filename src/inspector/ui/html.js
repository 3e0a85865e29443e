// preact + htm from /vendor/ (served from node_modules, no build step): `html` is htm bound to preact's h.

import htm from '/vendor/htm.mjs';
import { h, render } from '/vendor/preact.mjs';

export { useCallback, useEffect, useMemo, useRef, useState } from '/vendor/hooks.mjs';
export { h, render };
export const html = htm.bind(h);
