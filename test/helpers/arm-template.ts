/**
 * Reading a compiled ARM template (the JSON `bicep build` writes): finding the Bicep CLI,
 * walking modules (nested deployments) and evaluating the small subset of template expressions
 * the infra tests need (parameters, variables, format, if, union, ...). What cannot be known
 * before a deployment (reference(), uniqueString(), subscription()) evaluates to UNKNOWN.
 */
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface TemplateParameter {
  type: string;
  defaultValue?: Json;
  allowedValues?: Json[];
}

export interface Resource extends JsonObject {
  type: string;
  name: string;
}

export interface Template {
  $schema: string;
  parameters?: Record<string, TemplateParameter>;
  variables?: JsonObject;
  resources: Resource[] | Record<string, Resource>;
  outputs?: Record<string, { type: string; value: Json }>;
}

/** A value that is only known during a deployment. */
export const UNKNOWN = Symbol('unknown until deployment');
export type Value = Json | typeof UNKNOWN | Value[] | { [key: string]: Value };

/** The Bicep CLI: $BICEP, the project's link (.tools/bin/bicep), PATH, or the pinned NuGet copy. */
export function findBicep(root: string, env: NodeJS.ProcessEnv): string | undefined {
  const candidates: string[] = [];
  if (env.BICEP) candidates.push(env.BICEP);
  candidates.push(join(root, '.tools', 'bin', 'bicep'));
  for (const dir of (env.PATH ?? '').split(delimiter)) if (dir) candidates.push(join(dir, 'bicep'));
  candidates.push(join(homedir(), '.azure', 'bin', 'bicep'));
  const csproj = join(root, 'infra', 'tools', 'bicep-cli.csproj');
  const version = existsSync(csproj)
    ? /<BicepVersion>([^<]+)<\/BicepVersion>/.exec(readFileSync(csproj, 'utf8'))?.[1]
    : undefined;
  if (version) {
    const packages = env.NUGET_PACKAGES ?? join(homedir(), '.nuget', 'packages');
    candidates.push(join(packages, 'azure.bicep.commandline.linux-x64', version, 'tools', 'bicep'));
  }
  return candidates.find((path) => {
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export function resourcesOf(template: Template): Resource[] {
  return Array.isArray(template.resources) ? template.resources : Object.values(template.resources);
}

/** A template with the values its parameters take: passed by the parent, else their defaults. */
export class Scope {
  private readonly cache = new Map<string, Value>();

  constructor(
    readonly template: Template,
    private readonly argument: (name: string) => Value | undefined,
  ) {}

  /** The top-level template, with `given` parameter values over the defaults. */
  static root(template: Template, given: Record<string, Json>): Scope {
    return new Scope(template, (name) => given[name]);
  }

  /** The nested template of the module (Microsoft.Resources/deployments) called `name`. */
  module(name: string): Module {
    const resource = resourcesOf(this.template).find(
      (r) => r.type === 'Microsoft.Resources/deployments' && r.name === name,
    );
    if (!resource) throw new Error(`no module named ${name}`);
    const properties = resource.properties as JsonObject;
    const passed = (properties.parameters ?? {}) as Record<string, { value: Json }>;
    const nested = new Scope(properties.template as unknown as Template, (param) =>
      param in passed ? this.evaluate(passed[param]!.value) : undefined,
    );
    return { resource, passed, scope: nested };
  }

  parameter(name: string): Value {
    const key = `p:${name}`;
    if (!this.cache.has(key)) {
      const declared = this.template.parameters?.[name];
      if (!declared) throw new Error(`no parameter ${name}`);
      const given = this.argument(name);
      this.cache.set(
        key,
        given !== undefined
          ? given
          : declared.defaultValue === undefined
            ? UNKNOWN
            : this.evaluate(declared.defaultValue),
      );
    }
    return this.cache.get(key)!;
  }

  variable(name: string): Value {
    const key = `v:${name}`;
    if (!this.cache.has(key)) {
      const declared = this.template.variables?.[name];
      if (declared === undefined) throw new Error(`no variable ${name}`);
      this.cache.set(key, this.evaluate(declared));
    }
    return this.cache.get(key)!;
  }

  /** Evaluates a template value: strings in [brackets] are expressions; objects and arrays recursively. */
  evaluate(value: Json): Value {
    if (Array.isArray(value)) return value.map((item) => this.evaluate(item));
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.evaluate(v)]));
    }
    if (typeof value !== 'string') return value;
    if (!value.startsWith('[') || !value.endsWith(']')) return value;
    if (value.startsWith('[[')) return value.slice(1);
    return new Expression(value.slice(1, -1), this).evaluate();
  }
}

export interface Module {
  resource: Resource;
  passed: Record<string, { value: Json }>;
  scope: Scope;
}

type Token = { kind: 'string' | 'number' | 'name' | 'punct'; text: string };

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'") {
      let text = '';
      i++;
      for (;;) {
        if (i >= source.length) throw new Error(`unterminated string in ${source}`);
        if (source[i] === "'") {
          if (source[i + 1] === "'") {
            text += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        text += source[i++];
      }
      tokens.push({ kind: 'string', text });
    } else if (/[0-9-]/.test(c)) {
      const match = /^-?\d+/.exec(source.slice(i))![0];
      tokens.push({ kind: 'number', text: match });
      i += match.length;
    } else if (/[A-Za-z_]/.test(c)) {
      const match = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(source.slice(i))![0];
      tokens.push({ kind: 'name', text: match });
      i += match.length;
    } else {
      tokens.push({ kind: 'punct', text: c });
      i++;
    }
  }
  return tokens;
}

