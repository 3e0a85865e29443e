// Connection and request ids: short, unique per process, and unique across `--workers` processes too (the worker
// number is part of the id), so `wsgate tail --conn` never mixes two workers' connections.
import cluster from 'node:cluster';

const worker = cluster.isWorker && cluster.worker ? `${cluster.worker.id}-` : '';
let next = 0;

/** e.g. "w1a" (WebSocket 46 of this process), or "w2-1a" in worker 2. */
export function newConnId(prefix: string): string {
  next += 1;
  return `${prefix}${worker}${next.toString(36)}`;
}
