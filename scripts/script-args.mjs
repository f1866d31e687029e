// Strict parsing of the scripts' own settings (flags and environment variables): a bad value is
// one line on stderr and exit 2, before anything is started, as the CLI does for its flags.

/** Thrown for a bad setting; `exitOnUsageError` prints it. */
export class ScriptUsageError extends Error {}

/** A number > 0 (`text` as given; undefined gives `fallback`). `Number('')` and `Number('10 s')` are refused. */
export function positiveNumber(name, text, fallback) {
  if (text === undefined) return fallback;
  const value = /^\s*\d+(\.\d+)?\s*$/.test(text) ? Number(text) : Number.NaN;
  if (!(value > 0)) throw new ScriptUsageError(`${name} must be a number above 0, got "${text}"`);
  return value;
}

/** Each of `names` (comma-separated `text`), checked against `allowed`; undefined gives `allowed`. */
export function namesFrom(name, text, allowed) {
  if (text === undefined) return [...allowed];
  const names = text.split(',').map((n) => n.trim());
  const unknown = names.filter((n) => !allowed.includes(n));
  if (unknown.length > 0 || names.length === 0)
    throw new ScriptUsageError(`${name}: unknown ${unknown.join(', ') || '(empty)'}; one of ${allowed.join(', ')}`);
  return names;
}

/** The value after `--flag` in argv, or undefined; a flag given without a value is refused. */
export function flagValue(argv, flag) {
  const at = argv.indexOf(flag);
  if (at < 0) return undefined;
  const value = argv[at + 1];
  if (value === undefined || value.startsWith('--')) throw new ScriptUsageError(`${flag} needs a value`);
  return value;
}

/** Runs `parse`; a ScriptUsageError becomes `<script>: <message>` and exit 2. */
export function parseOrExit(script, parse) {
  try {
    return parse();
  } catch (err) {
    if (!(err instanceof ScriptUsageError)) throw err;
    process.stderr.write(`${script}: ${err.message}\n`);
    process.exit(2);
  }
}

/** Refuses an argument that is none of `flags` (each taking one value) nor such a flag's value; `hint` says what is taken. */
export function onlyFlags(argv, flags, hint) {
  for (let i = 0; i < argv.length; i++) {
    if (!flags.includes(argv[i])) throw new ScriptUsageError(`unknown argument "${argv[i]}"; ${hint}`);
    i++;
  }
}
