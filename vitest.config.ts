import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// One DynamoDB Local for the whole run (globalSetup); each test file gets its own
// database inside it through a fresh access key (see @shardline/testkit useDynamoDB()).
// Workspace packages resolve to their TypeScript sources, so tests never run stale builds.
const packages = ['core', 'streams', 'leases', 'worker', 'testkit'];
const alias = Object.fromEntries(
  packages.map((name) => [
    `@shardline/${name}`,
    fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url)),
  ]),
);

export default defineConfig({
  resolve: { alias },
  test: {
    globalSetup: ['./vitest.global-setup.ts'],
    setupFiles: ['./vitest.setup.ts'],
    include: ['packages/*/test/**/*.test.ts', 'apps/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default', './scripts/summary-reporter.ts'],
    pool: 'forks',
    // Two cores: two files at a time keeps the shared DynamoDB Local responsive.
    maxWorkers: 2,
    // The SDK's Node 20 end-of-support notice is true but noise in every test process.
    env: { SHARDLINE_LOG_LEVEL: 'silent', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
