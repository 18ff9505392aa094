/**
 * One customer to import, as the queue message and POST /api/customers take it: the flat form
 * `{ group, mobilenumber, ... }` or the connector's `{ group, importdata: { ... } }`.
 */
import * as z from 'zod';

import type { ImportCustomerRequest } from '../sendmode/api.js';
import { phoneNumberSchema } from './phone-number.js';
import { hasControlCharacters, validate } from './validate.js';

/** The most customers one POST /api/customers may carry (one queue message each). */
export const MAX_CUSTOMER_BATCH = 100;

const text = (max: number) =>
  z
    .string({ error: 'must be a string' })
    .max(max, `must be at most ${max} characters`)
    .refine((value) => !hasControlCharacters(value), 'must not contain control characters');

/** dd/mm/yyyy and a real calendar date, not in the future. */
const dateofbirth = z
  .string({ error: 'must be a string' })
  .refine(
    (value) => isPastCalendarDate(value),
    'must be a real date as dd/mm/yyyy, not in the future',
  );

function isPastCalendarDate(value: string): boolean {
  const match = /^(\d{2})\/(\d{2})\/(\d{4})$/.exec(value);
  if (!match) return false;
  const [day, month, year] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  const real =
    date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
  return real && year >= 1900 && date.getTime() <= Date.now();
}

const customerFields = {
  // The one phone-number rule (phone-number.ts), as for sends.
  mobilenumber: phoneNumberSchema,
  firstname: text(100).optional(),
  surname: text(100).optional(),
  address: text(200).optional(),
  town: text(100).optional(),
  county: text(100).optional(),
  email: z
    .email({ error: 'must be an e-mail address' })
    .max(254, 'must be at most 254 characters')
    .optional(),
  custom1: text(500).optional(),
  custom2: text(500).optional(),
  businessname: text(200).optional(),
  dateofbirth: dateofbirth.optional(),
};

// Not `z.string().pipe(text(100))`: the published schema (shared/http/openapi.ts) shows a pipe's input only.
const group = z
  .string({ error: 'is required and must be a string' })
  .max(100, 'must be at most 100 characters')
  .refine((value) => !hasControlCharacters(value), 'must not contain control characters')
  .refine((value) => value.trim().length > 0, 'must not be empty');

const flatSchema = z.object({ group, ...customerFields }, { error: 'must be a JSON object' });

export const customerSchema = flatSchema.transform(({ group: name, ...importdata }) => ({
  group: name,
  importdata,
}));

/** Accepts `{ group, importdata: {...} }` by lifting importdata's fields beside group. */
function flatten(input: unknown): unknown {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return input;
  const { importdata, ...rest } = input as Record<string, unknown>;
  if (importdata !== null && typeof importdata === 'object' && !Array.isArray(importdata)) {
    return { ...(importdata as Record<string, unknown>), ...rest };
  }
  return input;
}

export function parseCustomer(input: unknown): ImportCustomerRequest {
  return validate(customerSchema, flatten(input));
}

/** One customer, an array, or `{ customers: [...] }`; every bad field is named with its index. */
export function parseCustomerBatch(input: unknown): ImportCustomerRequest[] {
  const list = Array.isArray(input)
    ? input
    : input !== null &&
        typeof input === 'object' &&
        Array.isArray((input as { customers?: unknown }).customers)
      ? (input as { customers: unknown[] }).customers
      : undefined;
  if (!list) return [parseCustomer(input)];
  const batch = z.object({
    customers: z
      .array(z.unknown().transform(flatten).pipe(customerSchema))
      .min(1, 'must hold at least one customer')
      .max(MAX_CUSTOMER_BATCH, `must hold at most ${MAX_CUSTOMER_BATCH} customers`),
  });
  return validate(batch, { customers: list }).customers;
}