const isUnknown = (value: Value): boolean =>
  value === UNKNOWN ||
  (Array.isArray(value) && value.some(isUnknown)) ||
  (value !== null && typeof value === 'object' && Object.values(value).some(isUnknown));

function isEmpty(value: Value): boolean {
  if (value === null || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.keys(value).length === 0;
  return false;
}

/** A recursive-descent reader of one template expression. */
class Expression {
  private readonly tokens: Token[];
  private position = 0;

  constructor(
    private readonly source: string,
    private readonly scope: Scope,
  ) {
    this.tokens = tokenize(source);
  }

  evaluate(): Value {
    const value = this.expression();
    if (this.position !== this.tokens.length) throw new Error(`trailing input in ${this.source}`);
    return value;
  }

  private next(): Token {
    const token = this.tokens[this.position++];
    if (!token) throw new Error(`unexpected end of ${this.source}`);
    return token;
  }

  private peek(text: string): boolean {
    const token = this.tokens[this.position];
    return token?.kind === 'punct' && token.text === text;
  }

  private expect(text: string): void {
    const token = this.next();
    if (token.text !== text) throw new Error(`expected ${text} in ${this.source}`);
  }

  private expression(): Value {
    let value = this.primary();
    // Property access (.name, possibly several chained into one name token) and indexing.
    for (;;) {
      if (this.peek('.')) {
        this.next();
        const name = this.next().text;
        value = name.split('.').reduce<Value>((v, part) => property(v, part), value);
      } else if (this.peek('[')) {
        this.next();
        const index = this.expression();
        this.expect(']');
        value = property(value, index);
      } else {
        return value;
      }
    }
  }

  private primary(): Value {
    const token = this.next();
    if (token.kind === 'string') return token.text;
    if (token.kind === 'number') return Number(token.text);
    if (token.kind !== 'name') throw new Error(`unexpected ${token.text} in ${this.source}`);
    if (token.text === 'true' || token.text === 'false') return token.text === 'true';
    const [fn, ...path] = token.text.split('.');
    this.expect('(');
    const args: Value[] = [];
    while (!this.peek(')')) {
      args.push(this.expression());
      if (this.peek(',')) this.next();
    }
    this.expect(')');
    const result = this.call(fn!, args);
    return path.reduce<Value>((v, part) => property(v, part), result);
  }

  private call(fn: string, args: Value[]): Value {
    const [a, b, c] = args;
    switch (fn) {
      case 'parameters':
        return this.scope.parameter(a as string);
      case 'variables':
        return this.scope.variable(a as string);
      case 'format': {
        if (args.some(isUnknown)) return UNKNOWN;
        return (a as string).replace(/\{(\d+)\}/g, (_, n: string) => String(args[Number(n) + 1]));
      }
      case 'string':
        return isUnknown(a!) ? UNKNOWN : typeof a === 'string' ? a : JSON.stringify(a);
      case 'if':
        return a === UNKNOWN ? UNKNOWN : a ? b! : c!;
      case 'not':
        return a === UNKNOWN ? UNKNOWN : !a;
      case 'or':
        return args.includes(true) ? true : args.some(isUnknown) ? UNKNOWN : false;
      case 'and':
        return args.includes(false) ? false : args.some(isUnknown) ? UNKNOWN : true;
      case 'empty':
        return a === UNKNOWN ? UNKNOWN : isEmpty(a!);
      case 'equals':
        return isUnknown(a!) || isUnknown(b!) ? UNKNOWN : JSON.stringify(a) === JSON.stringify(b);
      case 'toLower':
        return typeof a === 'string' ? a.toLowerCase() : UNKNOWN;
      case 'createObject': {
        const entries: [string, Value][] = [];
        for (let i = 0; i + 1 < args.length; i += 2)
          entries.push([args[i] as string, args[i + 1]!]);
        return Object.fromEntries(entries);
      }
      case 'union':
        if (args.some((arg) => arg === UNKNOWN)) return UNKNOWN;
        return Object.assign({}, ...(args as object[])) as Value;
      case 'length':
        return Array.isArray(a) ? a.length : UNKNOWN;
      case 'div':
        return typeof a === 'number' && typeof b === 'number' ? Math.trunc(a / b) : UNKNOWN;
      default:
        // reference(), resourceId(), uniqueString(), subscription(), ...: known at deployment only.
        return UNKNOWN;
    }
  }
}

function property(value: Value, key: Value): Value {
  if (value === UNKNOWN || key === UNKNOWN) return UNKNOWN;
  if (value === null || typeof value !== 'object') return UNKNOWN;
  const found = (value as Record<string, Value>)[String(key)];
  return found === undefined ? UNKNOWN : found;
}

/** Every nested template's outputs, main's included, as [template path, name, output] triples. */
export function allOutputs(
  template: Template,
  path = 'main',
): [string, string, { type: string; value: Json }][] {
  const found: [string, string, { type: string; value: Json }][] = Object.entries(
    template.outputs ?? {},
  ).map(([name, output]) => [path, name, output]);
  for (const resource of resourcesOf(template)) {
    const nested = (resource.properties as JsonObject | undefined)?.template;
    if (resource.type === 'Microsoft.Resources/deployments' && nested) {
      found.push(...allOutputs(nested as unknown as Template, `${path}/${resource.name}`));
    }
  }
  return found;
}
