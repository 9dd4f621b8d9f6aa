/**
 * @module serializer
 * Internal: picks the serializer for a connecting client's `vsn` query parameter (docs/protocol.md §1.2) and holds
 * the one shared instance of each: serializers are stateless, and sharing them lets a broadcast be
 * encoded once per serializer rather than once per socket.
 *
 * ```ts
 * const serializer = serializerForVsn(url.searchParams.get('vsn'));
 * if (serializer === null) return refuse(403); // unsupported vsn
 * ```
 */
import type { SocketFraming } from '../socket.ts';
import { RealtimeV2Serializer } from './realtime-v2.ts';
import type { Serializer } from './serializer.ts';
import { V1JsonSerializer } from './v1-json.ts';
import { V2JsonSerializer } from './v2-json.ts';

/** The V1 JSON serializer (`vsn` 1.0.x, or no `vsn`). */
export const v1JsonSerializer: V1JsonSerializer = new V1JsonSerializer();

/** The V2 serializer (`vsn` 2.0.x): JSON array text frames and binary frames. */
export const v2JsonSerializer: V2JsonSerializer = new V2JsonSerializer();

/** The V2 serializer of `@supabase/realtime-js` clients (user broadcast kinds 3 and 4). */
export const realtimeV2Serializer: RealtimeV2Serializer = new RealtimeV2Serializer();

/** `MAJOR.MINOR.PATCH[-pre][+build]` without leading zeros, as Elixir's `Version.parse/1` reads it. */
const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

/**
 * The serializer for a client's `vsn`, or null when none matches (the connect is then refused).
 * Matching follows Phoenix's requirements `~> 1.0.0` → V1 and `~> 2.0.0` → V2, i.e. `1.0.x` and
 * `2.0.x`, so `2.0.7` is V2 and `2.1.0` is refused. A missing or empty `vsn` means `1.0.0`.
 */
export function serializerForVsn(vsn: string | undefined | null, framing: SocketFraming = 'phoenix'): Serializer | null {
  if (vsn === undefined || vsn === null || vsn === '') return v1JsonSerializer;
  const match = SEMVER.exec(vsn);
  if (match === null) return null;
  const [, major, minor, patch, pre] = match;
  // `~> X.0.0` means >= X.0.0 and < X.1.0, so a pre-release of X.0.0 itself is too low
  // (Elixir allows pre-releases above the lower bound, e.g. 2.0.1-dev).
  if (minor !== '0' || (patch === '0' && pre !== undefined)) return null;
  if (major === '1') return v1JsonSerializer;
  if (major === '2') return framing === 'supabase' ? realtimeV2Serializer : v2JsonSerializer;
  return null;
}
