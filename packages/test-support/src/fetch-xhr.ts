/**
 * A minimal `XMLHttpRequest` on top of `fetch`, so that phoenix.js 1.7's LongPoll, which only
 * knows XHR (1.8 also uses fetch), runs under Node. It covers what that client's `ajax.js` uses:
 * `open`, `setRequestHeader`, `timeout`/`ontimeout`, `onerror`, `onreadystatechange`,
 * `readyState`, `responseText`, `send` and `abort`.
 *
 * `abort()` is silent (no readystatechange): the client aborts requests only when it closes the
 * transport, after which it ignores their answers anyway.
 */
const DONE = 4;

export class FetchXMLHttpRequest {
  readyState = 0;
  status = 0;
  responseText = '';
  timeout = 0;
  onreadystatechange: (() => void) | null = null;
  onerror: (() => void) | null = null;
  ontimeout: (() => void) | null = null;
  #method = 'GET';
  #url = '';
  readonly #headers: Record<string, string> = {};
  readonly #controller = new AbortController();
  #aborted = false;

  open(method: string, url: string): void {
    this.#method = method;
    this.#url = url;
    this.readyState = 1;
  }

  setRequestHeader(name: string, value: string): void {
    this.#headers[name] = value;
  }

  send(body?: string | null): void {
    let timedOut = false;
    const timer =
      this.timeout > 0
        ? setTimeout(() => {
            timedOut = true;
            this.#controller.abort();
          }, this.timeout)
        : undefined;
    fetch(this.#url, { method: this.#method, headers: this.#headers, body: body ?? undefined, signal: this.#controller.signal })
      .then(async (res) => {
        const text = await res.text();
        clearTimeout(timer);
        if (this.#aborted) return;
        this.status = res.status;
        this.responseText = text;
        this.readyState = DONE;
        this.onreadystatechange?.();
      })
      .catch(() => {
        clearTimeout(timer);
        if (timedOut) this.ontimeout?.();
        else if (!this.#aborted) this.onerror?.();
      });
  }

  abort(): void {
    this.#aborted = true;
    this.#controller.abort();
  }
}

/** Installs {@link FetchXMLHttpRequest} as the global `XMLHttpRequest`; returns the uninstaller. */
export function installFetchXhr(): () => void {
  const scope = globalThis as { XMLHttpRequest?: unknown };
  const previous = scope.XMLHttpRequest;
  scope.XMLHttpRequest = FetchXMLHttpRequest;
  return () => {
    if (previous === undefined) delete scope.XMLHttpRequest;
    else scope.XMLHttpRequest = previous;
  };
}
