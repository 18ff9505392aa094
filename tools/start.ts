/**
 * `npm start`: the whole app on this machine, without Azure and without Core Tools.
 *
 * `npm run build` has run (the npm script does it first). Then this:
 *   1. creates local.settings.json from local.settings.sample.json if it is missing;
 *   2. starts Azurite from node_modules on 10000-10002 (data in .azurite/), unless
 *      AzureWebJobsStorage points at other storage, or an Azurite already answers there;
 *   3. starts the Sendmode simulator on 8081 (key local-dev-key), unless SENDMODE_BASE_URL and a
 *      real key (SENDMODE_API_KEY, or KEY_VAULT_URI) are set in the environment: then the app
 *      talks to real Sendmode, and this says so loudly. The simulator posts its delivery reports
 *      to the host's /api/delivery-reports, and the host gets DELIVERY_REPORTS=on (unless
 *      DELIVERY_REPORTS is set in the environment);
 *   4. starts the local functions host on $PORT (default 7071);
 *   5. prints each URL, a curl for every HTTP function the app registered (a send both at once
 *      and queued, and a queued send's status looked up by its id and by its Location) and a
 *      queue drop for every queue function fed from outside (imports, sends).
 * Ctrl-C stops the host (letting running invocations finish), then the simulator and Azurite.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const AZURITE_PORTS = { blob: 10000, queue: 10001, table: 10002 } as const;
const SIMULATOR_PORT = Number(process.env.SIMULATOR_PORT ?? 8081);
const SIMULATOR_KEY = 'local-dev-key';
const HOST_PORT = Number(process.env.PORT ?? 7071);
/** The local host checks no function keys, so the simulator needs none to report. */
const DELIVERY_REPORT_URL = `http://127.0.0.1:${HOST_PORT}/api/delivery-reports`;

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const red = (s: string) => (process.stdout.isTTY ? `\x1b[1;31m${s}\x1b[0m` : s);
const say = (s = '') => process.stdout.write(`${s}\n`);

class StartError extends Error {}

interface Started {
  name: string;
  child: ChildProcess;
  exited: Promise<void>;
}
const started: Started[] = [];
let stopping = false;

function launch(name: string, args: string[], env: NodeJS.ProcessEnv, prefix: boolean): Started {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env,
    // Its own process group: Ctrl-C reaches only this script, which stops children in order.
    detached: process.platform !== 'win32',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pipe = (stream: NodeJS.ReadableStream | null, out: NodeJS.WriteStream) => {
    let rest = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) out.write(prefix ? `[${name}] ${line}\n` : `${line}\n`);
    });
  };
  pipe(child.stdout, process.stdout);
  pipe(child.stderr, process.stderr);
  const exited = new Promise<void>((done) =>
    child.once('exit', (code, signal) => {
      if (!stopping) {
        say(red(`${name} exited unexpectedly (${signal ?? `code ${code}`}); stopping everything.`));
        void shutdown(1);
      }
      done();
    }),
  );
  const entry = { name, child, exited };
  started.push(entry);
  return entry;
}

async function stopChild(entry: Started, timeoutMs: number): Promise<void> {
  const { child } = entry;
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const done = await Promise.race([
    entry.exited.then(() => true),
    sleep(timeoutMs).then(() => false),
  ]);
  if (!done) {
    say(`${entry.name} did not stop within ${timeoutMs / 1000} s; killing it.`);
    child.kill('SIGKILL');
    await entry.exited;
  }
}

let shuttingDown: Promise<void> | undefined;
function shutdown(code: number): Promise<void> {
  return (shuttingDown ??= (async () => {
    stopping = true;
    if (started.length > 0) say('\nStopping...');
    // The host first (it may still release queue messages to Azurite), then the rest.
    const host = started.find((s) => s.name === 'host');
    if (host) await stopChild(host, 20_000);
    await Promise.all(started.filter((s) => s !== host).map((s) => stopChild(s, 10_000)));
    if (started.length > 0) say(`Stopped ${started.map((s) => s.name).join(', ')}.`);
    process.exit(code);
  })());
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      done(false);
    });
    socket.once('error', () => done(false));
  });
}

async function waitUntil(what: string, probe: () => Promise<boolean>, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (stopping) throw new StartError('Stopped while starting.');
    if (Date.now() > deadline)
      throw new StartError(`${what} did not start within ${timeoutMs / 1000} s.`);
    await sleep(100);
  }
}

