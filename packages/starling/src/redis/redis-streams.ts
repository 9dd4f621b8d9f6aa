/**
 * @module redis/redis-streams
 * Internal: the Redis stream store behind {@link RedisPubSubAdapter}'s history. Two Lua scripts,
 * each one atomic step inside Redis:
 *
 * - **append**: gives the publication the topic's next offset, stores it, trims the stream by size
 *   and age, and PUBLISHes it (a version-2 envelope carrying the position) on the topic's channel —
 *   so every node receives the publications of a topic in offset order, and no node can see an
 *   offset another did not;
 * - **read**: the publications after a position, or why they cannot be given.
 *
 * Keys, under the adapter's prefix `P` (standalone Redis; the scripts touch keys they compute, so
 * they are not Redis Cluster-safe):
 *
 * | key | type | holds |
 * | --- | --- | --- |
 * | `P:h:store` | hash | `e`: the store epoch (random, made when missing), `g`: streams created so far, `b`: bytes kept in all lists |
 * | `P:h:topics` | sorted set | every topic with a stream, scored by its last append (ms) |
 * | `P:h:m:<topic>` | hash | `e`: the topic's epoch `<store epoch>.<g at creation>`, `o`: its last offset, `b`: bytes in its list |
 * | `P:h:l:<topic>` | list | the kept publications: 13-digit append time (ms) + envelope |
 *
 * Epochs: a stream's epoch is fixed when it is created and no two creations share one (the
 * generation only grows, and store epoch and generation live in one hash: losing it loses both).
 * Redis restarted empty → a new store epoch → every older position fails to recover (never a stale
 * or partial replay). A topic with no stream is read as offset 0 of the epoch its next creation
 * would get; that position is honoured only if no other stream is created first. Beyond
 * `maxTopics` streams, or `maxBytes` in all lists, the least recently published stream is deleted
 * (a topic alone over `maxBytes` drops its oldest entries, keeping its newest). Entries older than
 * `ttlMs` are dropped when the topic is appended to or read; nothing expires by itself, so the
 * byte counts stay exact and offsets never restart within an epoch.
 */
