// deploy/kubernetes/ against the config it ships and the default config: the ConfigMap's YAML loads with the
// Deployment's environment, the container ports are the listener ports and the admin port, the probes ask the admin
// API's /readyz and /healthz with a Host it answers to, the Service and the
// PodDisruptionBudget select the pods, and the termination grace period covers the preStop sleep and shutdown.grace.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { loadConfigFile, loadConfigText } from '../../../src/config/load.ts';
import type { Config } from '../../../src/config/schema.ts';
import { ownHostNames } from '../../../src/inspector/admin-server.ts';
import { isLoopbackHost } from '../../../src/net/ip.ts';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const DIR = join(ROOT, 'deploy/kubernetes');

// Only the fields read here; the manifests are parsed, not trusted to have them.
type Port = { name?: string; containerPort: number; protocol?: string };
type Probe = {
  tcpSocket?: { port: number | string };
  httpGet?: { path: string; port: number | string; httpHeaders?: { name: string; value: string }[] };
};
type Container = {
  name: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
  ports?: Port[];
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number } } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean; runAsNonRoot?: boolean };
  volumeMounts?: { name: string; mountPath: string; subPath?: string }[];
};
type Manifest = {
  kind: string;
  metadata: { name: string };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
};
type PodSpec = {
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean };
  containers: Container[];
  volumes?: { name: string; configMap?: { name: string } }[];
};

function manifests(): Manifest[] {
  const files = readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f));
  assert.ok(files.length > 0, 'deploy/kubernetes has manifests');
  return files.flatMap((file) =>
    parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((doc) => {
      assert.deepEqual(doc.errors, [], `${file} parses`);
      return doc.toJS() as Manifest;
    }),
  );
}

function one(all: Manifest[], kind: string): Manifest {
  const found = all.filter((m) => m.kind === kind);
  assert.equal(found.length, 1, `exactly one ${kind}`);
  return found[0]!;
}

function setup() {
  const all = manifests();
  const deployment = one(all, 'Deployment');
  const spec = deployment.spec as {
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
  };
  const pod = spec.template.spec;
  const container = pod.containers.find((c) => c.name === 'wsgate');
  assert.ok(container, 'a container named wsgate');
  // A value from a Secret is not in the manifests: a stand-in, so the config loads as it would in the pod.
  const env = Object.fromEntries(
    (container.env ?? []).map((e) => [e.name, e.value ?? (e.valueFrom?.secretKeyRef ? 'secret-from-kubernetes' : '')]),
  );
  const configMap = one(all, 'ConfigMap');
  const text = configMap.data?.['wsgate.yaml'];
  assert.ok(text, 'the ConfigMap holds wsgate.yaml');
  // Loaded the way the pod loads it: with the Deployment's environment.
  const config = loadConfigText(text, 'configmap.yaml', env);
  return { all, deployment, spec, pod, container, env, configMap, config };
}

/** Ports other machines can reach: listeners not bound to loopback. */
function exposedPorts(config: Config): number[] {
  return config.listeners
    .filter((l) => !isLoopbackHost(l.bind.host))
    .map((l) => l.bind.port)
    .sort((a, b) => a - b);
}