function readValues(file: string): Record<string, string> {
  try {
    const json = JSON.parse(readFileSync(file, 'utf8')) as { Values?: Record<string, unknown> };
    return Object.fromEntries(
      Object.entries(json.Values ?? {}).map(([k, v]) => [k, v === null ? '' : String(v)]),
    );
  } catch (error) {
    throw new StartError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
}

/** The value the host will see: the environment wins over local.settings.json. */
function effective(name: string, values: Record<string, string>): string | undefined {
  const fromEnv = process.env[name];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const local = values[name];
  return local === undefined || local === '' ? undefined : local;
}

function isLocalDevStorage(connection: string | undefined): boolean {
  if (connection === undefined) return false;
  if (/^UseDevelopmentStorage=true/i.test(connection.trim())) return true;
  return /QueueEndpoint=https?:\/\/(127\.0\.0\.1|localhost):10001/i.test(connection);
}

async function isAzurite(): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${AZURITE_PORTS.queue}/devstoreaccount1?comp=list`, {
      signal: AbortSignal.timeout(2000),
    });
    return /azurite/i.test(res.headers.get('server') ?? '');
  } catch {
    return false;
  }
}

async function startAzurite(): Promise<string> {
  const taken = [];
  for (const [service, port] of Object.entries(AZURITE_PORTS)) {
    if (await portAnswers(port)) taken.push(`${port} (${service})`);
  }
  if (taken.length === 3 && (await isAzurite())) {
    return 'already running on 10000-10002: using it (not started by npm start, so not stopped by Ctrl-C)';
  }
  if (taken.length > 0) {
    throw new StartError(
      `Azurite needs ports 10000-10002, but ${taken.join(', ')} ${taken.length > 1 ? 'are' : 'is'} taken by another program.\n` +
        'Stop that program, or set AzureWebJobsStorage to a storage connection string of your own.',
    );
  }
  const script = createRequire(import.meta.url).resolve('azurite/dist/src/azurite.js');
  const location = join(ROOT, '.azurite');
  mkdirSync(location, { recursive: true });
  launch(
    'azurite',
    [
      script,
      '--location',
      location,
      '--skipApiVersionCheck',
      '--loose',
      '--disableTelemetry',
      '--silent',
    ],
    process.env,
    true,
  );
  await waitUntil('Azurite', async () => {
    for (const port of Object.values(AZURITE_PORTS)) if (!(await portAnswers(port))) return false;
    return true;
  });
  return 'blob http://127.0.0.1:10000, queue http://127.0.0.1:10001, table http://127.0.0.1:10002 (data in .azurite/)';
}

/** The simulator serves both API generations: v2 under /v2, 3.0 under /3.0. */
async function startSimulator(apiVersion: string): Promise<string> {
  const url = `http://127.0.0.1:${SIMULATOR_PORT}${apiVersion === 'v3' ? '/3.0' : '/v2'}`;
  if (await portAnswers(SIMULATOR_PORT)) {
    const res = await fetch(`http://127.0.0.1:${SIMULATOR_PORT}/__admin/state`).catch(
      () => undefined,
    );
    if (res?.ok) {
      say(
        `Sendmode simulator already running on ${SIMULATOR_PORT}: using it (its keys must include ${SIMULATOR_KEY}).`,
      );
      return url;
    }
    throw new StartError(
      `The Sendmode simulator needs port ${SIMULATOR_PORT}, which another program is using. ` +
        'Stop it, or set SIMULATOR_PORT to a free port.',
    );
  }
  const sim = launch(
    'simulator',
    [
      '--import',
      'tsx',
      'tools/sendmode-simulator/main.ts',
      '--port',
      String(SIMULATOR_PORT),
      '--key',
      SIMULATOR_KEY,
      '--delivery-report-url',
      DELIVERY_REPORT_URL,
    ],
    process.env,
    true,
  );
  await waitUntil(
    'The Sendmode simulator',
    async () => sim.child.exitCode === null && (await portAnswers(SIMULATOR_PORT)),
  );
  return url;
}

