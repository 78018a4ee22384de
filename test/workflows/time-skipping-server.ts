/**
 * Finds Temporal's time-skipping test server (the Java SDK's `TestServer`, a separate binary from
 * the CLI's dev server) through the one locator of tools/dev/binaries.ts, in this order:
 *   1. TEMPORAL_TEST_SERVER_PATH (an executable that takes the port as its first argument);
 *   2. `temporal-test-server` on PATH;
 *   3. the per-user cache `$XDG_CACHE_HOME/checkout-saga/bin/temporal-test-server`;
 *   4. the SDK's official download (@temporalio/testing fetches a native build from
 *      temporal.download) where the internet is reachable;
 *   5. Maven Central: `io.temporal:temporal-test-server` with its runtime dependencies, through
 *      `mvn` (which honours the machine's own Maven settings), the jar's sha256 checked against
 *      the pin below; installed as a small launcher script in the cache that runs it on Java 17+.
 *
 * `TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path } } })`
 * runs what this returns as `<path> <port>`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  findOnPath,
  isExecutableFile,
  locateBinary,
  runQuietly,
  sha256File,
  StepSkipped,
  type BinarySpec,
  type BinaryStep,
} from '../../tools/dev/binaries';

/** The Java SDK release the test server comes from (its own release train; runs on Java 17). */
export const TEST_SERVER_VERSION = '1.31.0';
export const TEST_SERVER_ARTIFACT = `io.temporal:temporal-test-server:${TEST_SERVER_VERSION}`;
/** sha256 of temporal-test-server-1.31.0.jar as this project first took it from Maven Central. */
export const TEST_SERVER_JAR_SHA256 = 'c33eafa1f50af5df595f37a3c2ad8d6858a9e510034fd6c92d5bcff88cbfdcaa';
const MAIN_CLASS = 'io.temporal.testserver.TestServer';

export const OFFICIAL_DOWNLOAD = 'official download';
export const MAVEN_CENTRAL = `Maven Central ${TEST_SERVER_ARTIFACT}`;

/** Lets @temporalio/testing download its native test server into `dir`, then returns it. */
async function downloadWithSdk(dir: string, log: (m: string) => void): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  log(`@temporalio/testing downloads the test server from temporal.download into ${dir}`);
  const env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'cached-download', downloadDir: dir } } });
  await env.teardown();
  const found = fs
    .readdirSync(dir)
    .map((f) => path.join(dir, f))
    .filter((f) => path.basename(f).startsWith('temporal-test-server') && isExecutableFile(f))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
  if (!found) throw new Error(`the download finished but no temporal-test-server executable is in ${dir}`);
  return found;
}

const officialDownload: BinaryStep = {
  name: OFFICIAL_DOWNLOAD,
  run: ({ binDir, log }) => downloadWithSdk(path.join(path.dirname(binDir), 'download'), log),
};

/**
 * The jar and its runtime dependencies from Maven Central into `<cache>/lib/temporal-test-server-<v>/`,
 * then a launcher `<cache>/bin/temporal-test-server` (`exec java -cp 'lib/*' TestServer "$@"`).
 */
