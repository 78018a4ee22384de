/**
 * TLS the Temporal way: a CA and a server certificate made with openssl at test time,
 * `npm run start:cluster` serving the frontend with them (TEMPORAL_CLUSTER_TLS_CERT_PATH/KEY_PATH),
 * and the workers, the API replicas, the setup step and the Web UI connecting with Temporal's own
 * client settings (TEMPORAL_TLS_SERVER_CA_CERT_PATH, TEMPORAL_TLS_SERVER_NAME). A checkout
 * completes over it; a plaintext client is refused; a worker or an API given another CA fails at
 * start, saying where it connected, how, and what to check.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { DEV_API_KEY, loadConfig } from '../../src/platform/config';
import { collectAuditInput } from '../../tools/audit/collect';
import { spawnChild } from '../../tools/dev/child';
import { ROOT } from '../../tools/dev/processes';
import { freePorts } from '../../tools/dev/wait';
import { sampleCheckoutRequest } from '../../tools/support/samples';
import { cachedClusterBinaries, clusterEnv, clusterTest, readState, spawnClusterSupervisor, type ClusterState } from './cluster-support';
import { killEverything, processesOf, READY_LINE, waitForLine, type Supervisor } from './supervisor-support';

jest.setTimeout(600_000);
const run = promisify(execFile);
const SERVER_NAME = 'temporal-frontend.test';

let dataDir: string;
let certs: string;
let supervisor: Supervisor | undefined;
let env: NodeJS.ProcessEnv;
let state: ClusterState;

/** A CA, a server certificate it signs (for SERVER_NAME and 127.0.0.1), and an unrelated CA. */
async function makeCertificates(dir: string): Promise<void> {
  const ssl = (...args: string[]) => run('openssl', args, { cwd: dir });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const ca of ['ca', 'wrong-ca']) {
    await ssl('req', '-x509', ...ec, '-keyout', `${ca}.key`, '-out', `${ca}.pem`, '-days', '2', '-subj', `/CN=checkout-saga ${ca}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  }
  await ssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${SERVER_NAME}`);
  fs.writeFileSync(
    path.join(dir, 'server.ext'),
    `subjectAltName=DNS:${SERVER_NAME},IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`,
  );
  await ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext');
}

beforeAll(async () => {
  if (!cachedClusterBinaries() && !process.env.CI) return; // skipped (clusterTest)
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-tls-test-'));
  certs = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-tls-certs-'));
  await makeCertificates(certs);
  env = await clusterEnv(dataDir, {
    TEMPORAL_CLUSTER_TLS_CERT_PATH: path.join(certs, 'server.pem'),
    TEMPORAL_CLUSTER_TLS_KEY_PATH: path.join(certs, 'server.key'),
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: path.join(certs, 'ca.pem'),
    TEMPORAL_TLS_SERVER_NAME: SERVER_NAME,
  });
  supervisor = spawnClusterSupervisor(env);
  await waitForLine(supervisor, READY_LINE);
  state = readState(dataDir);
}, 600_000);

afterAll(async () => {
  if (supervisor) {
    process.kill(supervisor.child.pid, 'SIGINT');
    await supervisor.child.exited;
  }
  if (dataDir) {
    await killEverything(dataDir);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  if (certs) fs.rmSync(certs, { recursive: true, force: true });
});

const tlsTest = clusterTest();

tlsTest('the frontend serves TLS only; the workers, both API replicas and the Web UI reach it; a checkout completes', async () => {
  // A plaintext client gets no answer from a TLS frontend.
  const plain = Connection.lazy({ address: state.temporalAddress });
  try {
    await expect(plain.withDeadline(Date.now() + 3_000, () => plain.workflowService.getSystemInfo({}))).rejects.toThrow();
  } finally {
    await plain.close();
  }
  const tls = await Connection.connect({
    address: state.temporalAddress,
    tls: { serverRootCACertificate: fs.readFileSync(path.join(certs, 'ca.pem')), serverNameOverride: SERVER_NAME },
  });
  try {
    const { namespaceInfo } = await tls.workflowService.describeNamespace({ namespace: 'default' });
    expect(namespaceInfo?.name).toBe('default');
  } finally {
    await tls.close();
  }

  for (const url of state.apiUrls) {
    const res = await fetch(`${url}/checkouts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${DEV_API_KEY}`, 'idempotency-key': `tls-${url}`, 'content-type': 'application/json', prefer: 'wait=60' },
      body: JSON.stringify(sampleCheckoutRequest()),
    });
    expect([url, res.status, ((await res.json()) as { status: string }).status]).toEqual([url, 201, 'completed']);
  }
  // The UI server's API goes to the frontend over the same TLS.
  const namespaces = await fetch(`${state.temporalUiUrl}/api/v1/namespaces`);
  expect(namespaces.status).toBe(200);
  expect(JSON.stringify(await namespaces.json())).toContain('"default"');
});

/** Runs one process of the system (tsx, as npm start does) against the TLS frontend with `extra`; resolves with its exit and output. */
async function runAgainstCluster(entry: string, extra: Record<string, string>) {
  const child = spawnChild(path.basename(path.dirname(entry)), process.execPath, ['--import', 'tsx', path.join(ROOT, entry)], {
    env: { ...env, TEMPORAL_ADDRESS: state.temporalAddress, DATABASE_URL: `postgres://postgres:postgres@127.0.0.1:${env.POSTGRES_PORT}/postgres`, DATA_DIR: path.join(dataDir, 'other'), ...extra },
    cwd: ROOT,
  });
  const exit = await Promise.race([child.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 60_000))]);
  if (exit === 'running') await child.stop();
  return { exit, output: child.tail().join('\n') };
}

tlsTest('a worker or an API given another CA fails at start with a clear message', async () => {
  const wrongCa = path.join(certs, 'wrong-ca.pem');
  const [metrics, apiPort] = await freePorts(2);
  const expected = `cannot connect to Temporal at ${state.temporalAddress} (namespace default, TLS with CA file ${wrongCa}, server name ${SERVER_NAME})`;
  for (const [entry, extra] of [
    ['src/worker/main.ts', { WORKER_METRICS_PORT: String(metrics) }],
    ['src/services/checkout-api/main.ts', { API_PORT: String(apiPort) }],
  ] as const) {
    const { exit, output } = await runAgainstCluster(entry, { TEMPORAL_TLS_SERVER_CA_CERT_PATH: wrongCa, ...extra });
    expect([entry, exit]).toEqual([entry, { code: 1, signal: null }]);
    expect(output).toContain(expected);
    expect(output).toMatch(/TEMPORAL_TLS_SERVER_CA_CERT_PATH/);
  }
  // Nothing of those two stayed behind.
  expect(processesOf(path.join(dataDir, 'other'))).toEqual([]);
});

tlsTest('the audit reads the runs over the same TLS settings as the worker and the API', async () => {
  const res = await fetch(`${state.apiUrls[0]}/checkouts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${DEV_API_KEY}`, 'idempotency-key': 'tls-audit', 'content-type': 'application/json', prefer: 'wait=60' },
    body: JSON.stringify(sampleCheckoutRequest()),
  });
  const { id } = (await res.json()) as { id: string };
  const input = await collectAuditInput(loadConfig({ ...env, TEMPORAL_ADDRESS: state.temporalAddress }));
  // durationMs comes only from Temporal's describe: an audit that could not connect has none.
  expect(input.checkouts.find((c) => c.id === id)).toMatchObject({ status: 'completed', durationMs: expect.any(Number) });
});
