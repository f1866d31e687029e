import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface CreateLoggerOptions {
  /** @defaultValue 'info' */
  level?: LogLevel;
  /** Bound on every line, e.g. `{ workerId }`. */
  base?: Record<string, unknown>;
  /** Where lines go; stdout when absent. */
  destination?: DestinationStream;
}

/**
 * One pino root logger per process; components take `logger.child({ component, shardId })`.
 * Lines are JSON with `err` serialized (stack, cause, retryable).
 */
export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const config: LoggerOptions = {
    level: options.level ?? 'info',
    base: { ...(options.base ?? {}) },
    serializers: { err: pino.stdSerializers.errWithCause },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return options.destination ? pino(config, options.destination) : pino(config);
}

/** A logger that drops everything: the default inside libraries when none is given. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value);
}
