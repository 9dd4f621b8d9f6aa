/**
 * The chat's abuse budgets: what one user and one IP address may do per window (store messages,
 * edit or delete them, say they are typing, move their read position, create rooms and invites,
 * create identities, join rooms, read pages of history), the byte caps
 * of a history page and of a reconnect's replay, and how much of each room's recent traffic the
 * server keeps in memory for
 * reconnecting pages.
 * Every budget refused is counted in `/metrics` as `chat_budget_refused_total{action, scope}`.
 * Defaults fit a small public deployment; `server.ts` reads each from an environment variable.
 */
import { Counter, type Registry } from 'prom-client';
import { Budget, type Rate } from './budget.ts';

/** Budgets and caps of the chat; every field has a default in {@link DEFAULT_LIMITS}. */
export interface ChatLimits {
  /** Messages stored per user (`MESSAGES_PER_USER`). */
  readonly messagesPerUser: Rate;
  /** Messages stored per IP address, all its users together (`MESSAGES_PER_IP`): the disk bound. */
  readonly messagesPerIp: Rate;
  /** Rooms created per user (`ROOMS_PER_USER`). */
  readonly roomsPerUser: Rate;
  /** Rooms created per IP address (`ROOMS_PER_IP`). */
  readonly roomsPerIp: Rate;
  /** Invite links issued per user (`INVITES_PER_USER`); creating a room issues one. */
  readonly invitesPerUser: Rate;
  /** Invite links issued per IP address (`INVITES_PER_IP`). */
  readonly invitesPerIp: Rate;
  /** New identities (`POST /api/identity` without a valid token) per IP address (`IDENTITIES_PER_IP`). */
  readonly identitiesPerIp: Rate;
  /** Room joins, re-joins included, per user, or per IP address for guests (`JOINS_PER_USER`). */
  readonly joinsPerUser: Rate;
  /** Room joins per IP address, guests and users together (`JOINS_PER_IP`). */
  readonly joinsPerIp: Rate;
  /** `user_joined` announcements per user and room (`ANNOUNCEMENTS_PER_USER`); a re-join within it is silent. */
  readonly announcementsPerUser: Rate;
  /** `history` requests (pages of older messages) per user (`HISTORY_PER_USER`). */
  readonly historyPerUser: Rate;
  /** `history` requests per IP address, users and guests together (`HISTORY_PER_IP`). */
  readonly historyPerIp: Rate;
  /** `history` requests of all the guests of one IP address together (`HISTORY_PER_GUEST_IP`): guests are free to make. */
  readonly historyPerGuestIp: Rate;
  /** Edits and deletes of one's own messages per user (`EDITS_PER_USER`): each is a store write and a broadcast. */
  readonly editsPerUser: Rate;
  /** Edits and deletes per IP address (`EDITS_PER_IP`). */
  readonly editsPerIp: Rate;
  /** `typing` notices per user (`TYPING_PER_USER`); the page sends at most one every 3 seconds while typing. */
  readonly typingPerUser: Rate;
  /** `typing` notices per IP address (`TYPING_PER_IP`). */
  readonly typingPerIp: Rate;
  /** `read` position updates per user (`READS_PER_USER`): each is a store write. */
  readonly readsPerUser: Rate;
  /** `read` position updates per IP address (`READS_PER_IP`). */
  readonly readsPerIp: Rate;
  /** Largest history page (join reply, `history` reply) in bytes of JSON (`HISTORY_PAGE_BYTES`). */
  readonly historyPageBytes: number;
  /**
   * Publications (messages and announcements) each room keeps in memory so that a page that
   * reconnects gets exactly what it missed without reading the store (`REPLAY_MESSAGES`).
   */
  readonly replayMessages: number;
  /** How long a publication stays there, in seconds (`REPLAY_SECONDS`). */
  readonly replaySeconds: number;
  /** How many rooms keep one at once; the least recently active room loses its own first (`REPLAY_ROOMS`). */
  readonly replayRooms: number;
  /**
   * The most one reconnect may replay, in bytes (`REPLAY_BYTES`; the framework's
   * `history.maxReplayBytes`): a page that missed more gets `recovered: false` and reloads the
   * latest page instead, so a rejoin never costs more than a join that reads a page.
   */
  readonly replayBytes: number;
}

