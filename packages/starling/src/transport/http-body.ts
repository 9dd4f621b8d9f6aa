/**
 * @module transport/http-body
 * Internal: reading a bounded HTTP request body, for the endpoints that take one (LongPoll's
 * publish, the Supabase REST API). A body over the limit is never buffered whole: from the first
 * byte beyond it the rest is discarded unread and the read fails with an {@link HttpError} 413,
 * so the caller can still answer before the connection closes.
 */
import type { IncomingMessage } from 'node:http';

/** A request answered with an HTTP status instead of its normal outcome. */
export class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message = `HTTP ${status}`) {
    super(message);
    this.status = status;
  }
}

/**
 * The body of `req`, at most `limit` bytes.
 * @throws HttpError 413 when the body is larger; the stream's own error when it fails
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        // Answered 413 (the connection then closes); the rest of the upload is discarded unread.
        reject(new HttpError(413, `body larger than ${limit} bytes`));
        req.removeAllListeners('data');
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
