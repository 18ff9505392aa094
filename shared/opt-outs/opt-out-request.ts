/**
 * The fields of an opt-out: query string, then a JSON or form body. A signed delivery's fields
 * come from its body only (the signature covers the body, not the URL), and so do a flow's.
 */
import type { HttpRequest } from '@azure/functions';

import { UnsupportedMediaTypeError } from '../errors.js';
import { isJsonType, mediaType, parseJson } from '../http/http.js';
import { fieldsFromForm, fieldsFromJson, fieldsFromQuery } from '../schemas/opt-out-fields.js';

const FORM_TYPE = 'application/x-www-form-urlencoded';

/** Sources in precedence order (later wins): the query string (unless `bodyOnly`), then the body. */
export function readOptOutFields(
  request: HttpRequest,
  rawBody: Buffer,
  bodyOnly: boolean,
): Record<string, unknown>[] {
  const query = bodyOnly ? {} : fieldsFromQuery(request.query);
  if (rawBody.length === 0) return [query];
  const type = mediaType(request);
  const text = rawBody.toString('utf8');
  if (type === FORM_TYPE) return [query, fieldsFromForm(text)];
  if (isJsonType(type)) return [query, fieldsFromJson(parseJson(text))];
  throw new UnsupportedMediaTypeError(type, ['application/json', FORM_TYPE]);
}