/** Defaults: a person chatting never meets them; one IP address stores at most ~4,000 messages a day. */
export const DEFAULT_LIMITS: ChatLimits = {
  messagesPerUser: { count: 20, seconds: 60 },
  messagesPerIp: { count: 2000, seconds: 86_400 },
  roomsPerUser: { count: 10, seconds: 3600 },
  roomsPerIp: { count: 50, seconds: 86_400 },
  invitesPerUser: { count: 50, seconds: 3600 },
  invitesPerIp: { count: 200, seconds: 86_400 },
  identitiesPerIp: { count: 20, seconds: 3600 },
  joinsPerUser: { count: 30, seconds: 60 },
  joinsPerIp: { count: 120, seconds: 60 },
  announcementsPerUser: { count: 1, seconds: 60 },
  // A reader paging back gets a page every 2 s for a minute; one address's guests together at most
  // 20 pages (≤ 1.3 MB) a minute, however many sockets they open.
  historyPerUser: { count: 30, seconds: 60 },
  historyPerIp: { count: 120, seconds: 60 },
  historyPerGuestIp: { count: 20, seconds: 60 },
  historyPageBytes: 64 * 1024,
  // Fixing typos now and then; typing notices at the page's pace (one per 3 s) with room for two
  // tabs; read positions as a reader opens rooms and scrolls (the page sends one per second at most).
  editsPerUser: { count: 20, seconds: 60 },
  editsPerIp: { count: 200, seconds: 60 },
  typingPerUser: { count: 40, seconds: 60 },
  typingPerIp: { count: 400, seconds: 60 },
  readsPerUser: { count: 60, seconds: 60 },
  readsPerIp: { count: 600, seconds: 60 },
  // A reconnect within 10 minutes that missed at most 300 publications resumes from memory; a
  // longer outage reloads the page of history. Memory is bounded by what is posted in 10 minutes
  // (itself bounded by the message budgets), by 300 per room and by 1,000 rooms.
  replayMessages: 300,
  replaySeconds: 600,
  replayRooms: 1000,
  // As much as a history page: a rejoin with `recover` (counted against the join budgets like any
  // join) sends no more than the join reply it replaces.
  replayBytes: 64 * 1024,
};

/** An action with a budget. */
export type BudgetedAction = 'message' | 'edit' | 'typing' | 'read' | 'room' | 'invite' | 'identity' | 'join' | 'history';

/** The budgets of one chat process, with their refusal counter. */
export class Budgets {
  readonly limits: ChatLimits;
  readonly #perUser: Record<Exclude<BudgetedAction, 'identity'>, Budget>;
  readonly #perIp: Record<BudgetedAction, Budget>;
  readonly #announcements: Budget;
  readonly #guestHistory: Budget;
  readonly #refused: Counter<'action' | 'scope'>;

  constructor(limits: ChatLimits, registry: Registry) {
    this.limits = limits;
    this.#perUser = {
      message: new Budget(limits.messagesPerUser),
      edit: new Budget(limits.editsPerUser),
      typing: new Budget(limits.typingPerUser),
      read: new Budget(limits.readsPerUser),
      room: new Budget(limits.roomsPerUser),
      invite: new Budget(limits.invitesPerUser),
      join: new Budget(limits.joinsPerUser),
      history: new Budget(limits.historyPerUser),
    };
    this.#perIp = {
      message: new Budget(limits.messagesPerIp),
      edit: new Budget(limits.editsPerIp),
      typing: new Budget(limits.typingPerIp),
      read: new Budget(limits.readsPerIp),
      room: new Budget(limits.roomsPerIp),
      invite: new Budget(limits.invitesPerIp),
      identity: new Budget(limits.identitiesPerIp),
      join: new Budget(limits.joinsPerIp),
      history: new Budget(limits.historyPerIp),
    };
    this.#announcements = new Budget(limits.announcementsPerUser);
    this.#guestHistory = new Budget(limits.historyPerGuestIp);
    this.#refused = new Counter({
      name: 'chat_budget_refused_total',
      help: 'Actions refused because a user or an IP address was over its budget.',
      labelNames: ['action', 'scope'],
      registers: [registry],
    });
  }

  /**
   * Spends one `action` from the budgets of `ip` and (when given) `userId`; a guest's `history`
   * also from the budget all guests of `ip` share.
   * @returns null when allowed, or the scope that was over budget (a refused user spends nothing from the IP)
   */
  take(action: BudgetedAction, ip: string, userId: string | null): 'user' | 'ip' | null {
    if (userId !== null && action !== 'identity' && !this.#perUser[action].take(userId)) return this.#refuse(action, 'user');
    // Anyone may open guest sockets: their budget is their address's, tighter than a user's.
    if (userId === null && action === 'history' && !this.#guestHistory.take(ip)) return this.#refuse(action, 'ip');
    if (!this.#perIp[action].take(ip)) return this.#refuse(action, 'ip');
    return null;
  }

  /** Whether `userId` may be announced in `room` now (at most {@link ChatLimits.announcementsPerUser}). */
  announce(room: string, userId: string): boolean {
    return this.#announcements.take(`${room}\u0000${userId}`);
  }

  #refuse(action: BudgetedAction, scope: 'user' | 'ip'): 'user' | 'ip' {
    this.#refused.inc({ action, scope });
    return scope;
  }
}
