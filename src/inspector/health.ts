// Liveness and readiness on the admin listener, for container health checks and Kubernetes probes:
//   GET /healthz  200 while the process runs and its event loop answers (a hung process never answers at all).
//   GET /readyz   200 when every configured listener is bound, the config is loaded and wsgate is not draining;
//                 503 otherwise, with a JSON body that names what is missing, so a rollout that stalls says why.
// Both are public (no token, the Host check still applies): a probe needs no secret to learn "up" or "not ready".
import { sendJson } from './admin-http.ts';
import type { AdminHandler } from './admin-server.ts';

/** What readiness is judged on, read at every request from whoever runs the listeners. */
export type Readiness = {
  /** Every listener the config names, and whether it is bound now. */
  listeners: readonly { name: string; bound: boolean }[];
  configLoaded: boolean;
  /** Shutting down: listeners stop accepting and connections get Close 1001. */
  draining: boolean;
  /** With `--workers N`: how many are listening, of how many wanted. */
  workers?: { ready: number; target: number } | undefined;
};

/** Why a readiness is not ready, one reason per problem; empty when ready. */
export function notReadyReasons(state: Readiness): string[] {
  const reasons: string[] = [];
  if (!state.configLoaded) reasons.push('config not loaded');
  if (state.draining) reasons.push('draining (shutting down)');
  const unbound = state.listeners.filter((l) => !l.bound).map((l) => l.name);
  if (unbound.length > 0) reasons.push(`listeners not bound: ${unbound.join(', ')}`);
  if (state.workers !== undefined && state.workers.ready === 0) reasons.push('no worker is listening');
  return reasons;
}

export function healthHandlers(readiness: () => Readiness): AdminHandler[] {
  const started = performance.now();
  return [
    {
      method: 'GET',
      path: '/healthz',
      public: true,
      handle(_req, res) {
        sendJson(res, 200, {
          status: 'ok',
          pid: process.pid,
          uptimeSeconds: Math.round((performance.now() - started) / 1000),
        });
      },
    },
    {
      method: 'GET',
      path: '/readyz',
      public: true,
      handle(_req, res) {
        const state = readiness();
        const reasons = notReadyReasons(state);
        sendJson(res, reasons.length === 0 ? 200 : 503, {
          ready: reasons.length === 0,
          reasons,
          draining: state.draining,
          configLoaded: state.configLoaded,
          listeners: state.listeners,
          ...(state.workers === undefined ? {} : { workers: state.workers }),
        });
      },
    },
  ];
}
