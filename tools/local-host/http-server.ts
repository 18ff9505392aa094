/**
 * Serves the app's HTTP triggers at /<routePrefix>/<route>: matches the declared methods and
 * route parameters, builds the RPC HTTP request the Functions host sends to the worker (method,
 * url, headers, query, params, raw body bytes), lets the library turn it into an `HttpRequest`,
 * and writes the `HttpResponse` the library converted back (status, headers, cookies, body).
 *
 * Function keys are not checked (authLevel is reported, not enforced), as with Core Tools.
 * A request whose `Host` does not name this machine is refused (421; see host-guard.ts).
 * Also: GET /admin/host/status and GET /admin/functions (the host's admin API, unauthenticated
 * here), and GET / (the "app is running" page).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import type { RegisteredFunction } from './core-api.js';
import type {
  RpcHttpCookie,
  RpcHttpData,
  RpcInvocationResponse,
  RpcTypedData,
} from './core-types.js';
import { refuseForeignHost } from './host-guard.js';
import type { Invoker } from './invoke.js';
import type { HostLogger } from './log.js';
import { compareRoutes, type CompiledRoute, compileRoute, matchRoute } from './routes.js';
import { httpInvocationSpan } from './telemetry.js';

/** The Functions host's default maxRequestBodySize. */
const MAX_BODY_BYTES = 100 * 1024 * 1024;
const HTTP_REASON = 'This function was programmatically called via the host APIs.';

export interface HttpRoute {
  fn: RegisteredFunction;
  methods: string[];
  authLevel: string;
  route: CompiledRoute;
  /** The path shown to people, e.g. api/items/{id?}. */
  path: string;
}

export function httpRoutes(functions: RegisteredFunction[], routePrefix: string): HttpRoute[] {
  const routes: HttpRoute[] = [];
  for (const fn of functions) {
    if (fn.trigger.type.toLowerCase() !== 'httptrigger') continue;
    const declared = typeof fn.trigger.route === 'string' ? fn.trigger.route : fn.name;
    const path = [routePrefix, declared.replace(/^\/+|\/+$/g, '')]
      .filter((p) => p !== '')
      .join('/');
    const methods = Array.isArray(fn.trigger.methods)
      ? fn.trigger.methods.map((m) => String(m).toUpperCase())
      : ['GET', 'POST'];
    routes.push({
      fn,
      methods,
      authLevel: typeof fn.trigger.authLevel === 'string' ? fn.trigger.authLevel : 'anonymous',
      route: compileRoute(path),
      path,
    });
  }
  return routes.sort((a, b) => compareRoutes(a.route, b.route));
}

export interface HttpServerOptions {
  routes: HttpRoute[];
  functions: RegisteredFunction[];
  invoker: Invoker;
  logger: HostLogger;
  hostVersion: string;
  /** Publicly shown base URL, e.g. http://localhost:7071. */
  baseUrl: () => string;
  isStopping: () => boolean;
  /** The resolved queue name of a queue-triggered function that is being polled. */
  queueOf: (fn: RegisteredFunction) => string | undefined;
  /** False until the host has started its queue listeners and printed its functions. */
  isReady: () => boolean;
  /** The interface listened on: which `Host` headers are answered depends on it. */
  bind: string;
}

