import pino from 'pino';

/** Structured JSON logs (one object per line) on stderr, for pipes, files and log collectors. */
export function createLogger(level: 'info' | 'debug' | 'silent' = 'info') {
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination(2));
}

export type Logger = ReturnType<typeof createLogger>;
