/**
 * docker-compose.yml and the Dockerfile stay in step with the topology that is tested without
 * Docker (`npm run start:cluster`: tools/dev/processes.ts clusterProcesses and tools/dev/cluster/):
 * every process there is a compose service (replicas as `deploy.replicas`) and back, every
 * variable compose gives the project's image is one the config loader reads, the entry points are
 * the build output of the same files, the Temporal images are the versions the cluster builds,
 * only the API and the loopback Web UI are published, and the secrets have no fallback.
 * (No Docker here: this checks the files, the topology itself is tested by test/infra/cluster.test.ts.)
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { DEFAULT_PORTS, loadConfig, type Config } from '../../src/platform/config';
import { TEMPORAL_SERVER_VERSION, TEMPORAL_UI_VERSION } from '../../tools/dev/cluster/binaries';
import { TEMPORAL_SERVICES } from '../../tools/dev/cluster/temporal-cluster';
import { clusterProcesses, ROOT, type ProcessSpec } from '../../tools/dev/processes';

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string | number>;
  ports?: string[];
  healthcheck?: { test?: string[] };
  deploy?: { replicas?: number };
  depends_on?: Record<string, { condition: string }>;
}

const composeText = fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8');
const services = (parse(composeText, { merge: true }) as { services: Record<string, ComposeService> }).services;

const config = loadConfig({});
const cluster = clusterProcesses(config);
/** `worker-2` → `worker`: a replica is one more of the same compose service. */
const serviceOf = (name: string) => name.replace(/-\d+$/, '');
/** The Temporal side of start:cluster (tools/dev/start.ts): its Postgres, four services and the Web UI. */
const CLUSTER_INFRA = ['postgres', 'temporal-postgres', ...TEMPORAL_SERVICES.map((s) => `temporal-${s}`), 'temporal-ui'];
/** One-shot steps, which start:cluster runs inside the supervisor (schemas; src/temporal-setup). */
const SETUP_STEPS = ['temporal-schema', 'temporal-setup'];
/** Services built from this repository's Dockerfile. */
const appServices = Object.entries(services).filter(([, s]) => s.build !== undefined);

/**
 * Every variable src/platform/config.ts reads: the ones it reads for an empty environment (a
 * recording proxy: every port, bind and database variable, whatever depends on nothing else),
 * the `env.NAME` it reads only in some branches, and Temporal's own (TEMPORAL_ADDRESS, TEMPORAL_TLS_*,
 * …), which it hands to @temporalio/envconfig.
 */
function configEnvNames(): Set<string> {
  const names = new Set<string>();
  const recorder = new Proxy({} as NodeJS.ProcessEnv, {
    get(_target, key) {
      if (typeof key === 'string') names.add(key);
      return undefined;
    },
  });
  loadConfig(recorder);
  const source = fs.readFileSync(path.join(ROOT, 'src', 'platform', 'config.ts'), 'utf8');
  for (const [, name] of source.matchAll(/\benv\.([A-Z][A-Z0-9_]*)/g)) names.add(name!);
  const envconfig = path.dirname(require.resolve('@temporalio/envconfig'));
  for (const file of fs.readdirSync(envconfig).filter((f) => f.endsWith('.js'))) {
    for (const [name] of fs.readFileSync(path.join(envconfig, file), 'utf8').matchAll(/\bTEMPORAL_[A-Z0-9_]*[A-Z0-9]\b/g)) names.add(name);
  }
  return names;
}

test('every process of start:cluster is a compose service, with as many replicas, and every compose service is one of them', () => {
  const replicas = new Map<string, number>();
  for (const p of cluster) replicas.set(serviceOf(p.name), (replicas.get(serviceOf(p.name)) ?? 0) + 1);
  expect(replicas.get('worker')).toBe(2);
  expect(replicas.get('api')).toBe(2);
  for (const [name, count] of replicas) {
    expect([name, services[name] !== undefined]).toEqual([name, true]);
    expect([name, services[name]!.deploy?.replicas ?? 1]).toEqual([name, count]);
  }
  for (const name of CLUSTER_INFRA) expect([name, services[name] !== undefined]).toEqual([name, true]);
  const known = new Set([...replicas.keys(), ...CLUSTER_INFRA, ...SETUP_STEPS]);
  expect(Object.keys(services).filter((s) => !known.has(s))).toEqual([]);
});

