/**
 * A LongPoll client that speaks plain HTTP with `fetch`, with no client library: what the raw
 * LongPoll suite uses to check the transport (§6) request by request.
 *
 * Every answer of the transport must be the envelope of §6.2 — HTTP 200, a JSON body with the
 * logical `status` inside, `cache-control: no-store` and `access-control-allow-origin: *` — so
 * {@link longPollRequest} checks it on every answer and throws when it is missing: no test can
 * forget to. {@link rawLongPollRequest} is for the few requests that must not get the envelope.
 */

/** The JSON body of a LongPoll answer. */
export interface LongPollBody {
  readonly status: number;
  readonly token?: string;
  readonly messages?: readonly string[];
}

/** One HTTP answer of the transport. */
export interface LongPollAnswer {
  readonly httpStatus: number;
  readonly headers: Headers;
  readonly text: string;
}

/** An answer that carried the §6.2 envelope, with its parsed body. */
export interface EnvelopeAnswer extends LongPollAnswer {
  readonly body: LongPollBody;
}

/** What to send. */
export interface LongPollRequest {
  readonly method?: string;
  /** Query params; `vsn` is not added implicitly. */
  readonly query?: Readonly<Record<string, string>>;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Gives up (rejects) after this long. Default 5 s. */
  readonly timeoutMs?: number;
}

function urlWith(base: string, query: Readonly<Record<string, string>> = {}): string {
  const url = new URL(base);
  for (const [key, value] of Object.entries(query)) url.searchParams.append(key, value);
  return url.toString();
}

/** Sends one request and returns the answer as it is, without checking it. */
export async function rawLongPollRequest(url: string, request: LongPollRequest = {}): Promise<LongPollAnswer> {
  const res = await fetch(urlWith(url, request.query), {
    method: request.method ?? 'GET',
    headers: request.headers,
    body: request.body,
    signal: AbortSignal.timeout(request.timeoutMs ?? 5000),
  });
  return { httpStatus: res.status, headers: res.headers, text: await res.text() };
}

/** Throws unless `answer` is the §6.2 envelope; returns it with its parsed body. */
export function envelopeOf(answer: LongPollAnswer): EnvelopeAnswer {
  const problems: string[] = [];
  if (answer.httpStatus !== 200) problems.push(`HTTP ${answer.httpStatus}`);
  if (answer.headers.get('cache-control') !== 'no-store') problems.push(`cache-control: ${answer.headers.get('cache-control')}`);
  if (answer.headers.get('access-control-allow-origin') !== '*') {
    problems.push(`access-control-allow-origin: ${answer.headers.get('access-control-allow-origin')}`);
  }
  if (!(answer.headers.get('content-type') ?? '').startsWith('application/json')) {
    problems.push(`content-type: ${answer.headers.get('content-type')}`);
  }
  let body: unknown;
  try {
    body = JSON.parse(answer.text);
  } catch {
    problems.push(`body is not JSON: ${answer.text}`);
  }
  if (typeof (body as { status?: unknown } | undefined)?.status !== 'number') problems.push(`no numeric status in ${answer.text}`);
  if (problems.length > 0) throw new Error(`not a LongPoll envelope (${problems.join('; ')})`);
  return { ...answer, body: body as LongPollBody };
}

/** Sends one request and checks that the answer is the §6.2 envelope. */
export async function longPollRequest(url: string, request: LongPollRequest = {}): Promise<EnvelopeAnswer> {
  return envelopeOf(await rawLongPollRequest(url, request));
}

/** Joins frames as an `application/x-ndjson` body, one JSON text per line. */
export function ndjson(frames: readonly unknown[]): string {
  return frames.map((frame) => (typeof frame === 'string' ? frame : JSON.stringify(frame))).join('\n');
}

/**
 * One LongPoll session seen from the client: the token from the opening GET, polls that collect
 * every delivered frame in arrival order, and ndjson publishes.
 */
export class LongPollClient {
  /** Frames delivered by polls and not yet taken by {@link next}, parsed. */
  readonly frames: unknown[] = [];

  readonly url: string;
  readonly token: string;
  readonly query: Readonly<Record<string, string>>;
  private constructor(url: string, token: string, query: Readonly<Record<string, string>>) {
    this.url = url;
    this.token = token;
    this.query = query;
  }

  /**
   * Opens a session with a GET without token (§6.3).
   * @param query connect params; default `{vsn: "2.0.0"}`
   */
  static async open(url: string, query: Readonly<Record<string, string>> = { vsn: '2.0.0' }): Promise<LongPollClient> {
    const answer = await longPollRequest(url, { query });
    if (answer.body.status !== 410 || typeof answer.body.token !== 'string') {
      throw new Error(`session not opened: ${answer.text}`);
    }
    return new LongPollClient(url, answer.body.token, query);
  }

  /** One GET with the session token in the query, as every released phoenix.js sends it. */
  async poll(timeoutMs = 5000): Promise<EnvelopeAnswer> {
    const answer = await longPollRequest(this.url, { query: { ...this.query, token: this.token }, timeoutMs });
    for (const message of answer.body.messages ?? []) this.frames.push(JSON.parse(message));
    return answer;
  }

  /** POSTs `frames` as ndjson (what phoenix.js ≥ 1.7 sends). */
  post(frames: readonly unknown[]): Promise<EnvelopeAnswer> {
    return this.postBody(ndjson(frames), 'application/x-ndjson');
  }

  /** POSTs a body as it is with the given content type. */
  postBody(body: string, contentType: string, timeoutMs = 5000): Promise<EnvelopeAnswer> {
    return longPollRequest(this.url, {
      method: 'POST',
      query: { ...this.query, token: this.token },
      headers: { 'content-type': contentType },
      body,
      timeoutMs,
    });
  }

  /** Polls until a frame matching `match` has arrived; takes it out of {@link frames} and returns it. */
  async next(match: (frame: unknown[]) => boolean = () => true, timeoutMs = 3000): Promise<unknown[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.frames.findIndex((frame) => Array.isArray(frame) && match(frame));
      if (index >= 0) return this.frames.splice(index, 1)[0] as unknown[];
      if (Date.now() > deadline) {
        throw new Error(`no matching frame within ${timeoutMs} ms; received: ${this.frames.map((f) => JSON.stringify(f)).join(' | ')}`);
      }
      const answer = await this.poll();
      if (answer.body.status !== 200 && answer.body.status !== 204) throw new Error(`poll answered ${answer.text}`);
    }
  }

  /** Polls until the V2 reply to `ref` has arrived. */
  reply(ref: unknown, timeoutMs = 3000): Promise<unknown[]> {
    return this.next((frame) => frame[1] === ref && frame[3] === 'phx_reply', timeoutMs);
  }
}
