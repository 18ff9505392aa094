/**
 * The fields of a delivery report as the route receives it: the query string (a `GET`, as in
 * Sendmode's documented example), then a form or JSON body (a `POST`); the body wins. The
 * function key (`code`) is the route's, not the report's.
 */
import type { HttpRequest } from '@azure/functions';

import { UnsupportedMediaTypeError, ValidationError } from '../errors.js';
import { isJsonType, mediaType, parseJson, readBodyBytes } from '../http/http.js';
import { fieldsOf, type ReportFields } from './report-format.js';

const FORM_TYPE = 'application/x-www-form-urlencoded';
/** A report is a handful of short fields. */
const MAX_REPORT_BYTES = 8 * 1024;

export async function readReportFields(request: HttpRequest): Promise<ReportFields> {
  const query = [...request.query].filter(([name]) => name.toLowerCase() !== 'code');
  const body =
    request.method === 'GET' ? Buffer.alloc(0) : await readBodyBytes(request, MAX_REPORT_BYTES);
  if (body.length === 0) return fieldsOf(query);
  const type = mediaType(request);
  const text = body.toString('utf8');
  if (type === FORM_TYPE) return fieldsOf([...new URLSearchParams(text), ...query]);
  if (isJsonType(type)) return fieldsOf([...jsonFields(parseJson(text)), ...query]);
  throw new UnsupportedMediaTypeError(type, [FORM_TYPE, 'application/json']);
}

function jsonFields(value: unknown): [string, unknown][] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ValidationError([{ field: 'body', message: 'must be a JSON object' }]);
  }
  return Object.entries(value);
}
