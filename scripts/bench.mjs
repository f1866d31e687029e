#!/usr/bin/env node
// Runs every benchmark script in turn (each prints its own numbers and ratios).
// Benchmarks are not tests: nothing here fails because a machine is slow.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const benches = ['bench-simulator.mjs', 'bench-reader.mjs', 'bench-leases.mjs', 'bench-e2e.mjs', 'bench-scale.mjs'];
let failed = 0;
for (const name of benches) {
  const path = fileURLToPath(new URL(`./${name}`, import.meta.url));
  if (!existsSync(path)) {
    console.log(`\n== ${name}: missing, skipped`);
    continue;
  }
  console.log(`\n== ${name}`);
  const run = spawnSync(process.execPath, [path], {
    stdio: 'inherit',
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  });
  if (run.status !== 0) {
    failed++;
    console.log(`== ${name} exited with ${run.status ?? run.signal}`);
  }
}
process.exitCode = failed === 0 ? 0 : 1;
