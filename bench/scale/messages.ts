/**
 * @module bench/scale/messages
 * What the 100k harness (`chat-100k.ts`) and its load processes (`load.ts`) tell each other over
 * IPC. Times are µs on CLOCK_MONOTONIC ({@link import('../lib/body.ts').nowMicros}), comparable
 * between the processes of the machine.
 */

/** Which server the sockets speak to: the chat (phoenix.js's V2 JSON) or the bare ceiling. */
export type ScaleDialect = 'chat' | 'bare';

/**
 * Open `sockets` sockets, socket k from source address `${addressPrefix}${2 + k % addresses}`, at
 * most `concurrency` handshakes + joins in flight.
 */
export interface LoadConnect {
  readonly type: 'connect';
  readonly dialect: ScaleDialect;
  readonly port: number;
  readonly sockets: number;
  /** Three bytes of a 127/8 address and a dot, e.g. `127.12.1.`. */
  readonly addressPrefix: string;
  /** Source addresses to spread the sockets over (≤ 250). */
  readonly addresses: number;
  readonly concurrency: number;
}

/** Harness → load process. */
export type ToLoad =
  | LoadConnect
  /** Broadcast `index` carries `marker`: stamp its arrival on every socket. */
  | { readonly type: 'expect'; readonly index: number; readonly marker: string }
  /** How many sockets broadcast `index` has reached so far (after a timeout). */
  | { readonly type: 'count'; readonly index: number }
  | { readonly type: 'stop' };

/** Load process → harness. */
export type FromLoad =
  | { readonly type: 'ready' }
  | { readonly type: 'progress'; readonly joined: number; readonly failed: number }
  | {
      readonly type: 'connected';
      readonly joined: number;
      readonly failed: number;
      readonly firstError: string | null;
      readonly startedAt: number;
      readonly finishedAt: number;
    }
  | { readonly type: 'armed'; readonly index: number }
  /** Every joined socket of this process has broadcast `index`. */
  | { readonly type: 'arrived'; readonly index: number; readonly arrived: number; readonly firstAt: number; readonly lastAt: number }
  | { readonly type: 'count'; readonly index: number; readonly arrived: number; readonly dropped: number };
