import type { _Record } from '@aws-sdk/client-dynamodb-streams';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { StreamRecord } from './processor.js';

const UNSET: unique symbol = Symbol('unset');
type Lazy<V> = V | typeof UNSET;

/**
 * A stream record as a worker delivers it: the GetRecords fields as own properties, and
 * `keys`, `newItem`, `oldItem` unmarshalled on first access (then cached). Unmarshalling every
 * image of every record cost a busy worker whether its processor read them or not (~1 CPU-µs a
 * record for a three-attribute item, plus its garbage, against 0.02 µs for this record unread);
 * a processor that reads only `dynamodb`, `eventName` or the keys pays for nothing else.
 *
 * The three are getters on the prototype, not own properties: own accessors (defineProperty
 * per record) measured 1.6 µs a record against 0.02. So `{ ...record }`, `Object.keys`,
 * `structuredClone` and vitest's `toEqual` see only the own fields; `JSON.stringify` (and pino)
 * see the whole shape, `toJSON` being eager. Setters keep them assignable, as the plain object
 * they replace was.
 */
export class DeliveredRecord<T = Record<string, unknown>> {
  eventID: _Record['eventID'];
  eventName: _Record['eventName'];
  eventVersion: _Record['eventVersion'];
  eventSource: _Record['eventSource'];
  awsRegion: _Record['awsRegion'];
  dynamodb: _Record['dynamodb'];
  userIdentity: _Record['userIdentity'];
  /** `dynamodb.SequenceNumber`, hoisted. */
  sequenceNumber: string;
  readonly #raw: _Record;
  #keys: Lazy<Record<string, unknown>> = UNSET;
  #newItem: Lazy<T | undefined> = UNSET;
  #oldItem: Lazy<T | undefined> = UNSET;

  constructor(raw: _Record, sequenceNumber: string) {
    this.eventID = raw.eventID;
    this.eventName = raw.eventName;
    this.eventVersion = raw.eventVersion;
    this.eventSource = raw.eventSource;
    this.awsRegion = raw.awsRegion;
    this.dynamodb = raw.dynamodb;
    this.userIdentity = raw.userIdentity;
    this.sequenceNumber = sequenceNumber;
    this.#raw = raw;
  }

  /** `dynamodb.Keys` unmarshalled. */
  get keys(): Record<string, unknown> {
    if (this.#keys === UNSET) {
      const keys = this.dynamodb?.Keys;
      this.#keys = keys ? unmarshall(keys) : {};
    }
    return this.#keys;
  }

  set keys(value: Record<string, unknown>) {
    this.#keys = value;
  }

  /** `dynamodb.NewImage` unmarshalled; absent for REMOVE and for KEYS_ONLY / OLD_IMAGE streams. */
  get newItem(): T | undefined {
    if (this.#newItem === UNSET) {
      const image = this.dynamodb?.NewImage;
      this.#newItem = image ? (unmarshall(image) as T) : undefined;
    }
    return this.#newItem;
  }

  set newItem(value: T | undefined) {
    this.#newItem = value;
  }

  /** `dynamodb.OldImage` unmarshalled; absent for INSERT and for KEYS_ONLY / NEW_IMAGE streams. */
  get oldItem(): T | undefined {
    if (this.#oldItem === UNSET) {
      const image = this.dynamodb?.OldImage;
      this.#oldItem = image ? (unmarshall(image) as T) : undefined;
    }
    return this.#oldItem;
  }

  set oldItem(value: T | undefined) {
    this.#oldItem = value;
  }

  /** The whole shape, in the order the eager record had: `JSON.stringify` output is unchanged. */
  toJSON(): Record<string, unknown> {
    return {
      eventID: this.eventID,
      eventName: this.eventName,
      eventVersion: this.eventVersion,
      eventSource: this.eventSource,
      awsRegion: this.awsRegion,
      dynamodb: this.dynamodb,
      userIdentity: this.userIdentity,
      sequenceNumber: this.sequenceNumber,
      keys: this.keys,
      newItem: this.newItem,
      oldItem: this.oldItem,
    };
  }

  /** `console.log(record)` shows the images too. */
  [Symbol.for('nodejs.util.inspect.custom')](
    _depth: number,
    options: object,
    inspect: (value: unknown, options: object) => string,
  ): string {
    return `DeliveredRecord ${inspect(this.toJSON(), options)}`;
  }

  /** The record exactly as GetRecords returned it, when `record` is a delivered one. */
  static rawOf(record: object): _Record | undefined {
    return #raw in record ? (record as DeliveredRecord<unknown>).#raw : undefined;
  }
}

/** A raw stream record as the worker delivers it (a `DeliveredRecord`: images unmarshalled on first access). */
export function toStreamRecord<T>(record: _Record): StreamRecord<T> {
  const sequenceNumber = record.dynamodb?.SequenceNumber;
  if (!sequenceNumber) throw new TypeError(`stream record ${record.eventID ?? '?'} has no SequenceNumber`);
  return new DeliveredRecord<T>(record, sequenceNumber);
}

/**
 * The record as GetRecords returned it (what a failure destination stores): the raw record of a
 * delivered one, else the record without the fields shardline adds.
 */
export function rawRecord(record: StreamRecord<unknown>): _Record {
  const raw = DeliveredRecord.rawOf(record);
  if (raw) return raw;
  const { newItem: _n, oldItem: _o, keys: _k, sequenceNumber: _s, ...rest } = record;
  return rest;
}

/** The `_Record` fields a `DeliveredRecord` copies; a field the SDK adds fails to compile below. */
type CopiedRecordField =
  'eventID' | 'eventName' | 'eventVersion' | 'eventSource' | 'awsRegion' | 'dynamodb' | 'userIdentity';
const _everyRecordFieldCopied: [Exclude<keyof _Record, CopiedRecordField>] extends [never] ? true : never = true;
