/**
 * @module runtime/inbound-validation
 * Internal: a channel's `schemas` applied to a client event before its `handleIn` (Standard
 * Schema, so Zod, Valibot, ArkType… all fit). Untrusted input never reaches `handleIn` unchecked:
 * a payload that fails, or an event without a schema, is answered with an error reply instead.
 */
import { reply, type ChannelSchemas, type StandardSchemaV1, type UntypedEvents } from '../channel.ts';
import { Reasons, type Message } from '../protocol.ts';
import { isPromise } from './callback-results.ts';

/**
 * Validates `message.payload` with its event's schema and calls `handleIn` with the schema's
 * output; otherwise returns the error reply (`unknown event`, or `invalid payload` with the issues).
 * Sync when the schema is.
 */
export function validateInbound(schemas: ChannelSchemas<UntypedEvents>, message: Message, handleIn: (event: string, value: unknown) => unknown): unknown {
  const schema = Object.hasOwn(schemas, message.event) ? schemas[message.event] : undefined;
  if (schema === undefined) return reply('error', { reason: Reasons.unknownEvent });
  const decide = (result: StandardSchemaV1.Result<unknown>): unknown =>
    result.issues === undefined
      ? handleIn(message.event, result.value)
      : reply('error', { reason: Reasons.invalidPayload, issues: result.issues.map(wireIssue) });
  const result = schema['~standard'].validate(message.payload);
  return isPromise<StandardSchemaV1.Result<unknown>>(result) ? result.then(decide) : decide(result);
}

/** A validation issue as the client receives it: its message and its path as JSON keys. */
function wireIssue(issue: StandardSchemaV1.Issue): { message: string; path: Array<string | number> } {
  const path = (issue.path ?? []).map((segment) => {
    const key = typeof segment === 'object' ? segment.key : segment;
    return typeof key === 'number' ? key : String(key);
  });
  return { message: issue.message, path };
}