export function createHttpServer(options: HttpServerOptions): http.Server {
  const { routes, invoker, logger } = options;
  const started = Date.now();

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      logger.host('Error', `Unhandled error serving ${req.method} ${req.url}: ${String(error)}`);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (refuseForeignHost(req, res, options.bind)) return;
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`);
    if (options.isStopping()) res.setHeader('connection', 'close');

    const segments = url.pathname
      .split('/')
      .filter((s) => s !== '')
      .map((s) => {
        try {
          return decodeURIComponent(s);
        } catch {
          return s;
        }
      });

    if (segments[0]?.toLowerCase() === 'admin') return admin(segments.slice(1), method, res);
    if (segments.length === 0 && (method === 'GET' || method === 'HEAD')) {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('Your Functions app is up and running (local host).\n');
      return;
    }

    let allowed: string[] | undefined;
    for (const route of routes) {
      const params = matchRoute(route.route, segments);
      if (!params) continue;
      if (!route.methods.includes(method)) {
        allowed = [...(allowed ?? []), ...route.methods];
        continue;
      }
      return invokeRoute(route, params, req, res, url, method);
    }
    if (allowed) {
      req.resume();
      res.writeHead(405, { allow: [...new Set(allowed)].join(', '), 'content-length': 0 });
      res.end();
      return;
    }
    req.resume();
    res.writeHead(404, { 'content-length': 0 });
    res.end();
  }

  async function invokeRoute(
    route: HttpRoute,
    params: Record<string, string>,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
    method: string,
  ): Promise<void> {
    const body = await readBody(req);
    if (body === 'too-large') {
      res.writeHead(413, { connection: 'close' });
      res.end();
      return;
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined) continue;
      headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    const query = Object.fromEntries(url.searchParams);
    // No `query` map: the library then reads the query from the URL, keeping repeated names.
    const rpcHttp: RpcHttpData = {
      method,
      url: url.href,
      headers,
      params,
      ...(body.length > 0 ? { body: { bytes: body } } : {}),
    };
    const triggerMetadata: Record<string, RpcTypedData> = {
      Query: { json: JSON.stringify(query) },
      Headers: { json: JSON.stringify(headers) },
    };
    for (const [name, value] of Object.entries(params)) triggerMetadata[name] = { string: value };

    const span = httpInvocationSpan(route.fn.name, method, route.path, url);
    const outcome = await invoker.invoke(
      route.fn,
      {
        inputData: [{ name: route.fn.triggerName, data: { http: rpcHttp } }],
        triggerMetadata,
        ...(span.traceContext ? { traceContext: span.traceContext } : {}),
      },
      HTTP_REASON,
    );
    if (!outcome.ok) {
      span.end(false, 500);
      res.writeHead(500, { 'content-length': 0 });
      res.end();
      return;
    }
    const output = httpOutput(route.fn, outcome.response);
    span.end(true, output ? Number(output.statusCode ?? 200) || 200 : 204);
    writeResponse(res, output);
  }

  function admin(path: string[], method: string, res: http.ServerResponse): void {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(body, null, 2));
    };
    const key = path.join('/').toLowerCase();
    if (method !== 'GET') return send(405, { error: 'GET only' });
    if (key === 'host/status') {
      const state = options.isStopping()
        ? 'Stopping'
        : options.isReady()
          ? 'Running'
          : 'Initialized';
      return send(state === 'Running' ? 200 : 503, {
        state,
        version: options.hostVersion,
        processUptime: Date.now() - started,
        pid: process.pid,
      });
    }
    if (key === 'functions') {
      return send(
        200,
        options.functions.map((fn) => {
          const route = routes.find((r) => r.fn === fn);
          return {
            name: fn.name,
            language: 'node',
            ...(route
              ? {
                  invoke_url_template: `${options.baseUrl()}/${route.path}`,
                  methods: route.methods,
                }
              : {}),
            ...(options.queueOf(fn) ? { queue: options.queueOf(fn) } : {}),
            config: {
              bindings: Object.entries(fn.bindings).map(([name, binding]) => ({
                name,
                ...binding,
              })),
            },
            isDisabled: false,
          };
        }),
      );
    }
    send(404, { error: 'Not found' });
  }

  return server;
}

/** The HTTP output binding's value: `$return` for `app.http`, else a named http output. */
function httpOutput(
  fn: RegisteredFunction,
  response: RpcInvocationResponse | undefined,
): RpcHttpData | undefined {
  if (!response) return undefined;
  const outName = Object.entries(fn.bindings).find(
    ([, b]) => b.direction === 'out' && b.type?.toLowerCase() === 'http',
  )?.[0];
  if (outName === '$return' || outName === undefined)
    return response.returnValue?.http ?? undefined;
  return response.outputData?.find((o) => o.name === outName)?.data?.http ?? undefined;
}

function writeResponse(res: http.ServerResponse, data: RpcHttpData | undefined): void {
  if (!data) {
    // The handler returned nothing: an empty answer.
    res.writeHead(204);
    res.end();
    return;
  }
  const status = Number(data.statusCode ?? 200) || 200;
  for (const [name, value] of Object.entries(data.headers ?? {})) {
    if (name.toLowerCase() === 'set-cookie') res.appendHeader('set-cookie', value);
    else res.setHeader(name, value);
  }
  for (const cookie of data.cookies ?? []) res.appendHeader('set-cookie', serializeCookie(cookie));
  const body = data.body;
  const bytes = body?.bytes
    ? Buffer.from(body.bytes)
    : typeof body?.string === 'string'
      ? Buffer.from(body.string)
      : Buffer.alloc(0);
  res.statusCode = status;
  if (status !== 204 && status !== 304) res.setHeader('content-length', bytes.length);
  res.end(status === 204 || status === 304 ? undefined : bytes);
}

function serializeCookie(cookie: RpcHttpCookie): string {
  const parts = [`${cookie.name ?? ''}=${cookie.value ?? ''}`];
  if (cookie.domain?.value) parts.push(`Domain=${cookie.domain.value}`);
  if (cookie.path?.value) parts.push(`Path=${cookie.path.value}`);
  const expires = cookie.expires?.value;
  if (expires?.seconds !== undefined && expires.seconds !== null) {
    parts.push(`Expires=${new Date(Number(expires.seconds) * 1000).toUTCString()}`);
  }
  if (cookie.maxAge?.value !== undefined && cookie.maxAge.value !== null) {
    parts.push(`Max-Age=${cookie.maxAge.value}`);
  }
  if (cookie.secure?.value) parts.push('Secure');
  if (cookie.httpOnly?.value) parts.push('HttpOnly');
  if (cookie.sameSite && cookie.sameSite !== 'none') {
    parts.push(
      `SameSite=${cookie.sameSite === 'explicitNone' ? 'None' : cookie.sameSite[0]?.toUpperCase() + cookie.sameSite.slice(1)}`,
    );
  }
  return parts.join('; ');
}

function readBody(req: http.IncomingMessage): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) {
      req.resume();
      resolve('too-large');
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? 'too-large' : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export function listenAddress(server: http.Server): AddressInfo {
  return server.address() as AddressInfo;
}
