/**
 * HTTP route templates as the Functions host reads them (ASP.NET Core route syntax, the subset a
 * function route uses): literal segments (case-insensitive), `{name}`, `{name?}`,
 * `{name:constraint}`, `{name=default}` and a final catch-all `{*name}`. Constraints: int, long,
 * bool, guid, alpha, double, float, decimal, min(n), max(n), range(a,b), minlength(n),
 * maxlength(n), length(n), regex(...); others are accepted without checking.
 */

type Segment =
  | { kind: 'literal'; text: string }
  | {
      kind: 'param';
      name: string;
      optional: boolean;
      catchAll: boolean;
      defaultValue?: string;
      constraints: ((value: string) => boolean)[];
    };

export interface CompiledRoute {
  template: string;
  segments: Segment[];
  /** Sort key: more specific routes first. */
  rank: number[];
}

const GUID =
  /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$|^\{[0-9a-f-]{36}\}$/i;

function constraint(spec: string): ((value: string) => boolean) | undefined {
  const match = /^(\w+)(?:\((.*)\))?$/.exec(spec);
  if (!match) return undefined;
  const [, kind = '', argument = ''] = match;
  const n = Number(argument);
  const [a = NaN, b = NaN] = argument.split(',').map(Number);
  switch (kind.toLowerCase()) {
    case 'int':
    case 'long':
      return (v) => /^-?\d+$/.test(v);
    case 'bool':
      return (v) => /^(true|false)$/i.test(v);
    case 'guid':
      return (v) => GUID.test(v);
    case 'alpha':
      return (v) => /^[a-z]+$/i.test(v);
    case 'double':
    case 'float':
    case 'decimal':
      return (v) => v.trim() !== '' && Number.isFinite(Number(v));
    case 'min':
      return (v) => /^-?\d+$/.test(v) && Number(v) >= n;
    case 'max':
      return (v) => /^-?\d+$/.test(v) && Number(v) <= n;
    case 'range':
      return (v) => /^-?\d+$/.test(v) && Number(v) >= a && Number(v) <= b;
    case 'minlength':
      return (v) => v.length >= n;
    case 'maxlength':
      return (v) => v.length <= n;
    case 'length':
      return argument.includes(',') ? (v) => v.length >= a && v.length <= b : (v) => v.length === n;
    case 'regex': {
      const re = new RegExp(argument, 'i');
      return (v) => re.test(v);
    }
    default:
      return undefined;
  }
}

export function compileRoute(template: string): CompiledRoute {
  const parts = template.split('/').filter((p) => p !== '');
  const segments: Segment[] = parts.map((part, index) => {
    const param =
      /^\{(\*{1,2})?([^{}:=?]+)((?::[^{}=?]+(?:\([^)]*\))?)*)(?:=([^{}?]*))?(\?)?\}$/.exec(part);
    if (!param) {
      if (part.includes('{') || part.includes('}')) {
        throw new Error(
          `Route "${template}": segment "${part}" is not supported by the local host.`,
        );
      }
      return { kind: 'literal', text: part };
    }
    const [, star, name = '', constraintText = '', defaultValue, optional] = param;
    if (star && index !== parts.length - 1) {
      throw new Error(`Route "${template}": a catch-all parameter must be the last segment.`);
    }
    const constraints = constraintText
      .split(':')
      .filter((c) => c !== '')
      .flatMap((c) => {
        const check = constraint(c);
        return check ? [check] : [];
      });
    return {
      kind: 'param',
      name,
      optional: Boolean(optional) || defaultValue !== undefined || Boolean(star),
      catchAll: Boolean(star),
      ...(defaultValue !== undefined ? { defaultValue } : {}),
      constraints,
    };
  });
  const rank = segments.map((s) =>
    s.kind === 'literal' ? 0 : s.catchAll ? 4 : s.optional ? 3 : s.constraints.length > 0 ? 1 : 2,
  );
  return { template, segments, rank };
}

/** Route values for `path` (already split into decoded segments), or undefined when it does not match. */
export function matchRoute(
  route: CompiledRoute,
  path: string[],
): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  let i = 0;
  for (const segment of route.segments) {
    if (segment.kind === 'literal') {
      if (path[i]?.toLowerCase() !== segment.text.toLowerCase()) return undefined;
      i++;
      continue;
    }
    if (segment.catchAll) {
      const rest = path.slice(i).join('/');
      if (rest !== '') params[segment.name] = rest;
      else if (segment.defaultValue !== undefined) params[segment.name] = segment.defaultValue;
      i = path.length;
      continue;
    }
    const value = path[i];
    if (value === undefined || value === '') {
      if (!segment.optional) return undefined;
      if (segment.defaultValue !== undefined) params[segment.name] = segment.defaultValue;
      continue;
    }
    if (!segment.constraints.every((check) => check(value))) return undefined;
    params[segment.name] = value;
    i++;
  }
  return i === path.length ? params : undefined;
}

/** Orders routes so the most specific is tried first (literals before parameters, ...). */
export function compareRoutes(a: CompiledRoute, b: CompiledRoute): number {
  for (let i = 0; i < Math.max(a.rank.length, b.rank.length); i++) {
    const x = a.rank[i] ?? -1;
    const y = b.rank[i] ?? -1;
    if (x !== y) return x - y;
  }
  return 0;
}
