import { ConfigError } from '@shardline/core';
import type { LambdaDynamoDBRecord } from './event.js';

/**
 * Lambda's event filtering (`FilterCriteria`) applied to the Lambda record, before the handler
 * (https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html). Lambda uses
 * EventBridge's pattern grammar (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html):
 *
 * - a record passes when any filter matches (OR between filters); within a pattern every field
 *   must match (AND), and the values listed for one field are alternatives (OR);
 * - fields are matched as leaves of the record's JSON, the DynamoDB part in its typed form:
 *   `{ "dynamodb": { "NewImage": { "status": { "S": ["done"] } } } }`; a list in the record
 *   matches when any element does;
 * - match values: a string, number or boolean (exact, no case folding), `null` (the field is
 *   JSON null), `""` (the empty string), and the operators `prefix`, `suffix` (each optionally
 *   `{ "equals-ignore-case": … }`), `equals-ignore-case`, `wildcard`, `anything-but` (a value,
 *   a list, or `prefix`/`suffix`/`wildcard`/`equals-ignore-case`), `numeric`, `exists`; and
 *   `$or` (a list of sub-patterns) at any level.
 *
 * The pattern is compiled once, at start-up; what Lambda would refuse to create is refused here
 * with the reason (ConfigError), so nothing silently drops records at run time.
 */

export interface FilterCriteria {
  Filters?: { Pattern?: string }[] | undefined;
}

export interface RecordFilter {
  /** Number of filters (0: every record passes). */
  readonly size: number;
  matches(record: LambdaDynamoDBRecord): boolean;
}

/** The default quota is 5 filters per event source mapping, raisable to 10; no mapping has more. */
export const MAX_FILTERS = 10;
/** `Filter.Pattern` length constraint (https://docs.aws.amazon.com/lambda/latest/api/API_Filter.html). */
export const MAX_PATTERN_LENGTH = 4096;
/** EventBridge's numeric matching range ("between -5.0e9 and +5.0e9 inclusive"). */
const NUMERIC_LIMIT = 5e9;
/** Not a Lambda rule: a bound on `$or` expansion so a 4 KB pattern cannot blow up memory. */
const MAX_ALTERNATIVES = 10_000;

type Leaf = string | number | boolean | null;

type Matcher =
  | { kind: 'equals'; value: Leaf }
  | { kind: 'exists'; value: boolean }
  | { kind: 'prefix' | 'suffix'; value: string; ignoreCase: boolean }
  | { kind: 'equals-ignore-case'; value: string }
  | { kind: 'wildcard'; regex: RegExp }
  | { kind: 'numeric'; test: (n: number) => boolean }
  | { kind: 'anything-but'; not: Matcher[] };

/** One alternative of a pattern after `$or` expansion: every entry must match. */
type Conjunction = { path: string; anyOf: Matcher[] }[];

const SEP = '\u0000';

export function compileFilterCriteria(criteria: FilterCriteria | undefined): RecordFilter {
  const filters = criteria?.Filters;
  if (filters === undefined || filters === null) return { size: 0, matches: () => true };
  if (!Array.isArray(filters)) throw new ConfigError('FilterCriteria.Filters must be a list of { "Pattern": "…" }');
  if (filters.length > MAX_FILTERS)
    throw new ConfigError(
      `FilterCriteria has ${filters.length} filters; Lambda allows ${MAX_FILTERS} per event source mapping at most (5 without a quota increase)`,
    );
  const compiled = filters.map((filter, i) => compilePattern(filter, `FilterCriteria.Filters[${i}].Pattern`));
  return {
    size: compiled.length,
    matches: (record) => {
      if (compiled.length === 0) return true;
      const leaves = flattenRecord(record);
      return compiled.some((alternatives) => alternatives.some((conjunction) => matchesAll(conjunction, leaves)));
    },
  };
}

