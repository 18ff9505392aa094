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

/** C0 controls other than tab, CR and LF, and DEL: never meaningful in a name or an address. */
export function hasControlCharacters(text: string): boolean {
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if ((code < 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d) || code === 0x7f) {
      return true;
    }
  }
  return false;
}