function resolvePort(container: Container, port: number | string | undefined): number | undefined {
  if (typeof port === 'number') return port;
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

test('the ConfigMap config is valid with the Deployment environment and exposes the default config ports', async () => {
  const { config, env } = setup();
  const defaults = await loadConfigFile(join(ROOT, 'config/wsgate.yaml'), { WSGATE_HOST: env['WSGATE_HOST'] ?? '' });
  assert.deepEqual(exposedPorts(defaults), [8080], 'the default config, bound as in a container');
  assert.deepEqual(exposedPorts(config), exposedPorts(defaults));
  assert.equal(env['WSGATE_HOST'], '0.0.0.0');
});

test('container ports and the Service target are the listener ports; the probes ask the admin API', () => {
  const { config, container, all } = setup();
  const listenerPorts = exposedPorts(config);
  const admin = config.inspector;
  assert.ok(admin !== undefined, 'the ConfigMap config has an admin listener for the probes');
  assert.ok(!isLoopbackHost(admin.bind.host), 'the kubelet reaches the admin listener on the pod address');
  assert.ok(admin.token !== undefined, 'an admin listener beyond loopback has a token');
  const containerPorts = (container.ports ?? []).map((p) => p.containerPort).sort((a, b) => a - b);
  assert.deepEqual(
    containerPorts,
    [...listenerPorts, admin.bind.port].sort((a, b) => a - b),
  );
  // The image says the same (EXPOSE and its HEALTHCHECK).
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  for (const port of listenerPorts) assert.match(dockerfile, new RegExp(`EXPOSE[^\\n]*\\b${port}\\b`));

  const paths = { startupProbe: '/readyz', readinessProbe: '/readyz', livenessProbe: '/healthz' } as const;
  for (const kind of ['startupProbe', 'readinessProbe', 'livenessProbe'] as const) {
    const probe = container[kind]?.httpGet;
    assert.ok(probe, `${kind} is an HTTP check`);
    assert.equal(probe.path, paths[kind]);
    assert.equal(resolvePort(container, probe.port), admin.bind.port, `${kind} asks the admin listener`);
    // The admin API refuses a Host that is not one of its own names (ownHostNames): the pod IP would get 403.
    const host = probe.httpHeaders?.find((h) => h.name.toLowerCase() === 'host')?.value;
    assert.ok(host !== undefined, `${kind} sends a Host header`);
    assert.ok(ownHostNames(admin.bind.host, admin.bind.port).has(host.toLowerCase()), `${kind} Host ${host}`);
  }

  const service = one(all, 'Service');
  const ports = (service.spec as { ports: { targetPort: number | string }[] }).ports;
  assert.ok(ports.length > 0);
  for (const p of ports) {
    const port = resolvePort(container, p.targetPort);
    assert.ok(port !== undefined && listenerPorts.includes(port), `Service targets a listener port (${p.targetPort})`);
  }
  // The image: its health check asks the default config's admin listener, which stays on loopback in there.
  assert.match(dockerfile, /HEALTHCHECK[^\n]*\n?[^\n]*127\.0\.0\.1:9090\/healthz/);
});

test('the Service and the PodDisruptionBudget select the pods; the config is mounted where the args read it', () => {
  const { spec, pod, container, all, configMap } = setup();
  const labels = spec.template.metadata.labels;
  const matches = (selector: Record<string, string>) =>
    Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
  assert.ok(matches(spec.selector.matchLabels), 'Deployment selector');
  assert.ok(matches((one(all, 'Service').spec as { selector: Record<string, string> }).selector), 'Service selector');
  const pdb = one(all, 'PodDisruptionBudget').spec as { selector: { matchLabels: Record<string, string> } };
  assert.ok(matches(pdb.selector.matchLabels), 'PodDisruptionBudget selector');

  const args = container.args ?? [];
  const file = args[args.indexOf('-c') + 1];
  assert.ok(args.includes('-c') && file !== undefined, 'args name the config file');
  const volume = pod.volumes?.find((v) => v.configMap?.name === configMap.metadata.name);
  assert.ok(volume, 'the ConfigMap is a volume');
  const mount = container.volumeMounts?.find((m) => m.name === volume.name);
  assert.ok(mount, 'the ConfigMap volume is mounted');
  assert.equal(mount.subPath, undefined, 'a directory mount, so edits reach the pod and are reloaded');
  assert.equal(file, `${mount.mountPath}/wsgate.yaml`);
});

test('terminationGracePeriodSeconds covers the preStop sleep and shutdown.grace', async () => {
  const { pod, container, config, env } = setup();
  const preStop = container.lifecycle?.preStop;
  const command = preStop?.exec?.command ?? [];
  const sleepSeconds = preStop?.sleep?.seconds ?? (command.at(-2)?.endsWith('sleep') ? Number(command.at(-1)) : NaN);
  assert.ok(sleepSeconds > 0, 'a preStop sleep lets endpoints drain before SIGTERM');
  const grace = pod.terminationGracePeriodSeconds;
  assert.ok(grace !== undefined);
  const defaults = await loadConfigFile(join(ROOT, 'config/wsgate.yaml'), { WSGATE_HOST: env['WSGATE_HOST'] ?? '' });
  for (const c of [config, defaults]) {
    assert.ok(
      grace >= sleepSeconds + c.shutdown.grace / 1000,
      `terminationGracePeriodSeconds ${grace} ≥ preStop ${sleepSeconds} s + shutdown.grace ${c.shutdown.grace / 1000} s`,
    );
  }
});

test('the pod runs as non-root with a read-only root filesystem and bounded memory', () => {
  const { pod, container } = setup();
  assert.equal(pod.securityContext?.runAsNonRoot, true);
  assert.equal(container.securityContext?.readOnlyRootFilesystem, true);
  assert.equal(container.securityContext?.allowPrivilegeEscalation, false);
  assert.ok(container.resources?.requests?.['cpu'] && container.resources.requests['memory']);
  assert.ok(container.resources?.limits?.['memory']);
});
