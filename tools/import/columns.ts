/**
 * A CSV header → the customer fields the queue takes. Names match case-insensitively and
 * ignoring spaces, dashes, underscores and dots, so `Mobile Number`, `mobile_number` and
 * `MOBILE` are one column; common spellings (phone, first name, dob, …) are accepted too.
 */

export const CUSTOMER_FIELDS = [
  'group',
  'mobilenumber',
  'firstname',
  'surname',
  'address',
  'town',
  'county',
  'email',
  'custom1',
  'custom2',
  'businessname',
  'dateofbirth',
] as const;

export type CustomerField = (typeof CUSTOMER_FIELDS)[number];

const ALIASES: Record<CustomerField, string[]> = {
  group: ['group', 'groupname', 'list', 'listname'],
  mobilenumber: [
    'mobilenumber',
    'mobile',
    'mobileno',
    'mobilephone',
    'mobilephonenumber',
    'phone',
    'phonenumber',
    'phoneno',
    'cell',
    'cellphone',
    'cellnumber',
    'msisdn',
    'number',
    'telephone',
    'tel',
  ],
  firstname: ['firstname', 'first', 'forename', 'givenname'],
  surname: ['surname', 'lastname', 'last', 'familyname'],
  address: ['address', 'address1', 'addressline1', 'street', 'streetaddress'],
  town: ['town', 'city'],
  county: ['county', 'state', 'region', 'province'],
  email: ['email', 'emailaddress', 'mail'],
  custom1: ['custom1', 'customfield1'],
  custom2: ['custom2', 'customfield2'],
  businessname: [
    'businessname',
    'business',
    'company',
    'companyname',
    'organisation',
    'organization',
  ],
  dateofbirth: ['dateofbirth', 'dob', 'birthdate', 'birthday'],
};

const BY_ALIAS = new Map<string, CustomerField>(
  CUSTOMER_FIELDS.flatMap((field) => ALIASES[field].map((alias) => [alias, field] as const)),
);

export function normaliseHeader(name: string): string {
  return name.toLowerCase().replace(/[\s\-_.]+/g, '');
}

export interface ColumnMap {
  /** Column index → field. */
  fields: Map<number, CustomerField>;
  /** Header names that name no field (ignored). */
  ignored: string[];
}

export class HeaderError extends Error {}

/** Maps a header row; throws HeaderError when a field is named twice or the number is missing. */
export function mapColumns(header: string[], hasDefaultGroup: boolean): ColumnMap {
  const fields = new Map<number, CustomerField>();
  const seen = new Map<CustomerField, string>();
  const ignored: string[] = [];
  header.forEach((name, index) => {
    const field = BY_ALIAS.get(normaliseHeader(name));
    if (!field) {
      if (name.trim() !== '') ignored.push(name.trim());
      return;
    }
    const earlier = seen.get(field);
    if (earlier !== undefined) {
      throw new HeaderError(
        `The columns "${earlier}" and "${name.trim()}" both mean ${field}: keep one (or rename the other).`,
      );
    }
    seen.set(field, name.trim());
    fields.set(index, field);
  });
  if (!seen.has('mobilenumber')) {
    throw new HeaderError(
      `The header has no mobile number column: name one ${ALIASES.mobilenumber.slice(0, 5).join(', ')} or similar. ` +
        `Columns found: ${header.map((h) => h.trim()).join(', ') || '(none)'}.`,
    );
  }
  if (!seen.has('group') && !hasDefaultGroup) {
    throw new HeaderError('No group: pass --group NAME or add a "group" column.');
  }
  return { fields, ignored };
}

/** The header name of `field` in this file (for messages), or the field itself. */
export function columnName(header: string[], columns: ColumnMap, field: string): string {
  for (const [index, mapped] of columns.fields) {
    if (mapped === field) return header[index]?.trim() || field;
  }
  return field;
}