function compilePattern(filter: unknown, where: string): Conjunction[] {
  const pattern = (filter as { Pattern?: unknown } | null)?.Pattern;
  if (typeof pattern !== 'string') throw new ConfigError(`${where} must be a string of JSON`);
  if (pattern.length > MAX_PATTERN_LENGTH)
    throw new ConfigError(`${where} is ${pattern.length} characters; Lambda allows ${MAX_PATTERN_LENGTH}`);
  let parsed: unknown;
  try {
    // JSON.parse keeps the last of duplicate keys, as Lambda does.
    parsed = JSON.parse(pattern);
  } catch (err) {
    throw new ConfigError(`${where} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!isObject(parsed)) throw new ConfigError(`${where} must be a JSON object`);
  if ('dynamodb' in parsed && !isObject(parsed.dynamodb))
    throw new ConfigError(`${where}: "dynamodb" must be an object (Lambda requires the data pattern in JSON form)`);
  return compileObject(parsed, [], where);
}

function compileObject(pattern: Record<string, unknown>, path: string[], where: string): Conjunction[] {
  let alternatives: Conjunction[] = [[]];
  for (const [key, value] of Object.entries(pattern)) {
    const here = [...path, key];
    let next: Conjunction[];
    if (key === '$or') {
      if (!Array.isArray(value) || value.length === 0 || !value.every(isObject))
        throw new ConfigError(`${where}: "$or" must be a non-empty list of patterns (objects)`);
      next = value.flatMap((branch) => compileObject(branch, path, where));
    } else if (Array.isArray(value)) {
      if (value.length === 0) throw new ConfigError(`${where}: ${show(here)} has an empty list, which matches nothing`);
      next = [[{ path: here.join(SEP), anyOf: value.map((v) => compileMatcher(v, here, where)) }]];
    } else if (isObject(value)) {
      next = compileObject(value, here, where);
    } else {
      throw new ConfigError(
        `${where}: ${show(here)} must be an object or a list of match values, got ${JSON.stringify(value)}`,
      );
    }
    alternatives = alternatives.flatMap((a) => next.map((b) => [...a, ...b]));
    if (alternatives.length > MAX_ALTERNATIVES)
      throw new ConfigError(`${where}: the "$or" combinations expand to more than ${MAX_ALTERNATIVES} alternatives`);
  }
  return alternatives;
}

function compileMatcher(value: unknown, path: string[], where: string): Matcher {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return { kind: 'equals', value };
  if (typeof value === 'number') return { kind: 'equals', value };
  const fail = (reason: string) => new ConfigError(`${where}: ${show(path)}: ${reason}`);
  if (!isObject(value)) throw fail(`a match value must be a string, number, boolean, null or an operator object`);
  const keys = Object.keys(value);
  if (keys.length !== 1) throw fail(`an operator object must have exactly one operator, got ${keys.length}`);
  const op = keys[0]!;
  const arg = value[op];
  switch (op) {
    case 'exists':
      if (typeof arg !== 'boolean') throw fail(`"exists" takes true or false`);
      return { kind: 'exists', value: arg };
    case 'prefix':
    case 'suffix':
      return affix(op, arg, fail);
    case 'equals-ignore-case':
      if (typeof arg !== 'string') throw fail(`"equals-ignore-case" takes a string`);
      return { kind: 'equals-ignore-case', value: arg.toLowerCase() };
    case 'wildcard':
      return wildcard(arg, fail);
    case 'numeric':
      return numeric(arg, fail);
    case 'anything-but':
      return anythingBut(arg, fail);
    default:
      throw fail(`unknown operator ${JSON.stringify(op)}`);
  }
}

type Fail = (reason: string) => ConfigError;

function affix(op: 'prefix' | 'suffix', arg: unknown, fail: Fail): Matcher {
  if (typeof arg === 'string') return { kind: op, value: arg, ignoreCase: false };
  if (isObject(arg) && Object.keys(arg).length === 1 && typeof arg['equals-ignore-case'] === 'string')
    return { kind: op, value: arg['equals-ignore-case'].toLowerCase(), ignoreCase: true };
  throw fail(`"${op}" takes a string or { "equals-ignore-case": "…" }`);
}

function wildcard(arg: unknown, fail: Fail): Matcher {
  if (typeof arg !== 'string') throw fail(`"wildcard" takes a string`);
  let source = '';
  for (let i = 0; i < arg.length; i++) {
    const c = arg[i]!;
    if (c === '\\') {
      const next = arg[i + 1];
      if (next !== '*' && next !== '\\')
        throw fail(`"wildcard" ${JSON.stringify(arg)}: only \\* and \\\\ may be escaped`);
      source += `\\${next}`;
      i++;
    } else if (c === '*') {
      if (arg[i + 1] === '*') throw fail(`"wildcard" ${JSON.stringify(arg)}: consecutive wildcard characters`);
      source += '.*';
    } else source += c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
  }
  return { kind: 'wildcard', regex: new RegExp(`^${source}$`, 's') };
}

const LOWER = ['>', '>='];
const UPPER = ['<', '<='];

function numeric(arg: unknown, fail: Fail): Matcher {
  const bad = (reason: string) =>
    fail(`"numeric" ${JSON.stringify(arg)}: ${reason} (forms: ["=", n], [">", n], [">=", n, "<", m], …)`);
  if (!Array.isArray(arg) || (arg.length !== 2 && arg.length !== 4)) throw bad('takes one or two comparisons');
  const pairs: [string, number][] = [];
  for (let i = 0; i < arg.length; i += 2) {
    const [op, n] = [arg[i] as unknown, arg[i + 1] as unknown];
    if (typeof op !== 'string' || !['=', ...LOWER, ...UPPER].includes(op))
      throw bad(`unknown comparison ${String(op)}`);
    if (typeof n !== 'number' || !Number.isFinite(n)) throw bad(`${JSON.stringify(n)} is not a number`);
    if (Math.abs(n) > NUMERIC_LIMIT) throw bad(`${n} is outside -5.0e9..5.0e9`);
    pairs.push([op, n]);
  }
  if (pairs.length === 1) {
    const [op, n] = pairs[0]!;
    return { kind: 'numeric', test: compare(op, n) };
  }
  const [[lo, a], [hi, b]] = pairs as [[string, number], [string, number]];
  if (!LOWER.includes(lo) || !UPPER.includes(hi))
    throw bad('a range is a lower bound (>, >=) then an upper bound (<, <=)');
  if (a > b || (a === b && (lo === '>' || hi === '<'))) throw bad('the range is empty');
  const low = compare(lo, a);
  const high = compare(hi, b);
  return { kind: 'numeric', test: (n) => low(n) && high(n) };
}

function compare(op: string, bound: number): (n: number) => boolean {
  switch (op) {
    case '=':
      return (n) => n === bound;
    case '>':
      return (n) => n > bound;
    case '>=':
      return (n) => n >= bound;
    case '<':
      return (n) => n < bound;
    default:
      return (n) => n <= bound;
  }
}

function anythingBut(arg: unknown, fail: Fail): Matcher {
  const literal = (v: unknown): Matcher => {
    if (typeof v === 'string' || typeof v === 'number') return { kind: 'equals', value: v };
    throw fail(`"anything-but" values must be strings or numbers, got ${JSON.stringify(v)}`);
  };
  if (Array.isArray(arg)) {
    if (arg.length === 0) throw fail(`"anything-but" has an empty list`);
    return { kind: 'anything-but', not: arg.map(literal) };
  }
  if (!isObject(arg)) return { kind: 'anything-but', not: [literal(arg)] };
  const keys = Object.keys(arg);
  const op = keys[0];
  if (keys.length !== 1 || !['prefix', 'suffix', 'wildcard', 'equals-ignore-case'].includes(op!))
    throw fail(`"anything-but" takes a value, a list, or one of prefix, suffix, wildcard, equals-ignore-case`);
  const inner = arg[op!];
  const list = Array.isArray(inner) ? inner : [inner];
  if (
    list.length === 0 ||
    !list.every((v) => typeof v === 'string') ||
    (op !== 'wildcard' && op !== 'equals-ignore-case' && list.length > 1)
  )
    throw fail(
      `"anything-but": { "${op}": … } takes a string${op === 'prefix' || op === 'suffix' ? '' : ' or a list of strings'}`,
    );
  const not = list.map((v: string): Matcher => {
    if (op === 'wildcard') return wildcard(v, fail);
    if (op === 'equals-ignore-case') return { kind: 'equals-ignore-case', value: v.toLowerCase() };
    if (v === '') throw fail(`"anything-but": { "${op}": "" } would exclude every string`);
    return { kind: op as 'prefix' | 'suffix', value: v, ignoreCase: false };
  });
  return { kind: 'anything-but', not };
}

function matchesAll(conjunction: Conjunction, leaves: Map<string, Leaf[]>): boolean {
  return conjunction.every(({ path, anyOf }) => {
    const values = leaves.get(path);
    return anyOf.some((m) => matchesField(m, values, path));
  });
}

function matchesField(m: Matcher, values: Leaf[] | undefined, path: string): boolean {
  if (m.kind === 'exists') return m.value === (values !== undefined && values.length > 0);
  if (values === undefined) return false;
  return values.some((v) => matchesValue(m, v, path));
}

function matchesValue(m: Matcher, v: Leaf, path: string): boolean {
  switch (m.kind) {
    case 'equals':
      return v === m.value;
    case 'prefix':
      return typeof v === 'string' && (m.ignoreCase ? v.toLowerCase() : v).startsWith(m.value);
    case 'suffix':
      return typeof v === 'string' && (m.ignoreCase ? v.toLowerCase() : v).endsWith(m.value);
    case 'equals-ignore-case':
      return typeof v === 'string' && v.toLowerCase() === m.value;
    case 'wildcard':
      return typeof v === 'string' && m.regex.test(v);
    case 'numeric': {
      const n = numberOf(v, path);
      return n !== undefined && m.test(n);
    }
    case 'anything-but':
      return !m.not.some((inner) => matchesValue(inner, v, path));
    case 'exists':
      return true;
  }
}

/**
 * A JSON number, or a DynamoDB number (`N`, or an element of `NS`): DynamoDB JSON carries
 * numbers as strings, and a numeric filter on `{ "N": [{ "numeric": … }] }` is how a DynamoDB
 * pattern can compare them at all. Lambda's documentation does not say either way.
 */
function numberOf(v: Leaf, path: string): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string' || !(path.endsWith(`${SEP}N`) || path.endsWith(`${SEP}NS`))) return undefined;
  if (!/^\s*-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(v)) return undefined;
  return Number(v);
}

/** Every leaf of the record by path; list elements share their list's path. */
export function flattenRecord(record: LambdaDynamoDBRecord): Map<string, Leaf[]> {
  const leaves = new Map<string, Leaf[]>();
  const visit = (value: unknown, path: string): void => {
    if (Array.isArray(value)) {
      for (const element of value) visit(element, path);
    } else if (isObject(value)) {
      for (const [key, child] of Object.entries(value)) visit(child, path === '' ? key : `${path}${SEP}${key}`);
    } else if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      let list = leaves.get(path);
      if (!list) leaves.set(path, (list = []));
      list.push(value);
    }
  };
  visit(record, '');
  return leaves;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function show(path: string[]): string {
  return JSON.stringify(path.join('.'));
}
