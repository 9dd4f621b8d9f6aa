/**
 * @module runtime/mounts
 * Internal: the sockets mounted on each endpoint, with their resolved limits and the endpoint's
 * services. The endpoint registers each mount here; `starling-channels/testing` reads them to run
 * the same runtime in process. Not exported by any entry point: a mount is not public API.
 */
import type { Mount } from './services.ts';

const mounts = new WeakMap<object, Map<string, Mount>>();

/** Records `mount` as `endpoint`'s mount at `mount.path`. */
export function registerMount(endpoint: object, mount: Mount): void {
  let byPath = mounts.get(endpoint);
  if (byPath === undefined) mounts.set(endpoint, (byPath = new Map()));
  byPath.set(mount.path, mount);
}

/** The socket mounted at `path` on `endpoint` (a trailing `/` ignored), or undefined. */
export function mountOf(endpoint: object, path: string): Mount | undefined {
  return mounts.get(endpoint)?.get(path.replace(/\/+$/, ''));
}
