/**
 * cold-start: wall time of a fresh `node` that imports every built function module (what the
 * Functions host does when a worker starts), beside a bare `node -e ''`, interleaved run by run.
 * Builds dist/ first when it is missing or older than the sources. Then, in one extra child that
 * is not timed, lists the npm packages loaded at import: what is worth loading lazily.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  type BenchResult,
  formatMs,
  formatRatio,
  ratio,
  rotation,
  rounded,
  summarise,
  type Summary,
} from './stats.js';

export const name = 'cold-start';

const RUNS = 21;
/** Runs of each variant first, thrown away (file-system cache, first exec). */
const WARMUP_RUNS = 2;
/** SDKs that should load only when used; reported as loaded or not at import. */
const WATCHED = [
  '@azure/identity',
  '@azure/msal-node',
  '@azure/keyvault-secrets',
  '@azure/data-tables',
  '@azure/storage-queue',
  '@azure/core-rest-pipeline',
  '@azure/core-client',
  'undici',
  'zod',
];

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE_DIRS = ['functions', 'shared'];

function walk(dir: string, suffix: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return walk(path, suffix);
    return entry.name.endsWith(suffix) ? [path] : [];
  });
}

/** Why dist/ needs a build, or undefined when every source has an up-to-date output. */
function staleReason(): string | undefined {
  const config = statSync(join(ROOT, 'tsconfig.json')).mtimeMs;
  for (const dir of SOURCE_DIRS) {
    for (const source of walk(join(ROOT, dir), '.ts')) {
      const output = join(ROOT, 'dist', relative(ROOT, source)).replace(/\.ts$/, '.js');
      if (!existsSync(output)) return `${relative(ROOT, output)} is missing`;
      const built = statSync(output).mtimeMs;
      if (built < statSync(source).mtimeMs) return `${relative(ROOT, source)} changed`;
      if (built < config) return 'tsconfig.json changed';
    }
  }
  return undefined;
}

function ensureBuilt(): string | undefined {
  const reason = staleReason();
  if (!reason) return undefined;
  process.stderr.write(`cold-start: building dist/ (${reason}) ...\n`);
  const build = spawnSync('npm', ['run', 'build'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (build.status !== 0) {
    throw new Error(`npm run build failed:\n${build.stdout}${build.stderr}`.trim());
  }
  return reason;
}

/** The built function modules, one per functions/*.ts (as the host loads dist/functions/*.js). */
function functionModules(): string[] {
  return readdirSync(join(ROOT, 'functions'))
    .filter((file) => file.endsWith('.ts'))
    .sort()
    .map((file) => join(ROOT, 'dist', 'functions', file.replace(/\.ts$/, '.js')));
}

function importScript(modules: string[]): string {
  return modules
    .map((path) => `await import(${JSON.stringify(pathToFileURL(path).href)});`)
    .join('');
}

/** The child's environment: no NODE_OPTIONS (tsx's loader must not leak into what is measured). */
function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return env;
}

/** Wall time from spawn to exit, in ms; throws when the child fails. */
function timeChild(args: string[]): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: childEnv(),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4_000);
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      const elapsed = performance.now() - started;
      if (code === 0) resolvePromise(elapsed);
      else reject(new Error(`node ${args.join(' ')} exited ${code ?? signal}: ${stderr.trim()}`));
    });
  });
}

/**
 * A child that records every module the app loads: ESM through a module.register() load hook
 * (reported over a MessagePort), CommonJS through require.cache (CJS requiring CJS bypasses the
 * ESM hooks on Node 20). Prints the absolute file paths as JSON.
 */
function listingScript(modules: string[]): string {
  const hooks = [
    'let port;',
    'export async function initialize(data) { port = data.port; }',
    'export async function load(url, context, next) {',
    '  const result = await next(url, context);',
    "  if (url.startsWith('file:')) port.postMessage(url);",
    '  return result;',
    '}',
  ].join('\n');
  const hooksUrl = `data:text/javascript,${encodeURIComponent(hooks)}`;
  return [
    "import { register, createRequire } from 'node:module';",
    "import { MessageChannel } from 'node:worker_threads';",
    "import { fileURLToPath } from 'node:url';",
    'const seen = new Set();',
    'const { port1, port2 } = new MessageChannel();',
    'port1.on("message", (url) => seen.add(fileURLToPath(url)));',
    `register(${JSON.stringify(hooksUrl)}, { data: { port: port2 }, transferList: [port2] });`,
    importScript(modules),
    'await new Promise((r) => setTimeout(r, 200));', // let the hook thread's messages arrive
    'port1.close();',
    'for (const path of Object.keys(createRequire(import.meta.url).cache)) seen.add(path);',
    'process.stdout.write(JSON.stringify([...seen]));',
  ].join('\n');
}

interface PackageLoad {
  name: string;
  files: number;
  kib: number;
}

/** npm packages loaded by importing the app, heaviest first (bytes of source read). */
function loadedPackages(modules: string[]): PackageLoad[] {
  const child = spawnSync(
    process.execPath,
    ['--no-warnings', '--input-type=module', '-e', listingScript(modules)],
    { cwd: ROOT, env: childEnv(), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  if (child.status !== 0) throw new Error(`module listing failed: ${child.stderr}`);
  const files = JSON.parse(child.stdout) as string[];
  const packages = new Map<string, { files: number; bytes: number }>();
  for (const file of files) {
    const at = file.lastIndexOf('/node_modules/');
    if (at < 0) continue;
    const parts = file.slice(at + '/node_modules/'.length).split('/');
    const pkg = parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] ?? '?');
    const entry = packages.get(pkg) ?? { files: 0, bytes: 0 };
    entry.files++;
    entry.bytes += existsSync(file) ? statSync(file).size : 0;
    packages.set(pkg, entry);
  }
  return [...packages]
    .map(([name, { files, bytes }]) => ({ name, files, kib: Math.round(bytes / 1024) }))
    .sort((a, b) => b.kib - a.kib);
}

