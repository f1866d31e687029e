import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '@shardline/core';
import { startTestBackend } from '../src/index.js';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
// These tests prove the no-Docker path with the real testcontainers library.
const dockerAbsent = !process.env.DOCKER_HOST && !existsSync('/var/run/docker.sock');

describe('test backends', { timeout: 120_000 }, () => {
  it.skipIf(!dockerAbsent)(
    'container backend without Docker: a one-line ConfigError that says what to do',
    async () => {
      const started = startTestBackend({ backend: 'container' });
      await expect(started).rejects.toBeInstanceOf(ConfigError);
      await expect(started).rejects.toThrow(
        /^SHARDLINE_TEST_BACKEND=container needs a running Docker engine \(testcontainers: Could not find a working container runtime strategy\); start Docker, or unset SHARDLINE_TEST_BACKEND/,
      );
    },
  );

  it('external endpoint: nothing is started, controls only when a control URL is given', async () => {
    const plain = await startTestBackend({ endpoint: 'http://127.0.0.1:1' });
    expect(plain).toMatchObject({ kind: 'external', endpoint: 'http://127.0.0.1:1', startupMs: 0 });
    expect(plain.controlUrl).toBeUndefined();
    await plain.stop();
    const withControls = await startTestBackend({ endpoint: 'http://127.0.0.1:1', controlUrl: 'http://127.0.0.1:2' });
    expect(withControls.controlUrl).toBe('http://127.0.0.1:2');
  });

  it('an unknown backend name is a ConfigError naming the choices', async () => {
    await expect(startTestBackend({ backend: 'podman' })).rejects.toThrow(
      /SHARDLINE_TEST_BACKEND=podman is not a backend: use embedded \(the default\) or container/,
    );
  });

  it.skipIf(!dockerAbsent)(
    'the Vitest global setup turns the missing Docker engine into one line and exit code 2',
    async () => {
      const env: NodeJS.ProcessEnv = { ...process.env, SHARDLINE_TEST_BACKEND: 'container' };
      delete env.SHARDLINE_TEST_ENDPOINT;
      delete env.SHARDLINE_TEST_CONTROLS;
      delete env.VITEST;
      delete env.VITEST_WORKER_ID;
      delete env.VITEST_POOL_ID;
      delete env.NODE_OPTIONS;
      const child = spawn(
        process.execPath,
        ['node_modules/vitest/vitest.mjs', 'run', 'packages/testkit/test/leak-guard.test.ts'],
        { cwd: repoRoot, env },
      );
      let stderr = '';
      child.stdout.resume();
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const code = await new Promise((resolve) => child.once('close', resolve));
      expect(code).toBe(2);
      const lines = stderr.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('npm warn'));
      expect(lines).toEqual([
        expect.stringMatching(/^shardline tests: SHARDLINE_TEST_BACKEND=container needs a running Docker engine/),
      ]);
    },
  );
});