const mavenCentral: BinaryStep = {
  name: MAVEN_CENTRAL,
  async run({ binDir, target, env, log }) {
    const mvn = findOnPath('mvn', env);
    if (!mvn) throw new StepSkipped('no `mvn` on PATH — install Maven (and a Java 17+ runtime)');
    const java = env.JAVA_HOME && isExecutableFile(path.join(env.JAVA_HOME, 'bin', 'java')) ? path.join(env.JAVA_HOME, 'bin', 'java') : findOnPath('java', env);
    if (!java) throw new StepSkipped('no `java` on PATH (nor in JAVA_HOME) — install a Java 17+ runtime');
    const libDir = path.join(path.dirname(binDir), 'lib', `temporal-test-server-${TEST_SERVER_VERSION}`);
    const work = `${libDir}.partial`;
    fs.rmSync(work, { recursive: true, force: true });
    fs.mkdirSync(work, { recursive: true });
    try {
      const quiet = ['-q', '-B', '--no-transfer-progress'];
      log(`mvn dependency:get -Dartifact=${TEST_SERVER_ARTIFACT}`);
      await runQuietly('mvn dependency:get', mvn, [...quiet, 'dependency:get', `-Dartifact=${TEST_SERVER_ARTIFACT}`, '-Dtransitive=true'], env);
      log(`mvn dependency:copy (the jar) and dependency:copy-dependencies (runtime scope) into ${libDir}`);
      await runQuietly('mvn dependency:copy', mvn, [...quiet, 'dependency:copy', `-Dartifact=${TEST_SERVER_ARTIFACT}`, `-DoutputDirectory=${work}`], env);
      const jar = path.join(work, `temporal-test-server-${TEST_SERVER_VERSION}.jar`);
      const actual = await sha256File(jar);
      if (actual !== TEST_SERVER_JAR_SHA256) {
        throw new Error(
          `REFUSED: sha256 of ${path.basename(jar)} is ${actual}, the pinned value is ${TEST_SERVER_JAR_SHA256}. ` +
            'The jar is not the one this project was checked against; nothing was installed.',
        );
      }
      // The artifact's own pom lists its dependencies; copy-dependencies on it copies them.
      const pom = path.join(work, 'temporal-test-server.pom');
      await runQuietly('mvn dependency:copy (the pom)', mvn, [
        ...quiet,
        'dependency:copy',
        `-Dartifact=io.temporal:temporal-test-server:${TEST_SERVER_VERSION}:pom`,
        `-DoutputDirectory=${work}`,
      ], env);
      fs.renameSync(path.join(work, `temporal-test-server-${TEST_SERVER_VERSION}.pom`), pom);
      await runQuietly('mvn dependency:copy-dependencies', mvn, [
        ...quiet,
        '-f',
        pom,
        'dependency:copy-dependencies',
        '-DincludeScope=runtime',
        `-DoutputDirectory=${work}`,
      ], env);
      fs.rmSync(pom);
      fs.rmSync(libDir, { recursive: true, force: true });
      fs.renameSync(work, libDir);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
    fs.mkdirSync(binDir, { recursive: true });
    const launcher = [
      '#!/bin/sh',
      `# Temporal's time-skipping test server ${TEST_SERVER_VERSION} (Maven Central), installed by test/workflows/time-skipping-server.ts.`,
      '# Usage: temporal-test-server <port>',
      `JAVA=${shellQuote(java)}`,
      '[ -x "$JAVA" ] || JAVA=java',
      `exec "$JAVA" -cp ${shellQuote(`${libDir}/*`)} ${MAIN_CLASS} "$@"`,
      '',
    ].join('\n');
    fs.writeFileSync(`${target}.tmp`, launcher, { mode: 0o755 });
    fs.renameSync(`${target}.tmp`, target);
    log(`sha256 matches the pin; installed ${target} (runs ${MAIN_CLASS} from ${libDir} on ${java})`);
    return target;
  },
};

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export const TEMPORAL_TEST_SERVER: BinarySpec = {
  name: 'temporal-test-server',
  title: 'Temporal time-skipping test server',
  pathVariable: 'TEMPORAL_TEST_SERVER_PATH',
  installHint: 'put a Temporal test server (a native build, or a launcher of the Java one) on PATH',
  steps: [officialDownload, mavenCentral],
};

export interface TestServerOptions {
  env?: NodeJS.ProcessEnv;
  /** Step names (OFFICIAL_DOWNLOAD, MAVEN_CENTRAL) not to run. */
  skip?: readonly string[];
  log?: (message: string) => void;
}

export function locateTestServer(opts: TestServerOptions = {}): Promise<string> {
  const env = opts.env ?? process.env;
  return locateBinary(TEMPORAL_TEST_SERVER, { explicitPath: env.TEMPORAL_TEST_SERVER_PATH || undefined, env, skip: opts.skip, log: opts.log });
}

/**
 * The time-skipping environment on the test server at `path`. The SDK gives a server 5 s to
 * listen; a JVM on a loaded 2-core CI machine can take longer (it listens in about 1 s on a quiet
 * one), so a start that only ran out of that time is tried again, a few times.
 */
export async function createTimeSkippingEnv(path: string, attempts = 4): Promise<TestWorkflowEnvironment> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path } } });
    } catch (err) {
      if (attempt >= attempts || !/did not start within/.test(String(err))) throw err;
      process.stderr.write(`[test-server] not listening within the SDK's 5 s (attempt ${attempt} of ${attempts}); starting it again\n`);
    }
  }
}
