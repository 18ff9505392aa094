/** Runs a zod schema and turns its issues into named field errors (never echoing input values). */
import type { z } from 'zod';
import { type FieldError, ValidationError } from '../errors.js';

export function validate<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const errors: FieldError[] = result.error.issues.map((issue) => ({
    field: issue.path.length > 0 ? issue.path.join('/') : 'body',
    message: issue.message,
  }));
  throw new ValidationError(errors);
}

/** Accepts the connector's wrapped form `{ "<key>": { ...fields } }` as well as the bare fields. */
export function unwrap(input: unknown, key: string, marker: string): unknown {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return input;
  const record = input as Record<string, unknown>;
  const inner = record[key];
  if (!(marker in record) && inner !== null && typeof inner === 'object' && !Array.isArray(inner)) {
    return inner;
  }
  return input;
}
