/**
 * Defines `self` as browsers and workers do, before the official clients are imported.
 *
 * phoenix.js 1.7's ESM build finds its global object through `self` or `window` only (its last
 * fallback, `global`, refers to the variable being defined), so under Node it has none and its
 * LongPoll cannot reach `XMLHttpRequest`. 1.8 falls back to `globalThis` and is unaffected.
 * Import this module before `phoenix17`.
 */
const scope = globalThis as { self?: unknown };
if (scope.self === undefined) scope.self = globalThis;