import type { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { ErrorCodes, StarlingError } from '../errors.ts';
import type { BroadcastMessage } from '../protocol.ts';
import type { StreamLimits, StreamPosition, StreamRead } from '../pubsub/stream.ts';
import { decodeEnvelope } from './envelope.ts';

const PRELUDE = `
local function storeEpoch()
  local e = redis.call('HGET', KEYS[1], 'e')
  if not e then
    e = ARGV[1]
    redis.call('HSET', KEYS[1], 'e', e, 'g', 0, 'b', 0)
  end
  return e
end
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function bytesOf(hash)
  return tonumber(redis.call('HGET', hash, 'b') or '0')
end
-- Drops the oldest entry of a topic's list, keeping the byte counts of the topic and the store.
local function dropHead(meta, list)
  local entry = redis.call('LPOP', list)
  if entry then
    redis.call('HINCRBY', meta, 'b', -#entry)
    redis.call('HINCRBY', KEYS[1], 'b', -#entry)
  end
end
local function expire(meta, list, oldest)
  while true do
    local head = redis.call('LINDEX', list, 0)
    if not head or tonumber(string.sub(head, 1, 13)) >= oldest then return end
    dropHead(meta, list)
  end
end
`;

/**
 * KEYS: store, topics, meta, list. ARGV: new store epoch, topic, size, ttlMs, maxTopics, maxBytes,
 * envelope head, envelope body, channel, meta prefix, list prefix. Returns the position.
 */
const APPEND = `${PRELUDE}
local store = storeEpoch()
local now = nowMs()
local topic, size, ttl, maxTopics, maxBytes = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local function evict(victim)
  redis.call('HINCRBY', KEYS[1], 'b', -bytesOf(ARGV[10] .. victim))
  redis.call('DEL', ARGV[10] .. victim, ARGV[11] .. victim)
  redis.call('ZREM', KEYS[2], victim)
end
local epoch = redis.call('HGET', KEYS[3], 'e')
if not epoch then
  while redis.call('ZCARD', KEYS[2]) >= maxTopics do evict(redis.call('ZRANGE', KEYS[2], 0, 0)[1]) end
  epoch = store .. '.' .. redis.call('HINCRBY', KEYS[1], 'g', 1)
  redis.call('DEL', KEYS[4])
  redis.call('HSET', KEYS[3], 'e', epoch, 'o', 0, 'b', 0)
end
local offset = redis.call('HINCRBY', KEYS[3], 'o', 1)
redis.call('ZADD', KEYS[2], now, topic)
local position = epoch .. ':' .. offset
local envelope = ARGV[7] .. string.char(math.floor(#position / 256), #position % 256) .. position .. ARGV[8]
local entry = string.format('%013d', now) .. envelope
redis.call('RPUSH', KEYS[4], entry)
redis.call('HINCRBY', KEYS[3], 'b', #entry)
redis.call('HINCRBY', KEYS[1], 'b', #entry)
while redis.call('LLEN', KEYS[4]) > size do dropHead(KEYS[3], KEYS[4]) end
expire(KEYS[3], KEYS[4], now - ttl)
while bytesOf(KEYS[1]) > maxBytes do
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  if not oldest or oldest == topic then break end
  evict(oldest)
end
while bytesOf(KEYS[1]) > maxBytes and redis.call('LLEN', KEYS[4]) > 1 do dropHead(KEYS[3], KEYS[4]) end
redis.call('PUBLISH', ARGV[9], envelope)
return position
`;

/**
 * KEYS: store, meta, list. ARGV: new store epoch, since epoch ('' for none), since offset, ttlMs.
 * Returns {epoch, offset, recovered (0/1), entries…}.
 */
const READ = `${PRELUDE}
local store = storeEpoch()
local epoch = redis.call('HGET', KEYS[2], 'e')
if not epoch then
  return {store .. '.' .. (tonumber(redis.call('HGET', KEYS[1], 'g')) + 1), '0', '0'}
end
local offset = tonumber(redis.call('HGET', KEYS[2], 'o'))
local since = tonumber(ARGV[3])
if ARGV[2] ~= epoch or since > offset then return {epoch, tostring(offset), '0'} end
expire(KEYS[2], KEYS[3], nowMs() - tonumber(ARGV[4]))
local first = offset - redis.call('LLEN', KEYS[3]) + 1
if since < first - 1 then return {epoch, tostring(offset), '0'} end
local out = {epoch, tostring(offset), '1'}
local entries = redis.call('LRANGE', KEYS[3], since - first + 1, -1)
for i = 1, #entries do out[#out + 1] = entries[i] end
return out
`;

type Scripted = Redis & {
  starlingAppend(...args: Array<string | Buffer | number>): Promise<Buffer>;
  starlingRead(...args: Array<string | Buffer | number>): Promise<Buffer[]>;
  starlingAppendBuffer(...args: Array<string | Buffer | number>): Promise<Buffer>;
  starlingReadBuffer(...args: Array<string | Buffer | number>): Promise<Buffer[]>;
};

/** Appends and reads streams in one Redis, under one key prefix. */
export class RedisStreams {
  readonly #redis: Scripted;
  readonly #keys: string;
  readonly #channelPrefix: string;
  readonly #seed = randomBytes(6).toString('base64url');
  #epochs = 0;
  /**
   * A store epoch for Redis to take if it has none (first use, or after losing its data): never
   * the same twice — after a data loss the new store epoch must differ from every earlier one —
   * yet cheap, since every script call carries one.
   */
  #newEpoch(): string {
    return `${this.#seed}${(this.#epochs++).toString(36)}`;
  }

  /**
   * @param redis a connection in normal (not subscriber) mode; the scripts are defined on it
   * @param prefix the adapter's key prefix
   * @param channelPrefix the PUBLISH channel of a topic is this plus the topic
   */
  constructor(redis: Redis, prefix: string, channelPrefix: string) {
    redis.defineCommand('starlingAppend', { numberOfKeys: 4, lua: APPEND });
    redis.defineCommand('starlingRead', { numberOfKeys: 3, lua: READ });
    this.#redis = redis as Scripted;
    this.#keys = `${prefix}:h:`;
    this.#channelPrefix = channelPrefix;
  }

  /** Appends and publishes; resolves with the position Redis gave. */
  async append(topic: string, head: Buffer, body: Buffer, limits: StreamLimits): Promise<string> {
    const k = this.#keys;
    const position = await this.#redis.starlingAppendBuffer(
      `${k}store`,
      `${k}topics`,
      `${k}m:${topic}`,
      `${k}l:${topic}`,
      this.#newEpoch(),
      topic,
      limits.size,
      limits.ttlMs,
      limits.maxTopics,
      limits.maxBytes,
      head,
      body,
      this.#channelPrefix + topic,
      `${k}m:`,
      `${k}l:`,
    );
    return position.toString('utf8');
  }

  /** See {@link StreamRead}. Rejects with `ERR_PUBSUB_ADAPTER` if Redis fails or answers garbage. */
  async read(topic: string, since: StreamPosition | null, limits: StreamLimits): Promise<StreamRead> {
    const k = this.#keys;
    const reply = await this.#redis.starlingReadBuffer(
      `${k}store`,
      `${k}m:${topic}`,
      `${k}l:${topic}`,
      this.#newEpoch(),
      since?.epoch ?? '',
      since?.offset ?? 0,
      limits.ttlMs,
    );
    const [epoch, offset, recovered, ...entries] = reply;
    if (epoch === undefined || offset === undefined || recovered === undefined) {
      throw new StarlingError(ErrorCodes.adapter, `unexpected reply to a stream read of ${topic}`);
    }
    const position = { epoch: epoch.toString('utf8'), offset: Number(offset.toString('utf8')) };
    const publications: BroadcastMessage[] = entries.map((entry) => decodeEnvelope(entry.subarray(13)).message);
    return { position, recovered: since !== null && recovered.toString('utf8') === '1', publications };
  }
}
