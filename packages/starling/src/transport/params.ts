/**
 * @module transport/params
 * Internal: decodes a query string the way Plug does, so params reach `connect` as Phoenix apps expect:
 * `a=1&user[id]=7&list[]=x` → `{a: "1", user: {id: "7"}, list: ["x"]}`. phoenix.js encodes
 * nested objects like that, and arrays as `list[0]=a&list[1]=b` (decoded to an object keyed by
 * index, as Plug does). Empty segments (phoenix.js's trailing `&`) are ignored.
 */
import type { Params } from '../socket.ts';

type MutableParams = { [key: string]: string | MutableParams | (string | MutableParams)[] };

// Client-controlled keys become object properties: refuse the ones that reach prototypes.
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);

/** Parses `search` (with or without `?`) into nested params, skipping the names in `omit`. */
export function parseParams(search: string | URLSearchParams, omit: ReadonlySet<string> = new Set()): Params {
  const params: MutableParams = {};
  const entries = typeof search === 'string' ? new URLSearchParams(search) : search;
  for (const [name, value] of entries) {
    if (name === '' || omit.has(name)) continue;
    const path = splitName(name);
    if (path === null) continue;
    assign(params, path, value);
  }
  return params;
}

/** `user[id][x]` → `["user", "id", "x"]`; `list[]` → `["list", ""]`; null when ill-formed. */
function splitName(name: string): string[] | null {
  const open = name.indexOf('[');
  if (open <= 0) return [name];
  const path = [name.slice(0, open)];
  let rest = name.slice(open);
  while (rest.length > 0) {
    if (rest[0] !== '[') return null;
    const close = rest.indexOf(']');
    if (close === -1) return null;
    path.push(rest.slice(1, close));
    rest = rest.slice(close + 1);
  }
  return path;
}

function assign(target: MutableParams, path: string[], value: string): void {
  let node: MutableParams = target;
  for (let i = 0; i < path.length; i++) {
    const key = path[i]!;
    if (FORBIDDEN.has(key)) return;
    const last = i === path.length - 1;
    const nextIsList = path[i + 1] === '';
    if (last) {
      node[key] = value;
      return;
    }
    if (nextIsList) {
      const existing = node[key];
      const list = Array.isArray(existing) ? existing : [];
      node[key] = list;
      if (i + 1 === path.length - 1) list.push(value);
      return;
    }
    const existing = node[key];
    if (typeof existing === 'object' && existing !== null && !Array.isArray(existing)) {
      node = existing;
    } else {
      const child: MutableParams = {};
      node[key] = child;
      node = child;
    }
  }
}
