// What every listener of a running wsgate is given from the config and the process's shared parts: rules, limits,
// the tap's settings, where events go (traffic log, metrics, the admin API's store), upstream TLS, proxies and the
// balancer. Built at start and on every reload; open connections keep the settings they started with.
import type { Config } from '../config/schema.ts';
import type { WsEvent } from '../events.ts';
import type { WsgateMetrics } from '../inspector/metrics.ts';
import { createTextRedactor } from '../log/redact.ts';
import type { ListenerSettings } from '../reverse/listener.ts';
import { ruleSetOf } from '../rules/rule-set.ts';
import type { ConfigTls } from '../tls/config-tls.ts';
import type { KeyLog } from '../tls/keylog.ts';
import type { TrafficLog } from '../traffic/traffic-log.ts';
import type { UpstreamBalancer } from '../upstream/balancer.ts';
import type { UpstreamNetwork } from '../upstream/network.ts';

export function settingsOf(
  config: Config,
  traffic: TrafficLog,
  network: UpstreamNetwork,
  balancer: UpstreamBalancer,
  tls?: ConfigTls,
  keyLog?: KeyLog,
  metrics?: WsgateMetrics,
  store?: { ingest(event: WsEvent): void },
): ListenerSettings {
  return {
    upstreamTls: tls?.upstreams,
    rules: ruleSetOf(config.rules),
    keyLog,
    network,
    balancer,
    limits: config.limits,
    showSecrets: config.log.showSecrets,
    tap: {
      previewBytes: config.tap.previewBytes,
      maxDecodedBytes: config.tap.maxDecodedBytes,
      redactText: createTextRedactor(config.tap.redactJsonKeys, config.tap.redactPatterns),
      // Whole messages (tap payload) for this process's own traffic store; a worker's events cross the IPC without
      // them (the payload is a non-enumerable field), so a worker makes no copies for them.
      storeBytes:
        store !== undefined && 'store' in store && config.inspector !== undefined
          ? Math.min(config.inspector.store.maxMessageBytes, config.limits.maxMessageBytes)
          : undefined,
      // The traffic store reads every event while the admin API runs: the tap builds them for it.
      active: store === undefined ? () => traffic.active() : () => true,
      // It never reads frame events: those are built only for the traffic log.
      framesActive: store === undefined ? undefined : () => traffic.active(),
      onViolation: config.tap.onViolation,
      limits: {
        maxFrameBytes: config.limits.maxFrameBytes,
        maxMessageBytes: config.limits.maxMessageBytes,
        maxFragments: config.limits.maxFragments,
        maxPendingPings: config.limits.maxPendingPings,
      },
    },
    emit:
      metrics === undefined && store === undefined
        ? (event) => traffic.emit(event)
        : (event) => {
            traffic.emit(event);
            metrics?.observe(event);
            store?.ingest(event);
          },
    observer: metrics,
  };
}
