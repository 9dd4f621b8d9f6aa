/**
 * @module redis/redis-cluster-streams
 * Internal: the stream store behind {@link RedisClusterPubSubAdapter}'s history, on a Redis
 * Cluster. The same entries and replies as {@link module:redis/redis-streams} (standalone), but
 * every script touches the keys of one hash slot only, declared as KEYS so the cluster routes it:
 *
 * - **append** (the topic's slot): gives the publication the topic's next offset, stores it, trims
 *   the stream by size, age and `maxBytes`, and SPUBLISHes it on the topic's shard channel — one
 *   atomic step, so every node receives a topic's publications in offset order;
 * - **read** (the topic's slot): the publications after a position, or why they cannot be given;
 * - **index** (one slot of its own): the cross-topic bookkeeping — topics by last append, bytes per
 *   topic — run after each append; it names the topics to evict (over `maxTopics` or `maxBytes`,
 *   least recently published first), which are then deleted by **evict**, each in its own slot.
 *
 * Keys, under the adapter's prefix `P`, with `{S}` the hash tag of the topic's slot (see
 * {@link module:redis/cluster-slots}):
 *
 * | key | type | holds |
 * | --- | --- | --- |
 * | `P:h:{S}:s` | hash | the slot's `e`: store epoch (random, made when missing), `g`: streams created in the slot |
 * | `P:h:{S}:m:<topic>` | hash | `e`: the topic's epoch `<slot's store epoch>.<g at creation>`, `o`: last offset, `b`: bytes in its list |
 * | `P:h:{S}:l:<topic>` | list | the kept publications: 13-digit append time (ms) + envelope |
 * | `P:h:{P:index}:z` | sorted set | every topic with a stream, scored by its last append (ms) |
 * | `P:h:{P:index}:b` | hash | each topic's bytes as of its last append, and `""`: their sum |
 *
 * Epochs are per slot: a shard restarted empty loses its slots' store epochs, so its topics get
 * new epochs and every older position of them fails to recover, while the topics of other shards
 * keep theirs. A topic with no stream is read as offset 0 of the epoch its next creation would get,
 * honoured if no other stream of its slot is created first.
 *
 * The index is not atomic with the append (it lives in another slot): it lags an append by one
 * round trip, so `maxTopics` and `maxBytes` may be exceeded for that long, by the appends in
 * flight; its byte counts are those at the last append (reads and age trim only lower the real
 * ones), so it errs towards evicting early. If the index is lost (its shard restarted empty) the
 * topics re-enter it at their next append; a stream that never does — its publisher died between
 * the two steps, or it went idle — expires by itself a day (or `ttlMs`, if longer) after its last
 * append, and then starts again at a new epoch.
 */
import type { Cluster } from 'ioredis';
import type { StreamPosition } from '../protocol.ts';
import type { StreamLimits, StreamRead } from '../pubsub/stream.ts';
import { slotTag, topicSlot } from './cluster-slots.ts';
import { LUA_TIME_AND_EXPIRY, parseRead, readArgs, readScript, StoreEpochs } from './stream-scripts.ts';

/** How long an untouched stream lives at least (on top of `ttlMs`): the backstop of a lost index. */
const IDLE_EXPIRY_MS = 24 * 60 * 60 * 1000;

/** KEYS: 1 = meta, 2 = list, 3 = slot store. ARGV[1] = a new store epoch. */
const PRELUDE = `
local META, LIST, STORE = KEYS[1], KEYS[2], KEYS[3]
local function storeEpoch()
  local e = redis.call('HGET', STORE, 'e')
  if not e then
    e = ARGV[1]
    redis.call('HSET', STORE, 'e', e, 'g', 0)
  end
  return e
end
local function dropHead()
  local entry = redis.call('LPOP', LIST)
  if entry then redis.call('HINCRBY', META, 'b', -#entry) end
end
${LUA_TIME_AND_EXPIRY}`;

/**
 * ARGV (after the prelude's one): 2 = limits `size,ttlMs,maxBytes,expiryMs`, 3 = envelope head,
 * 4 = envelope body, 5 = the topic's shard channel. Returns {position, the topic's bytes}.
 */
const APPEND = `${PRELUDE}
local store = storeEpoch()
local now = nowMs()
local size, ttl, maxBytes, expiry = string.match(ARGV[2], '^(%d+),(%d+),(%d+),(%d+)$')
size, ttl, maxBytes, expiry = tonumber(size), tonumber(ttl), tonumber(maxBytes), tonumber(expiry)
local epoch = redis.call('HGET', META, 'e')
if not epoch then
  epoch = store .. '.' .. redis.call('HINCRBY', STORE, 'g', 1)
  redis.call('DEL', LIST)
  redis.call('HSET', META, 'e', epoch, 'o', 0, 'b', 0)
end
local offset = redis.call('HINCRBY', META, 'o', 1)
local position = epoch .. ':' .. offset
local envelope = ARGV[3] .. string.char(math.floor(#position / 256), #position % 256) .. position .. ARGV[4]
local entry = string.format('%013d', now) .. envelope
redis.call('RPUSH', LIST, entry)
redis.call('HINCRBY', META, 'b', #entry)
while redis.call('LLEN', LIST) > size do dropHead() end
expire(now - ttl)
while tonumber(redis.call('HGET', META, 'b')) > maxBytes and redis.call('LLEN', LIST) > 1 do dropHead() end
redis.call('PEXPIRE', META, expiry)
redis.call('PEXPIRE', LIST, expiry)
redis.call('SPUBLISH', ARGV[5], envelope)
return {position, redis.call('HGET', META, 'b')}
`;

