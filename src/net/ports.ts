// Port rules as forward listeners write them (allowPorts: 443 or "8000-8999") and the ports a forward proxy
// refuses by default. Pure.

export type PortRange = { from: number; to: number };

export type PortRuleResult = { ok: true; value: PortRange } | { ok: false; message: string };

/** A port (443) or a range ("8000-8999"). */
export function parsePortRule(input: unknown): PortRuleResult {
  const valid = (n: number) => Number.isInteger(n) && n >= 1 && n <= 65535;
  if (typeof input === 'number') {
    return valid(input)
      ? { ok: true, value: { from: input, to: input } }
      : { ok: false, message: `invalid port ${input}: expected 1 to 65535` };
  }
  if (typeof input === 'string') {
    const m = /^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$/.exec(input);
    if (m !== null) {
      const from = Number(m[1]);
      const to = m[2] === undefined ? from : Number(m[2]);
      if (valid(from) && valid(to) && from <= to) return { ok: true, value: { from, to } };
    }
  }
  return {
    ok: false,
    message: `invalid port ${JSON.stringify(input)}: expected a port (443) or a range ("8000-8999") within 1-65535`,
  };
}

export function inPortRanges(port: number, ranges: readonly PortRange[]): boolean {
  return ranges.some((r) => port >= r.from && port <= r.to);
}

/**
 * The Fetch standard's "bad ports" (https://fetch.spec.whatwg.org/#port-blocking): services such as SSH (22) and
 * SMTP (25) that browsers never let a page talk to. Without allowPorts a forward listener allows every other port.
 */
export const BAD_PORTS: ReadonlySet<number> = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110,
  111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532,
  540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061,
  6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
]);
