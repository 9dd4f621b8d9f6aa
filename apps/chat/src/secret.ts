/**
 * The chat's token secret: `SECRET_KEY_BASE` when set; otherwise a random one generated on first
 * start and saved in the data directory, so that user tokens and invite links survive restarts.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';

/** The shortest secret the framework accepts (`new Endpoint` throws below it). */
export const MIN_SECRET_LENGTH = 64;

/** Returns the secret key base, creating and saving one under `dataDir` when none is configured. */
export function loadSecretKeyBase(configured: string | undefined, dataDir: string, logger: Logger): string {
  if (configured !== undefined && configured !== '') {
    if (configured.length < MIN_SECRET_LENGTH) {
      throw new Error(
        `SECRET_KEY_BASE must be at least ${MIN_SECRET_LENGTH} characters (it is ${configured.length}); generate one with: openssl rand -base64 48`,
      );
    }
    return configured;
  }
  const file = join(dataDir, 'secret_key_base');
  try {
    const saved = readFileSync(file, 'utf8').trim();
    if (saved.length >= MIN_SECRET_LENGTH) return saved;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const secret = randomBytes(48).toString('base64'); // 64 characters
  // wx: never overwrite a secret another process saved in the meantime.
  try {
    writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readFileSync(file, 'utf8').trim();
    throw err;
  }
  logger.warn({ file }, 'SECRET_KEY_BASE is not set: generated one and saved it; set SECRET_KEY_BASE in production');
  return secret;
}
