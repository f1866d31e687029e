import { describe, expect, it } from 'vitest';
import { commanderErrorLine } from '../src/cli.js';
import { captureCli } from './capture-cli.js';

describe('bad command lines', () => {
  it('commander’s message becomes one shardline line pointing at --help', () => {
    expect(commanderErrorLine("error: unknown option '--tabel'\n(Did you mean --table?)\n")).toBe(
      "shardline: unknown option '--tabel' (did you mean --table?); see --help\n",
    );
    expect(commanderErrorLine("error: too many arguments for 'status'. Expected 0 arguments but got 1.\n")).toBe(
      "shardline: too many arguments for 'status'. Expected 0 arguments but got 1; see --help\n",
    );
  });

  it.for<[string[], string]>([
    [['run', '--bogus'], "unknown option '--bogus'"],
    [['run', '--tabel', 'x'], "unknown option '--tabel' (did you mean --table?)"],
    [['local', '--port'], "option '--port <port>' argument missing"],
    [['reset', '--app'], "option '--app <name>' argument missing"],
    [['simulate'], "required option '--port <port>' not specified"],
    [['bogus'], "unknown command 'bogus'"],
  ])('%j: exactly one line on stderr, nothing on stdout, exit 2', async ([argv, message]) => {
    const result = await captureCli(argv);
    expect(result).toEqual({ code: 2, stdout: '', stderr: `shardline: ${message}; see --help\n` });
  });

  it('--help and --version still print to stdout and exit 0', async () => {
    const help = await captureCli(['local', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: shardline local/);
    expect(await captureCli(['--version'])).toEqual({ code: 0, stdout: '0.1.0\n', stderr: '' });
  });
});
