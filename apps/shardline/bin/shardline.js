#!/usr/bin/env node
// The `shardline` command as npm links it (node_modules/.bin/shardline). Checked in, not built:
// npm links a workspace's bin during `npm ci`, before `npm run build` has written dist/cli.js,
// and silently skips a bin whose file does not exist yet. This file always exists and loads
// the build when it runs. It runs in the node process npm's link starts (no shell, no npm in
// between), so SIGTERM reaches the worker itself.
try {
  const { runCli } = await import('../dist/cli.js');
  runCli(process.argv.slice(2));
} catch (err) {
  if (err?.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli.js')) {
    process.stderr.write('shardline: not built yet: run `npm run build` at the repository root first\n');
    process.exitCode = 2;
  } else {
    throw err;
  }
}