/** Where the simulator (started here or found running) sends delivery reports. */
async function simulatorReportUrl(): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${SIMULATOR_PORT}/__admin/delivery-reports`).catch(
    () => undefined,
  );
  if (!res?.ok) return '(unknown: an older simulator?)';
  const { url } = (await res.json()) as { url: string | null };
  return url ?? 'nowhere (none configured)';
}

interface FunctionInfo {
  name: string;
  invoke_url_template?: string;
  methods?: string[];
  queue?: string;
  config: { bindings: { type?: string; authLevel?: string }[] };
}

/** Sample bodies for the app's routes; any other route gets a bare curl. */
const SAMPLES: Record<string, string> = {
  '/api/sms':
    '{"messagetext":"Hello from my laptop","recipients":["+353870000001"],"senderid":"Local"}',
  '/api/optout': '{"mobilenumber":"+353870000001"}',
  '/api/customers': '{"group":"Local","mobilenumber":"+353870000001","firstname":"Ada"}',
  '/api/optouts': '{"mobilenumber":"+353870000001"}',
  '/api/subscriptions': '{"callbackUrl":"https://example.com/my-flow","events":["optout.changed"]}',
};

/** Sample query strings for the routes that need one, by method and path. */
const QUERY_SAMPLES: Record<string, string> = {
  // Taken off the list again (an operator's removal says why).
  'DELETE /api/optouts/%2B353870000001': '?reason=Asked%20by%20phone',
  // A report for no send of this app: stored apart, answered True.
  'GET /api/delivery-reports':
    '?EventID=1&Phonenumber=353870000001&DataType=SMS&Status=DELIVRD&CustomerID=local-sample',
};

/** Sample values for route parameters, so a printed curl works when pasted as it is. */
const ROUTE_SAMPLES: Record<string, string> = {
  // The number opted out by the optout sample above.
  number: '%2B353870000001',
  // No subscription has this id: DELETE answers 404 (use the id a POST answered).
  id: '00000000-0000-4000-8000-000000000000',
  event: '',
};

/** The route template's `{name}` / `{name?}` parameters filled in with ROUTE_SAMPLES. */
function sampleUrl(template: string): string {
  return template
    .replace(/\{(\w+)\??\}/g, (_, name: string) => ROUTE_SAMPLES[name] ?? name)
    .replace(/\/+$/, '');
}
interface QueueSample {
  /** The message as a JavaScript expression, for `node -e "..."` (single quotes only). */
  js: string;
  /** The message as JSON, for `az storage message put`. */
  json: string;
  /** What the node one-liner prints once queued (JavaScript; `r` is the answer, `m` the text). */
  report?: string;
  /** Printed after the az command (what to do with the message it queued). */
  after?: string[];
}

/** A queue drop's id for `az`, fresh each start: the send queue sends one id only once. */
const AZ_SEND_ID = `az-${Date.now().toString(36)}`;

function queueSamples(base: string): Record<string, QueueSample> {
  return {
    'import-customer': {
      js: "{group:'Local',mobilenumber:'+353870000001',firstname:'Ada'}",
      json: '{"group":"Local","mobilenumber":"+353870000001","firstname":"Ada"}',
    },
    // With an id of the producer's own (a fresh one each time): the status is looked up by it.
    'send-queued-sms': {
      js: "{id:'local-'+Date.now().toString(36),messagetext:'Hello from the queue',recipients:['+353870000001']}",
      json: `{"id":"${AZ_SEND_ID}","messagetext":"Hello from the queue","recipients":["+353870000001"]}`,
      report: `'queued '+JSON.parse(m).id+'; its status (once the app has taken it, in a second or two): curl -sS -i ${base}/api/sms/'+JSON.parse(m).id`,
      after: [
        `  # ... its status, by the id in the message (a second drop of the same id is not sent again)`,
        `  curl -sS -i ${base}/api/sms/${AZ_SEND_ID}`,
      ],
    },
  };
}

function curl(method: string, url: string, body: string | undefined): string {
  const parts = [`curl -sS -i ${method === 'GET' ? '' : `-X ${method} `}${url}`];
  if (body) parts.push(`-H 'Content-Type: application/json' -d '${body}'`);
  return parts.join(' ');
}

/**
 * The queued send (`Prefer: respond-async`) and its status, by Location and by id: pasted in a
 * POSIX shell, the second command keeps the Location in $loc, which the look-ups below use.
 */
function asyncSendLines(url: string): string[] {
  const request = `-X POST ${url} -H 'Prefer: respond-async' -H 'Content-Type: application/json' -d '${SAMPLES['/api/sms']}'`;
  return [
    `  # send-sms, queued (Prefer: respond-async): 202 at once; Location is its status URL (no key needed)`,
    `  curl -sS -i ${request}`,
    `  # ... the same, keeping that Location in $loc for the status look-ups below`,
    `  loc=$(curl -sS -o /dev/null -D - ${request} | tr -d '\\r' | awk 'tolower($1)=="location:" {print $2}'); echo "$loc"`,
  ];
}

