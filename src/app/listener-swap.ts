// A reload's change of listeners, all or nothing: the proxy never ends up with fewer working listeners than the
// last good config had. A listener that keeps its name, kind and address is updated in place by the caller; so is
// one only renamed (same kind, bound where the new spec names with its real port, its old name used by no
// listener of the new config): its open connections carry on, as nginx keeps a socket whose `listen` did not
// change. Every other one of the new config is started, on a new address before anything old is touched. One that takes an address an old listener holds
// (another kind, http to https, a rename whose old name is taken) closes the old one's socket first and then
// binds, as nginx hands over a socket it cannot keep. A bind that fails undoes what was started and brings back
// what was closed; the caller keeps its config.
import { bindsOverlap } from '../net/bind-overlap.ts';

type HostPort = { host: string; port: number };

export type SwappableListener = {
  readonly name: string;
  close(graceMs: number, reason?: string): Promise<void>;
};

export type Started<L> = { listener: L; address: HostPort };

export type SwapPlan<L, S> = {
  /** Listeners that stay (same kind and address), with their new spec; its name differs when renamed. */
  kept: { listener: L; spec: S }[];
  /** Specs to start on an address no old listener holds. */
  fresh: S[];
  /** Specs to start on an address an old listener holds, once that one stops accepting. */
  handover: S[];
  /** Old listeners not kept: closed once the new ones listen. */
  retired: L[];
};

/**
 * Which listeners stay, start, take over an address, or go. `address` is where an old listener really listens;
 * `keeps` says a listener of the spec's name can take it in place, `sameKind` that one of another name could.
 */
export function planSwap<L extends SwappableListener, S extends { name: string; bind: HostPort }>(
  current: ReadonlyMap<string, L>,
  address: (listener: L) => HostPort,
  next: readonly S[],
  keeps: (listener: L, spec: S) => boolean,
  sameKind: (listener: L, spec: S) => boolean = () => false,
): SwapPlan<L, S> {
  const kept: { listener: L; spec: S }[] = [];
  const toStart: S[] = [];
  for (const spec of next) {
    const existing = current.get(spec.name);
    if (existing !== undefined && keeps(existing, spec)) kept.push({ listener: existing, spec });
    else toStart.push(spec);
  }
  // A rename: an old listener nobody in the new config is named after, of the same kind, on the very address the
  // spec names (port 0 asks for a new port, so it names none).
  const names = new Set(next.map((s) => s.name));
  const claimed = new Set(kept.map((k) => k.listener));
  const on = (l: L, bind: HostPort) =>
    bind.port !== 0 && address(l).port === bind.port && address(l).host === bind.host;
  for (const spec of [...toStart]) {
    const old = [...current.values()].find(
      (l) => !claimed.has(l) && !names.has(l.name) && on(l, spec.bind) && sameKind(l, spec),
    );
    if (old === undefined) continue;
    claimed.add(old);
    kept.push({ listener: old, spec });
    toStart.splice(toStart.indexOf(spec), 1);
  }
  const stays = new Set(kept.map((k) => k.listener));
  const retired = [...current.values()].filter((l) => !stays.has(l));
  const held = (spec: S) => retired.some((l) => bindsOverlap(address(l), spec.bind));
  return {
    kept,
    fresh: toStart.filter((s) => !held(s)),
    handover: toStart.filter(held),
    retired,
  };
}

export type SwapSteps<L, S> = {
  start(spec: S): Promise<Started<L>>;
  /** Starts an old listener again from its previous spec, when a handover's bind failed after it was closed. */
  restore(listener: L): Promise<Started<L>>;
  /** Ends an old listener: stops accepting at once, drains within the grace period. */
  retire(listener: L): Promise<void>;
};

export type SwapResult<L> =
  | { ok: true; started: Started<L>[] }
  | { ok: false; error: unknown; spec: string; restored: Started<L>[]; lost: { listener: L; error: unknown }[] };

/**
 * Starts the plan's listeners and retires the old ones. On failure nothing of the new config listens; `restored`
 * replace the old listeners a handover had closed (`lost` could not be brought back: their address was taken
 * meanwhile). The old listeners a handover closed drain as retired ones do, even when restored.
 */
export async function runSwap<L extends SwappableListener, S extends { name: string; bind: HostPort }>(
  plan: SwapPlan<L, S>,
  address: (listener: L) => HostPort,
  steps: SwapSteps<L, S>,
): Promise<SwapResult<L>> {
  const started: Started<L>[] = [];
  const undo = () => Promise.all(started.map((s) => s.listener.close(0)));
  for (const spec of plan.fresh) {
    try {
      started.push(await steps.start(spec));
    } catch (error) {
      await undo();
      return { ok: false, error, spec: spec.name, restored: [], lost: [] };
    }
  }
  // Their sockets close synchronously in close(): the address is free for the bind right after.
  const released = plan.retired.filter((l) => plan.handover.some((s) => bindsOverlap(address(l), s.bind)));
  for (const listener of released) void steps.retire(listener);
  for (const spec of plan.handover) {
    try {
      started.push(await steps.start(spec));
    } catch (error) {
      await undo();
      const restored: Started<L>[] = [];
      const lost: { listener: L; error: unknown }[] = [];
      for (const listener of released) {
        try {
          restored.push(await steps.restore(listener));
        } catch (err) {
          lost.push({ listener, error: err });
        }
      }
      return { ok: false, error, spec: spec.name, restored, lost };
    }
  }
  for (const listener of plan.retired) if (!released.includes(listener)) void steps.retire(listener);
  return { ok: true, started };
}

/**
 * Files the plan's renamed listeners under their new names in the caller's maps (name → listener, name → address)
 * after `rename` has told each its new name; their sockets and connections stay as they are.
 */
export function moveRenamed<L extends SwappableListener, S extends { name: string }>(
  kept: SwapPlan<L, S>['kept'],
  registry: { listeners: Map<string, L>; addresses: Map<string, HostPort> },
  rename: (listener: L, name: string) => void,
): void {
  const renamed = kept
    .filter(({ listener, spec }) => listener.name !== spec.name)
    .map(({ listener, spec }) => ({ listener, name: spec.name, address: registry.addresses.get(listener.name) }));
  for (const { listener } of renamed) {
    registry.listeners.delete(listener.name);
    registry.addresses.delete(listener.name);
  }
  for (const { listener, name, address } of renamed) {
    rename(listener, name);
    registry.listeners.set(name, listener);
    if (address !== undefined) registry.addresses.set(name, address);
  }
}