test('each process runs the build output of the entry start:cluster runs (node dist/…js, no tsx)', () => {
  const entries = new Map<string, string>();
  for (const p of cluster) entries.set(serviceOf(p.name), p.entry);
  entries.set('temporal-setup', 'src/temporal-setup/main.ts');
  for (const [name, service] of appServices) {
    const entry = entries.get(name);
    expect([name, entry?.startsWith('src/')]).toEqual([name, true]);
    expect([name, service.command]).toEqual([name, ['node', entry!.replace(/^src\//, 'dist/').replace(/\.ts$/, '.js')]]);
    expect(fs.existsSync(path.join(ROOT, entry!))).toBe(true);
  }
  // The mailbox is development tooling (tools/dev/mailbox), not in the image: a mail catcher image stands in.
  expect(entries.get('mailbox')).toMatch(/^tools\//);
  expect(services.mailbox!.build).toBeUndefined();
  expect(services.mailbox!.image).toMatch(/mailpit/);
});

test('every variable compose sets for the image is one the config loader reads, and the derived URLs match its default ports', () => {
  const known = configEnvNames();
  // The recorder sees the variables of every listener and database, and the envconfig ones.
  for (const name of ['API_PORT', 'PAYMENT_HOST', 'CHECKOUT_DATABASE_URL', 'TEMPORAL_ADDRESS', 'TEMPORAL_API_KEY', 'TEMPORAL_TLS_SERVER_CA_CERT_PATH', 'SERVICE_TOKEN']) {
    expect([name, known.has(name)]).toEqual([name, true]);
  }
  expect(known.has('POSTGRES_SEEDS')).toBe(false);
  const unknown: string[] = [];
  for (const [name, service] of appServices) {
    for (const key of Object.keys(service.environment ?? {})) if (!known.has(key)) unknown.push(`${name}: ${key}`);
  }
  for (const spec of cluster) for (const key of Object.keys(spec.env ?? {})) if (!known.has(key)) unknown.push(`${spec.name} (clusterProcesses): ${key}`);
  expect(unknown).toEqual([]);

  const env = services.api!.environment!;
  const portOf = (url: string | number) => Number(new URL(String(url)).port);
  expect(portOf(env.PAYMENT_URL!)).toBe(DEFAULT_PORTS.payment);
  expect(portOf(env.ORDER_URL!)).toBe(DEFAULT_PORTS.order);
  expect(portOf(env.NOTIFICATION_URL!)).toBe(DEFAULT_PORTS.notification);
  expect(String(env.TEMPORAL_ADDRESS)).toBe(`temporal-frontend:${DEFAULT_PORTS.temporal}`);
  expect(String(env.DATABASE_URL)).toMatch(/@postgres:5432\/postgres$/);
  expect(new URL(String(env.SMTP_URL)).hostname).toBe('mailbox');
  // Every listener that must be reached from another container binds all interfaces there.
  for (const name of ['api', 'payment', 'order', 'notification']) {
    const bind = name === 'api' ? 'API_HOST' : `${name.toUpperCase()}_HOST`;
    expect([name, services[name]!.environment![bind]]).toEqual([name, '0.0.0.0']);
  }
});

test('SERVICE_TOKEN and API_KEYS have no fallback: compose refuses to start without them', () => {
  for (const [name, service] of appServices) {
    const env = service.environment!; // as written: the parser does not interpolate
    expect([name, String(env.SERVICE_TOKEN)]).toEqual([name, expect.stringMatching(/^\$\{SERVICE_TOKEN:\?[^}]+\}$/)]);
    expect([name, String(env.API_KEYS)]).toEqual([name, expect.stringMatching(/^\$\{API_KEYS:\?[^}]+\}$/)]);
    expect(service.environment!.NODE_ENV).toBe('production');
  }
  expect(composeText).not.toMatch(/\$\{(SERVICE_TOKEN|API_KEYS|POSTGRES_PASSWORD):?-/);
});

test('only the checkout API is published, and the Web UI on loopback', () => {
  const published = Object.entries(services).filter(([, s]) => s.ports?.length).map(([n]) => n).sort();
  expect(published).toEqual(['api', 'temporal-ui']);
  expect(services['temporal-ui']!.ports!.every((p) => p.startsWith('127.0.0.1:'))).toBe(true);
  // One host port per API replica.
  const [range] = services.api!.ports![0]!.split(':');
  const [from, to] = range!.split('-').map(Number);
  expect(to! - from! + 1).toBe(services.api!.deploy!.replicas);
});

test('health checks mean ready: /healthz on the port each HTTP process listens on; dependants wait for it and for the setup step', () => {
  const withPort = cluster.filter((p): p is ProcessSpec & { port: keyof Config['ports'] } => p.port !== undefined && !p.entry.startsWith('tools/'));
  for (const spec of withPort) {
    const name = serviceOf(spec.name);
    const test_ = services[name]!.healthcheck?.test?.join(' ') ?? '';
    // A replica runs the same container on the same port (start:cluster moves api-2 by API_PORT).
    const port = DEFAULT_PORTS[spec.port];
    expect([name, test_]).toEqual([name, expect.stringContaining(`127.0.0.1:${port}/healthz`)]);
  }
  for (const name of ['worker', 'api', 'temporal-ui']) {
    expect([name, services[name]!.depends_on?.['temporal-setup']?.condition]).toEqual([name, 'service_completed_successfully']);
  }
  for (const name of ['payment', 'order', 'notification']) expect(services.worker!.depends_on?.[name]?.condition).toBe('service_healthy');
  expect(services['temporal-frontend']!.depends_on?.['temporal-schema']?.condition).toBe('service_completed_successfully');
  expect(services['temporal-setup']!.command).toEqual(['node', 'dist/temporal-setup/main.js']);
});

test('Temporal from the official images, at the versions start:cluster builds; the schema step runs the SQL tool as the cluster does', () => {
  const server = TEMPORAL_SERVER_VERSION.replace(/^v/, '');
  for (const s of TEMPORAL_SERVICES) {
    expect(services[`temporal-${s}`]!.image).toBe(`temporalio/server:${server}`);
    expect(services[`temporal-${s}`]!.environment!.SERVICES).toBe(s);
  }
  expect(services['temporal-schema']!.image).toBe(`temporalio/admin-tools:${server}`);
  expect(services['temporal-ui']!.image).toBe(`temporalio/ui:${TEMPORAL_UI_VERSION.replace(/^v/, '')}`);
  expect(composeText).not.toMatch(/auto-setup/);
  const script = services['temporal-schema']!.command!.join('\n');
  for (const schema of ['postgresql/v12/temporal', 'postgresql/v12/visibility']) expect(script).toContain(schema);
  expect(script).toMatch(/setup-schema -v 0\.0/);
  expect(script).toMatch(/update-schema --schema-name/);
});

test('the Dockerfile is multi-stage and runs node on the build output as a non-root user', () => {
  const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  const stages = dockerfile.split(/^FROM /m).slice(1);
  expect(stages).toHaveLength(2);
  const [build, runtime] = stages as [string, string];
  expect(build).toMatch(/RUN npm ci\b/);
  expect(build).toMatch(/RUN npm run build\b/);
  expect(runtime).toMatch(/RUN npm ci --omit=dev\b/);
  expect(runtime).toMatch(/COPY --from=build \/app\/dist \.\/dist/);
  expect(runtime).not.toMatch(/^COPY (\.|src)\b/m);
  expect(runtime).toMatch(/^USER node$/m);
  expect(runtime).toMatch(/^CMD \["node", "dist\/[^"]+\.js"\]$/m);
  expect(dockerfile).not.toMatch(/tsx/);
  const dockerignore = fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n');
  expect(dockerignore).toEqual(expect.arrayContaining(['node_modules', 'dist', 'test', '!tools/build']));
});