/** Look-ups of the send queued just above (its URL in $loc), instead of a bare {id}. */
const STATUS_LOOKUPS: Record<string, string[]> = {
  'sms-status-by-token': [
    '  # sms-status-by-token (GET, no key): follow its Location, as a Logic Apps poller does (202 while it waits, 200 once sent)',
    '  curl -sS -i "$loc"',
  ],
  'sms-status': [
    '  # sms-status (GET): the same send by its id (the Location without /status?token=...)',
    '  curl -sS -i "${loc%/status*}"',
  ],
};

function curlFor(fn: FunctionInfo): string[] {
  const lookup = STATUS_LOOKUPS[fn.name];
  if (lookup) return lookup;
  const url = sampleUrl(fn.invoke_url_template ?? '');
  const path = new URL(url).pathname;
  const method =
    fn.methods?.includes('POST') && SAMPLES[path] ? 'POST' : (fn.methods?.[0] ?? 'GET');
  const body = method === 'POST' ? SAMPLES[path] : undefined;
  const query = QUERY_SAMPLES[`${method} ${path}`] ?? '';
  const target = query ? `'${url}${query}'` : url;
  const lines = [`  # ${fn.name} (${fn.methods?.join(', ')})`, `  ${curl(method, target, body)}`];
  return fn.name === 'send-sms' ? [...lines, ...asyncSendLines(url)] : lines;
}

function queueDropFor(fn: FunctionInfo, sample: QueueSample, encoding: string): string[] {
  const queue = fn.queue ?? '';
  // messageEncoding none: the app reads plain JSON and base64 JSON alike, so show plain.
  const plain = encoding === 'none';
  const encode = plain ? 'm' : "Buffer.from(m).toString('base64')";
  return [
    `  # ${fn.name}: drop a message on '${queue}' (plain JSON${plain ? ' or base64 JSON' : ', base64-encoded as host.json says'})`,
    `  node -e "const {QueueClient}=require('@azure/storage-queue');` +
      `const q=new QueueClient(process.env.AzureWebJobsStorage||'UseDevelopmentStorage=true','${queue}');` +
      `const m=JSON.stringify(${sample.js});` +
      `q.createIfNotExists().then(()=>q.sendMessage(${encode})).then(r=>console.log(${sample.report ?? "'queued',r.messageId"}))"`,
    ...(plain
      ? [
          `  az storage message put --connection-string UseDevelopmentStorage=true --queue-name ${queue} --content '${sample.json}'`,
          ...(sample.after ?? []),
        ]
      : []),
  ];
}

function queueEncoding(): string {
  try {
    const host = JSON.parse(readFileSync(join(ROOT, 'host.json'), 'utf8')) as {
      extensions?: { queues?: { messageEncoding?: string } };
    };
    return host.extensions?.queues?.messageEncoding?.toLowerCase() ?? 'base64';
  } catch {
    return 'base64';
  }
}

