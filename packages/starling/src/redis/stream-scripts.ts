/**
 * @module redis/stream-scripts
 * Internal: what the standalone and the Redis Cluster stream stores share — the read script, the
 * Lua helpers both preludes define, the parsing of a read's reply, and the store epochs a script
 * call offers. Their keys differ (computed inside the script, or declared as KEYS of one slot);
 * the entries and replies do not: an entry is a 13-digit append time (ms) followed by a version-2
 * envelope.
 */
import { randomBytes } from 'node:crypto';
import { ErrorCodes, StarlingError } from '../errors.ts';
import type { StreamPosition } from '../protocol.ts';
import type { StreamRead } from '../pubsub/stream.ts';
import { decodeEnvelope } from './envelope.ts';

/**
 * Lua: `nowMs()` (Redis's clock) and `expire(oldest)`, which drops the entries of `LIST` appended
 * before `oldest` with the prelude's `dropHead()`.
 */
export const LUA_TIME_AND_EXPIRY = `
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function expire(oldest)
  while true do
    local head = redis.call('LINDEX', LIST, 0)
    if not head or tonumber(string.sub(head, 1, 13)) >= oldest then return end
    dropHead()
  end
end
`;

/**
 * The read script: `prelude` (which defines `META`, `LIST`, `STORE`, `storeEpoch()`, `dropHead()`
 * and {@link LUA_TIME_AND_EXPIRY}), then, from ARGV[`first`]: since epoch ('' for none), since
 * offset, ttlMs, maxReplayBytes. Returns {epoch, offset, recovered (0/1), bytes, entries…}: no
 * entries when they weigh more than maxReplayBytes, so an oversized replay never leaves Redis.
 */
export function readScript(prelude: string, first: number): string {
  const arg = (i: number): string => `ARGV[${first + i}]`;
  return `${prelude}
local store = storeEpoch()
local epoch = redis.call('HGET', META, 'e')
if not epoch then
  return {store .. '.' .. (tonumber(redis.call('HGET', STORE, 'g')) + 1), '0', '0', '0'}
end
local offset = tonumber(redis.call('HGET', META, 'o'))
local since = tonumber(${arg(1)})
if ${arg(0)} ~= epoch or since > offset then return {epoch, tostring(offset), '0', '0'} end
expire(nowMs() - tonumber(${arg(2)}))
local first = offset - redis.call('LLEN', LIST) + 1
if since < first - 1 then return {epoch, tostring(offset), '0', '0'} end
local entries = redis.call('LRANGE', LIST, since - first + 1, -1)
local bytes = 0
for i = 1, #entries do bytes = bytes + #entries[i] end
if bytes > tonumber(${arg(3)}) then return {epoch, tostring(offset), '0', tostring(bytes)} end
local out = {epoch, tostring(offset), '1', tostring(bytes)}
for i = 1, #entries do out[#out + 1] = entries[i] end
return out
`;
}

/** The read script's arguments after the keys and the store epoch. */
export function readArgs(since: StreamPosition | null, limits: { ttlMs: number; maxReplayBytes: number }): Array<string | number> {
  return [since?.epoch ?? '', since?.offset ?? 0, limits.ttlMs, limits.maxReplayBytes];
}

/** Parses the read script's reply; throws `ERR_PUBSUB_ADAPTER` on one that is not shaped as it answers. */
export function parseRead(topic: string, since: StreamPosition | null, reply: Buffer[]): StreamRead {
  const [epoch, offset, recovered, bytes, ...entries] = reply;
  if (epoch === undefined || offset === undefined || recovered === undefined || bytes === undefined) {
    throw new StarlingError(ErrorCodes.adapter, `unexpected reply to a stream read of ${topic}`);
  }
  return {
    position: { epoch: epoch.toString('utf8'), offset: Number(offset.toString('utf8')) },
    recovered: since !== null && recovered.toString('utf8') === '1',
    publications: entries.map((entry) => decodeEnvelope(entry.subarray(13)).message),
    bytes: Number(bytes.toString('utf8')),
  };
}

/**
 * The store epochs a script call offers, for Redis to take if it has none (first use, or after
 * losing its data): never the same twice — after a data loss the new store epoch must differ from
 * every earlier one — yet cheap, since every script call carries one.
 */
export class StoreEpochs {
  readonly #seed = randomBytes(6).toString('base64url');
  #count = 0;

  next(): string {
    return `${this.#seed}${(this.#count++).toString(36)}`;
  }
}
