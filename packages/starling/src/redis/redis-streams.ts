/**
 * @module redis/redis-streams
 * Internal: the Redis stream store behind {@link RedisPubSubAdapter}'s history. Two Lua scripts,
 * each one atomic step inside Redis:
 *
 * - **append**: gives the publication the topic's next offset, stores it, trims the stream by size
 *   and age, and PUBLISHes it (a version-2 envelope carrying the position) on the topic's channel —
 *   so every node receives the publications of a topic in offset order, and no node can see an
 *   offset another did not;
 * - **read**: the publications after a position, or why they cannot be given — also when their
 *   stored entries weigh more than `maxReplayBytes`: then none is sent from Redis at all.
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
import type { StreamPosition } from '../protocol.ts';
import type { StreamLimits, StreamRead } from '../pubsub/stream.ts';
import { LUA_TIME_AND_EXPIRY, parseRead, readArgs, readScript, StoreEpochs } from './stream-scripts.ts';

/**
 * Shared by both scripts, which take ARGV[1] = a new store epoch, ARGV[2] = the key prefix
 * `P:h:`, ARGV[3] = the topic (keys are computed here, which keeps each call small).
 */
const PRELUDE = `
local STORE, TOPICS = ARGV[2] .. 'store', ARGV[2] .. 'topics'
local META, LIST = ARGV[2] .. 'm:' .. ARGV[3], ARGV[2] .. 'l:' .. ARGV[3]
local function storeEpoch()
  local e = redis.call('HGET', STORE, 'e')
  if not e then
    e = ARGV[1]
    redis.call('HSET', STORE, 'e', e, 'g', 0, 'b', 0)
  end
  return e
end
local function bytesOf(hash)
  return tonumber(redis.call('HGET', hash, 'b') or '0')
end
-- Drops the oldest entry of the topic's list, keeping the byte counts of the topic and the store.
local function dropHead()
  local entry = redis.call('LPOP', LIST)
  if entry then
    redis.call('HINCRBY', META, 'b', -#entry)
    redis.call('HINCRBY', STORE, 'b', -#entry)
  end
end
${LUA_TIME_AND_EXPIRY}`;

/**
 * ARGV (after the prelude's three): 4 = limits `size,ttlMs,maxTopics,maxBytes`, 5 = envelope head,
 * 6 = envelope body, 7 = channel prefix. Returns the position.
 */
const APPEND = `${PRELUDE}
local store = storeEpoch()
local now = nowMs()
local topic = ARGV[3]
local size, ttl, maxTopics, maxBytes = string.match(ARGV[4], '^(%d+),(%d+),(%d+),(%d+)$')
size, ttl, maxTopics, maxBytes = tonumber(size), tonumber(ttl), tonumber(maxTopics), tonumber(maxBytes)
local function evict(victim)
  local meta = ARGV[2] .. 'm:' .. victim
  redis.call('HINCRBY', STORE, 'b', -bytesOf(meta))
  redis.call('DEL', meta, ARGV[2] .. 'l:' .. victim)
  redis.call('ZREM', TOPICS, victim)
end
local epoch = redis.call('HGET', META, 'e')
if not epoch then
  while redis.call('ZCARD', TOPICS) >= maxTopics do evict(redis.call('ZRANGE', TOPICS, 0, 0)[1]) end
  epoch = store .. '.' .. redis.call('HINCRBY', STORE, 'g', 1)
  redis.call('DEL', LIST)
  redis.call('HSET', META, 'e', epoch, 'o', 0, 'b', 0)
end
local offset = redis.call('HINCRBY', META, 'o', 1)
redis.call('ZADD', TOPICS, now, topic)
local position = epoch .. ':' .. offset
local envelope = ARGV[5] .. string.char(math.floor(#position / 256), #position % 256) .. position .. ARGV[6]
local entry = string.format('%013d', now) .. envelope
redis.call('RPUSH', LIST, entry)
redis.call('HINCRBY', META, 'b', #entry)
redis.call('HINCRBY', STORE, 'b', #entry)
while redis.call('LLEN', LIST) > size do dropHead() end
expire(now - ttl)
while bytesOf(STORE) > maxBytes do
  local oldest = redis.call('ZRANGE', TOPICS, 0, 0)[1]
  if not oldest or oldest == topic then break end
  evict(oldest)
end
while bytesOf(STORE) > maxBytes and redis.call('LLEN', LIST) > 1 do dropHead() end
redis.call('PUBLISH', ARGV[7] .. topic, envelope)
return position
`;

/** ARGV (after the prelude's three): see {@link readScript}. */
const READ = readScript(PRELUDE, 4);

type Scripted = Redis & {
  starlingAppendBuffer(...args: Array<string | Buffer | number>): Promise<Buffer>;
  starlingReadBuffer(...args: Array<string | Buffer | number>): Promise<Buffer[]>;
};

/** Appends and reads streams in one Redis, under one key prefix. */
export class RedisStreams {
  readonly #redis: Scripted;
  readonly #keys: string;
  readonly #channelPrefix: string;
  readonly #epochs = new StoreEpochs();

  /**
   * @param redis a connection in normal (not subscriber) mode; the scripts are defined on it
   * @param prefix the adapter's key prefix
   * @param channelPrefix the PUBLISH channel of a topic is this plus the topic
   */
  constructor(redis: Redis, prefix: string, channelPrefix: string) {
    // The keys are computed inside the scripts (standalone Redis only, see the module doc).
    redis.defineCommand('starlingAppend', { numberOfKeys: 0, lua: APPEND });
    redis.defineCommand('starlingRead', { numberOfKeys: 0, lua: READ });
    this.#redis = redis as Scripted;
    this.#keys = `${prefix}:h:`;
    this.#channelPrefix = channelPrefix;
  }

  /** Appends and publishes; resolves with the position Redis gave. */
  async append(topic: string, head: Buffer, body: Buffer, limits: StreamLimits): Promise<string> {
    const position = await this.#redis.starlingAppendBuffer(this.#epochs.next(), this.#keys, topic, limitsArg(limits), head, body, this.#channelPrefix);
    return position.toString('utf8');
  }

  /** See {@link StreamRead}. Rejects with `ERR_PUBSUB_ADAPTER` if Redis fails or answers garbage. */
  async read(topic: string, since: StreamPosition | null, limits: StreamLimits): Promise<StreamRead> {
    const reply = await this.#redis.starlingReadBuffer(this.#epochs.next(), this.#keys, topic, ...readArgs(since, limits));
    return parseRead(topic, since, reply);
  }
}

const limitsArgs = new WeakMap<StreamLimits, string>();

/** The limits as the append script's one argument, made once per limits object. */
function limitsArg(limits: StreamLimits): string {
  let arg = limitsArgs.get(limits);
  if (arg === undefined) {
    arg = `${limits.size},${limits.ttlMs},${limits.maxTopics},${limits.maxBytes}`;
    limitsArgs.set(limits, arg);
  }
  return arg;
}