/** The app's own runtime dependencies (package.json), to time the loaded ones alone. */
function directDependencies(): string[] {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  return Object.keys(manifest.dependencies ?? {});
}

interface Variant {
  key: string;
  label: string;
  args: string[];
}

const round1 = (value: number) => Math.round(value * 10) / 10;
const round3 = (value: number) => Math.round(value * 1000) / 1000;

export async function run(): Promise<BenchResult> {
  const rebuilt = ensureBuilt();
  const modules = functionModules();

  // Not timed: which packages the app loads, so each loaded dependency can be timed alone.
  const packages = loadedPackages(modules);
  const loaded = new Set(packages.map((p) => p.name));
  const watchedLoaded = WATCHED.filter((name) => loaded.has(name));
  const watchedNotLoaded = WATCHED.filter((name) => !loaded.has(name));
  const dependenciesLoaded = directDependencies().filter((name) => loaded.has(name));

  const variants: Variant[] = [
    { key: 'bare', label: "bare node -e ''", args: ['-e', ''] },
    {
      key: 'esm',
      label: "node --input-type=module -e '' (ESM floor)",
      args: ['--input-type=module', '-e', ''],
    },
    {
      key: 'app',
      label: `import dist/functions/*.js (${modules.length} files)`,
      args: ['--input-type=module', '-e', importScript(modules)],
    },
    ...dependenciesLoaded.map((pkg) => ({
      key: pkg,
      label: `  of which: import '${pkg}' alone`,
      args: ['--input-type=module', '-e', `await import(${JSON.stringify(pkg)});`],
    })),
  ];

  const samples: number[][] = variants.map(() => []);
  const started = performance.now();
  for (let round = 0; round < WARMUP_RUNS + RUNS; round++) {
    for (const index of rotation(variants.length, round)) {
      const elapsed = await timeChild(variants[index]?.args ?? []);
      if (round >= WARMUP_RUNS) samples[index]?.push(elapsed);
    }
  }
  const wallSeconds = (performance.now() - started) / 1000;
  const summaries = samples.map((values) => summarise(values));
  const byKey = (key: string) => summaries[variants.findIndex((v) => v.key === key)] as Summary;
  const bare = byKey('bare');
  const esm = byKey('esm');
  const app = byKey('app');
  const appOverBare = ratio(app.p50, bare.p50);

  return {
    title: `cold-start (N=${RUNS} runs each, interleaved)`,
    columns: ['median ms', 'min ms', 'max ms', '− bare ms'],
    rows: [
      ...variants.map((variant, i) => {
        const s = summaries[i] as Summary;
        const extra = variant.key === 'bare' ? '' : formatMs(s.p50 - bare.p50);
        return {
          label: variant.label,
          cells: [formatMs(s.p50), formatMs(s.min), formatMs(s.max), extra],
        };
      }),
      { label: 'ratio app/bare (median)', cells: [formatRatio(appOverBare)] },
      { label: 'ratio app/ESM floor (median)', cells: [formatRatio(ratio(app.p50, esm.p50))] },
    ],
    notes: [
      `aim: app/bare ≤ 2.00× → ${appOverBare <= 2 ? 'met' : 'NOT met'}`,
      `${RUNS} kept runs of each (+${WARMUP_RUNS} discarded), spawn to exit; ${wallSeconds.toFixed(1)} s${rebuilt ? `; rebuilt dist/ first (${rebuilt})` : ''}`,
      "'alone' rows share sub-dependencies, so their extra times do not add up to the app's",
      `watched SDKs loaded at import: ${watchedLoaded.join(', ') || 'none'}`,
      `watched SDKs not loaded at import: ${watchedNotLoaded.join(', ') || 'none'}`,
      `all packages loaded at import (files, KiB read): ${packages.map((p) => `${p.name} (${p.files}, ${p.kib})`).join(', ') || 'none'}`,
    ],
    data: {
      runs: RUNS,
      warmupRuns: WARMUP_RUNS,
      wallSeconds: round1(wallSeconds),
      rebuilt: rebuilt ?? null,
      modules: modules.map((path) => relative(ROOT, path)),
      bareMs: rounded(bare),
      esmFloorMs: rounded(esm),
      appMs: rounded(app),
      dependencyAloneMs: Object.fromEntries(
        dependenciesLoaded.map((pkg) => [pkg, rounded(byKey(pkg))]),
      ),
      ratioAppOverBareMedian: round3(appOverBare),
      ratioAppOverEsmFloorMedian: round3(ratio(app.p50, esm.p50)),
      aimRatio: 2,
      aimMet: appOverBare <= 2,
      watchedLoadedAtImport: watchedLoaded,
      watchedNotLoadedAtImport: watchedNotLoaded,
      packagesLoadedAtImport: packages,
      samplesMs: Object.fromEntries(
        variants.map((variant, i) => [variant.key, (samples[i] ?? []).map(round3)]),
      ),
    },
  };
}
