// What the metrics and health tests share: an admin listener serving a running wsgate's /metrics, /healthz and
// /readyz over real HTTP, and a scrape parsed with the strict Prometheus text parser.
import type { TestContext } from 'node:test';
import type { RunningWsgate } from '../../../src/app/app.ts';
import { AdminServer } from '../../../src/inspector/admin-server.ts';
import { createLogger } from '../../../src/log/logger.ts';
import { type PromFamily, parsePrometheusText } from '../../helpers/prom-text.ts';

/**
 * The base URL of the instance's admin listener (the config has `inspector`), where /metrics, /healthz and /readyz
 * are mounted; without one, a separate admin listener on 127.0.0.1 port 0 with the same handlers.
 */
export async function startAdminFor(t: TestContext, running: RunningWsgate): Promise<string> {
  if (running.inspector !== undefined) return running.inspector.admin.url;
  const admin = new AdminServer({
    bind: { host: '127.0.0.1', port: 0 },
    token: undefined,
    handlers: running.healthAndMetricsHandlers(),
    log: createLogger({ level: 'silent', format: 'json' }),
  });
  await admin.listen();
  t.after(() => admin.close());
  return admin.url;
}

export type Scrape = { text: string; families: Map<string, PromFamily>; contentType: string | null };

/** GET /metrics, checked: 200, the Prometheus content type, and text the strict parser accepts. */
export async function scrape(base: string, headers: Record<string, string> = {}): Promise<Scrape> {
  const res = await fetch(`${base}/metrics`, { headers });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${text}`);
  return { text, families: parsePrometheusText(text), contentType: res.headers.get('content-type') };
}