async function main(): Promise<void> {
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));
  process.on('SIGHUP', () => void shutdown(0));
  process.on('exit', () => {
    for (const { child } of started) if (child.exitCode === null) child.kill('SIGKILL');
  });

  const settingsFile = join(ROOT, 'local.settings.json');
  if (!existsSync(settingsFile)) {
    copyFileSync(join(ROOT, 'local.settings.sample.json'), settingsFile);
    say(
      'Created local.settings.json from local.settings.sample.json (git-ignored; edit it freely).',
    );
  }
  const values = readValues(settingsFile);
  const lines: string[] = [];

  // Storage
  const storage = effective('AzureWebJobsStorage', values);
  if (isLocalDevStorage(storage)) {
    lines.push(`Azurite:    ${await startAzurite()}`);
  } else if (storage) {
    const account = /AccountName=([^;]+)/i.exec(storage)?.[1] ?? 'the configured account';
    lines.push(`Storage:    AzureWebJobsStorage points at ${account}: Azurite not started.`);
  } else {
    lines.push(
      'Storage:    AzureWebJobsStorage is not set: Azurite not started (queues will not run).',
    );
  }

  // Sendmode
  const hostEnv: NodeJS.ProcessEnv = { ...process.env, PORT: String(HOST_PORT) };
  const apiVersion = effective('SENDMODE_API_VERSION', values) || 'v2';
  lines.push(
    `Sendmode API: ${apiVersion === 'v3' ? 'v3 (Engage, 3.0)' : 'v2'} (SENDMODE_API_VERSION; see "Which Sendmode API?" in the README)`,
  );
  const realUrl = process.env.SENDMODE_BASE_URL;
  const realKey = process.env.SENDMODE_API_KEY || process.env.KEY_VAULT_URI;
  if (realUrl && realKey) {
    const keySource = process.env.KEY_VAULT_URI
      ? `Key Vault ${process.env.KEY_VAULT_URI}`
      : 'SENDMODE_API_KEY';
    say(red('='.repeat(78)));
    say(red(` REAL SENDMODE: ${realUrl}, key from ${keySource}.`));
    say(red(' Messages sent from here are really sent, and credits are spent. No simulator.'));
    say(red('='.repeat(78)));
    lines.push(`Sendmode:   ${red(`REAL ${realUrl}`)} (key from ${keySource})`);
  } else {
    if (realUrl || process.env.SENDMODE_API_KEY) {
      say(
        'Note: only one of SENDMODE_BASE_URL and SENDMODE_API_KEY is set in the environment; both are ' +
          'needed to use real Sendmode. Using the simulator.',
      );
    }
    const url = await startSimulator(apiVersion);
    Object.assign(hostEnv, {
      SENDMODE_BASE_URL: url,
      SENDMODE_API_KEY: SIMULATOR_KEY,
      KEY_VAULT_URI: '',
    });
    const reportsChosen = Boolean(process.env.DELIVERY_REPORTS);
    if (!reportsChosen) hostEnv.DELIVERY_REPORTS = 'on';
    lines.push(
      `Sendmode:   simulator ${url} (key ${SIMULATOR_KEY}; admin http://127.0.0.1:${SIMULATOR_PORT}/__admin/calls)`,
      `Inbox:      ${bold(`http://127.0.0.1:${SIMULATOR_PORT}/`)} (every SMS the simulator took, live)`,
      `Reports:    the simulator's delivery reports to ${await simulatorReportUrl()} ` +
        `(DELIVERY_REPORTS=${hostEnv.DELIVERY_REPORTS ?? ''}${reportsChosen ? ', as set in the environment' : ''}; ` +
        `change them: http://127.0.0.1:${SIMULATOR_PORT}/__admin/delivery-reports)`,
    );
  }

  // Host
  if (await portAnswers(HOST_PORT)) {
    throw new StartError(
      `Port ${HOST_PORT} is taken by another program: stop it, or set PORT to a free port.`,
    );
  }
  const host = launch('host', ['--import', 'tsx', 'tools/local-host/main.ts'], hostEnv, false);
  const base = `http://localhost:${HOST_PORT}`;
  await waitUntil('The functions host', async () => {
    if (host.child.exitCode !== null)
      throw new StartError('The functions host exited during start-up (see above).');
    const res = await fetch(`http://127.0.0.1:${HOST_PORT}/admin/host/status`).catch(
      () => undefined,
    );
    return res?.ok === true;
  });
  const functions = (await (
    await fetch(`http://127.0.0.1:${HOST_PORT}/admin/functions`)
  ).json()) as FunctionInfo[];
  lines.push(`Functions:  ${base}/api/... (function list: ${base}/admin/functions)`);
  if (functions.some((f) => f.name === 'status-page')) {
    lines.push(
      `Status:     ${bold(`${base}/api/status/page`)} (the call limit and the queues, live)`,
    );
  }

  const http = functions.filter((f) => f.invoke_url_template);
  const queues = functions.filter((f) => f.queue);
  say();
  say(bold('Ready.'));
  for (const line of lines) say(`  ${line}`);
  say();
  say(
    bold(
      'Try it (function keys are not checked locally; in Azure add -H "x-functions-key: <key>"):',
    ),
  );
  for (const fn of http) for (const line of curlFor(fn)) say(line);
  if (queues.length > 0) {
    say();
    say(bold('Queue drops (from this folder):'));
    const samples = queueSamples(base);
    for (const fn of queues) {
      const sample = samples[fn.name];
      if (sample) for (const line of queueDropFor(fn, sample, queueEncoding())) say(line);
      else say(`  # ${fn.name}: queue '${fn.queue}' (fed by the app itself)`);
    }
  }
  say();
  say('Ctrl-C stops everything started here.');
}

main().catch(async (error: unknown) => {
  say(red(error instanceof StartError ? error.message : `npm start failed: ${String(error)}`));
  await shutdown(1);
});