/** ARGV (after the prelude's one): see {@link readScript}. */
const READ = readScript(PRELUDE, 2);

/**
 * KEYS: 1 = index sorted set, 2 = index bytes hash. ARGV: 1 = topic, 2 = its bytes now,
 * 3 = maxTopics, 4 = maxBytes. Records the append; returns the topics to evict (never this one).
 */
const INDEX = `
local TOPICS, BYTES = KEYS[1], KEYS[2]
local topic = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local before = tonumber(redis.call('HGET', BYTES, topic) or '0')
redis.call('HSET', BYTES, topic, ARGV[2])
local total = redis.call('HINCRBY', BYTES, '', tonumber(ARGV[2]) - before)
redis.call('ZADD', TOPICS, now, topic)
local maxTopics, maxBytes = tonumber(ARGV[3]), tonumber(ARGV[4])
local victims = {}
while redis.call('ZCARD', TOPICS) > maxTopics or total > maxBytes do
  local oldest = redis.call('ZRANGE', TOPICS, 0, 0)[1]
  if not oldest or oldest == topic then break end
  redis.call('ZREM', TOPICS, oldest)
  total = redis.call('HINCRBY', BYTES, '', -tonumber(redis.call('HGET', BYTES, oldest) or '0'))
  redis.call('HDEL', BYTES, oldest)
  victims[#victims + 1] = oldest
end
return victims
`;

type Scripted = Cluster & {
  starlingClusterAppend(...args: Array<string | Buffer | number>): Promise<[string, string]>;
  starlingClusterReadBuffer(...args: Array<string | Buffer | number>): Promise<Buffer[]>;
  starlingClusterIndex(...args: Array<string | number>): Promise<string[]>;
};

/** Appends and reads streams on one Redis Cluster, under one key prefix. */
export class RedisClusterStreams {
  readonly #redis: Scripted;
  readonly #prefix: string;
  readonly #indexKeys: [string, string];
  readonly #channel: (topic: string) => string;
  readonly #epochs = new StoreEpochs();
  /** The index steps and evictions in flight: what a read on this node waits for first. */
  #bookkeeping: Promise<void> = Promise.resolve();

  /**
   * @param redis the cluster client; the scripts are defined on it
   * @param prefix the adapter's key prefix (no `{` or `}`)
   * @param channel the shard channel of a topic (in the topic's slot)
   */
  constructor(redis: Cluster, prefix: string, channel: (topic: string) => string) {
    redis.defineCommand('starlingClusterAppend', { numberOfKeys: 3, lua: APPEND });
    redis.defineCommand('starlingClusterRead', { numberOfKeys: 3, lua: READ });
    redis.defineCommand('starlingClusterIndex', { numberOfKeys: 2, lua: INDEX });
    this.#redis = redis as Scripted;
    this.#prefix = prefix;
    this.#indexKeys = [`${prefix}:h:{${prefix}:index}:z`, `${prefix}:h:{${prefix}:index}:b`];
    this.#channel = channel;
  }

  /** The topic's meta, list and slot store keys, all in the topic's slot. */
  #keys(topic: string): [string, string, string] {
    const base = `${this.#prefix}:h:{${slotTag(topicSlot(topic))}}:`;
    return [`${base}m:${topic}`, `${base}l:${topic}`, `${base}s`];
  }

  /**
   * Appends and publishes; resolves with the position the cluster gave. The index step follows
   * (not awaited here): it may evict other topics' streams.
   */
  async append(topic: string, head: Buffer, body: Buffer, limits: StreamLimits): Promise<string> {
    const expiry = Math.max(limits.ttlMs, IDLE_EXPIRY_MS);
    // Reads wait from now on, not from the reply: the publication may reach this node (over its
    // shard subscription) before the append's reply does, and a read then must see the eviction.
    let settled: () => void = () => undefined;
    const step = new Promise<void>((resolve) => (settled = resolve));
    this.#bookkeeping = this.#bookkeeping.then(() => step);
    try {
      const [position, bytes] = await this.#redis.starlingClusterAppend(
        ...this.#keys(topic),
        this.#epochs.next(),
        `${limits.size},${limits.ttlMs},${limits.maxBytes},${expiry}`,
        head,
        body,
        this.#channel(topic),
      );
      void this.#index(topic, bytes, limits).then(settled);
      return position;
    } catch (err) {
      settled();
      throw err;
    }
  }

  async #index(topic: string, bytes: string, limits: StreamLimits): Promise<void> {
    try {
      const victims = await this.#redis.starlingClusterIndex(...this.#indexKeys, topic, bytes, limits.maxTopics, limits.maxBytes);
      // Each in its own slot: one DEL per victim (its meta and list share a slot).
      await Promise.all(victims.map((victim) => this.#redis.del(...this.#keys(victim).slice(0, 2))));
    } catch {
      // The index lags or a victim survives until the next append retries: bounded by expiry.
    }
  }

  /** See {@link StreamRead}. Waits for this node's bookkeeping in flight first. */
  async read(topic: string, since: StreamPosition | null, limits: StreamLimits): Promise<StreamRead> {
    await this.#bookkeeping;
    const reply = await this.#redis.starlingClusterReadBuffer(...this.#keys(topic), this.#epochs.next(), ...readArgs(since, limits));
    return parseRead(topic, since, reply);
  }
}
