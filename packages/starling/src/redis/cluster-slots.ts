/**
 * @module redis/cluster-slots
 * Internal: Redis Cluster hash slots for the cluster adapter. A topic's keys and its shard channel
 * must share one slot (a Lua script touches one slot, and SPUBLISH from a script must stay on it),
 * and the per-slot bookkeeping key (store epoch, generation) must be in that slot too. So every
 * topic is mapped to a slot — CRC16 of the topic, as Redis itself hashes — and every key of that
 * slot carries the same short hash tag, one whose CRC16 lands on that slot: `{<tag>}`.
 *
 * The tags are found once, lazily, by trying base-36 numbers until every slot has one (about
 * 170,000 CRC16s of 1–4 characters, a few milliseconds). Tags use `[0-9a-z]` only, so a topic
 * with `{` or `}` in it never changes which part of a key Redis hashes.
 */

/** Hash slots of a Redis Cluster. */
export const SLOTS = 16384;

const table = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  let crc = i << 8;
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  table[i] = crc;
}

/** CRC16-XMODEM, the hash Redis Cluster uses for key slots. */
export function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ (table[((crc >> 8) ^ byte) & 0xff] as number);
  return crc;
}

/** The slot of `topic` (its UTF-8 bytes hashed as Redis hashes a key without a tag). */
export function topicSlot(topic: string): number {
  return crc16(Buffer.from(topic, 'utf8')) % SLOTS;
}

let tags: string[] | null = null;

/** A hash tag (without braces) that Redis maps to `slot`. */
export function slotTag(slot: number): string {
  if (tags === null) {
    const found: string[] = new Array<string>(SLOTS);
    let missing = SLOTS;
    for (let n = 0; missing > 0; n++) {
      const candidate = n.toString(36);
      const slotOfCandidate = crc16(Buffer.from(candidate, 'latin1')) % SLOTS;
      if (found[slotOfCandidate] === undefined) {
        found[slotOfCandidate] = candidate;
        missing--;
      }
    }
    tags = found;
  }
  return tags[slot] as string;
}
