#!/usr/bin/env node
// Runs every benchmark script in turn (each prints its own numbers and ratios and writes its
// figures as JSON), then renders the figures as SVG charts in bench-report/.
// Benchmarks are not tests: nothing here fails because a machine is slow.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { reportDir } from './bench-figures.mjs';
import { writeReport } from './bench-report.mjs';

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
// The figures each bench wrote (bench-report/figures/*.json) as SVG charts and a README.
const written = writeReport();
console.log(`\n== bench report: ${written.length} chart(s) in ${reportDir()} (README.md shows them)`);
process.exitCode = failed === 0 ? 0 : 1;
