/**
 * @module postgres/lsn
 * Internal: PostgreSQL log sequence numbers (`"16/B374D848"`, two hex halves of a 64-bit WAL
 * position) as bigints, so that positions compare as numbers: `"0/A"` < `"0/10"`, which string
 * order gets wrong.
 */

/** The LSN `text` (`"X/Y"`) as a 64-bit position; throws on anything else. */
export function lsnToBigInt(text: string): bigint {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text);
  if (match === null) throw new TypeError(`not an LSN: ${text}`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

/** The position `value` as PostgreSQL spells it (`"X/Y"`, upper-case hex). */
export function lsnToText(value: bigint): string {
  return `${(value >> 32n).toString(16).toUpperCase()}/${(value & 0xffffffffn).toString(16).toUpperCase()}`;
}
