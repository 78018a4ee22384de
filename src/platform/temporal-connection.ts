/**
 * Connecting the worker and the API to Temporal with the options of config.temporal.connection
 * (Temporal's environment configuration). A connection that fails (wrong address, a TLS
 * handshake against the wrong CA, a rejected API key) fails the process at start with one
 * message that says where it tried to connect, how, and which settings to check; secrets are
 * never printed.
 */
import { Connection } from '@temporalio/client';
import type { Config } from './config';

export class TemporalConnectionError extends Error {
  override name = 'TemporalConnectionError';
}

/** "host:7233 (namespace default, TLS with CA file /x, server name y, API key set)": safe to log. */
export function describeTemporalConnection(config: Config, env: NodeJS.ProcessEnv = process.env): string {
  const { address, tls, apiKey } = config.temporal.connection;
  const parts = [`namespace ${config.temporal.namespace}`];
  if (!tls) parts.push('no TLS');
  else {
    const ca = env.TEMPORAL_TLS_SERVER_CA_CERT_PATH ? ` with CA file ${env.TEMPORAL_TLS_SERVER_CA_CERT_PATH}` : tls === true ? ' with the system CAs' : '';
    const name = tls !== true && tls.serverNameOverride ? `, server name ${tls.serverNameOverride}` : '';
    const clientCert = tls !== true && tls.clientCertPair ? ', client certificate' : '';
    parts.push(`TLS${ca}${name}${clientCert}`);
  }
  if (apiKey) parts.push('API key set');
  return `${address} (${parts.join(', ')})`;
}

/** The error to fail a process with when connecting as configured failed. */
export function temporalConnectionFailure(config: Config, err: unknown): TemporalConnectionError {
  return new TemporalConnectionError(
    `cannot connect to Temporal at ${describeTemporalConnection(config)}: ${(err as Error).message}. ` +
      'Check TEMPORAL_ADDRESS, and for TLS TEMPORAL_TLS_SERVER_CA_CERT_PATH / TEMPORAL_TLS_SERVER_NAME / TEMPORAL_TLS_CLIENT_*; ' +
      'for Temporal Cloud TEMPORAL_API_KEY (or a TEMPORAL_PROFILE in TEMPORAL_CONFIG_FILE).',
  );
}

/** A client connection (the API, the setup step); the worker connects natively with the same options and error. */
export async function connectClient(config: Config): Promise<Connection> {
  try {
    return await Connection.connect(config.temporal.connection);
  } catch (err) {
    throw temporalConnectionFailure(config, err);
  }
}
