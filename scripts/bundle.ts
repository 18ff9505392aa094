/**
 * Bundles the function app with esbuild into dist/app/ (what `npm run build` makes, what
 * package.json `main` names, what the local host, `npm start` and the deployment package run):
 *
 * - main.js, one ES module entry that imports every functions/*.ts, found here at build time (a
 *   new function module needs no list to be edited), with its npm dependencies inside it;
 * - chunks beside it for what the code loads with `import()` on first use (the handlers in
 *   functions/handlers/ with zod and the schemas, undici, the Azure SDKs, the services): one
 *   file each, read only when a request needs it, instead of hundreds of files from
 *   node_modules. A single file would make every start compile them all.
 * - a linked source map per file (stack traces name the .ts source with
 *   --enable-source-maps); the sources' text is left out, which keeps the maps small.
 *
 * `@azure/functions-core` is the only external: the Functions worker (or the local host)
 * supplies it. `tsx scripts/bundle.ts [--outdir <dir>] [--single-file]`; --single-file (no
 * chunks) is for the cold-start benchmark's comparison only.
 */
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { build, type Metafile } from 'esbuild';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** Where `npm run build` writes the bundle; package.json `main` is `dist/app/main.js`. */
export const BUNDLE_DIR = join(ROOT, 'dist', 'app');
export const ENTRY_FILE = 'main.js';
/** Written beside the bundle, never shipped: what it was built from, to tell when it is stale. */
const MANIFEST_FILE = 'build.json';
/** Supplied at run time by the Functions worker (or tools/local-host), never bundled. */
export const EXTERNALS = ['@azure/functions-core'];
const SOURCE_DIRS = ['functions', 'shared'];

/**
 * Every functions/*.ts, sorted: the order the host would load dist/functions/*.js in. Top level
 * only: functions/handlers/ holds the handlers' bodies, which the function modules load with
 * `import()` on first call (so they become chunks, not part of main.js).
 */
export function functionModules(root = ROOT): string[] {
  return readdirSync(join(root, 'functions'), { withFileTypes: true })
    .filter(
      (entry) => entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts'),
    )
    .map((entry) => entry.name)
    .sort();
}

/**
 * Bundled CommonJS code (e.g. @azure/functions) calls `require` for Node built-ins and for
 * `@azure/functions-core`; an ES module has none, so each output file gets one.
 */
const REQUIRE_BANNER =
  "import { createRequire as __bundleCreateRequire } from 'node:module'; const require = __bundleCreateRequire(import.meta.url);";

export interface BundleOptions {
  outdir?: string;
  /** One file, no chunks: everything compiled at import (for comparison only). */
  singleFile?: boolean;
}

export interface BundleResult {
  outdir: string;
  entry: string;
  functions: string[];
  metafile: Metafile;
}

export async function bundleApp(options: BundleOptions = {}): Promise<BundleResult> {
  const outdir = resolve(options.outdir ?? BUNDLE_DIR);
  const functions = functionModules();
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const result = await build({
    stdin: {
      contents: functions.map((file) => `import './functions/${file}';`).join('\n'),
      resolveDir: ROOT,
      sourcefile: 'functions/index.ts',
      loader: 'ts',
    },
    outdir,
    entryNames: 'main',
    chunkNames: '[name]-[hash]',
    bundle: true,
    splitting: !options.singleFile,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: EXTERNALS,
    banner: { js: REQUIRE_BANNER },
    // Less text to compile and, with --enable-source-maps, to scan for line lengths at every
    // start; identifiers are kept, so stack traces name functions even without the maps.
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: 'linked',
    sourcesContent: false,
    metafile: true,
    logLevel: 'warning',
    absWorkingDir: ROOT,
  });
  for (const file of Object.keys(result.metafile.outputs).filter((f) => f.endsWith('.js.map'))) {
    rootRelativeSources(join(ROOT, file), outdir);
  }
  writeFileSync(
    join(outdir, MANIFEST_FILE),
    JSON.stringify({ functions, inputs: Object.keys(result.metafile.inputs).sort() }, null, 2) +
      '\n',
  );
  return { outdir, entry: join(outdir, ENTRY_FILE), functions, metafile: result.metafile };
}

/**
 * esbuild names each source relative to the map (`../../functions/send-sms.ts`, or further up
 * when the bundle is staged elsewhere). Rewritten relative to the app root, with `sourceRoot`
 * pointing there from dist/app/, a stack trace names `<app>/functions/send-sms.ts` wherever the
 * package is unpacked. Sources that are URLs (a dependency's own webpack map) are kept.
 */
function rootRelativeSources(mapFile: string, outdir: string): void {
  const map = JSON.parse(readFileSync(mapFile, 'utf8')) as {
    sources: string[];
    sourceRoot?: string;
  };
  map.sources = map.sources.map((source) =>
    /^[a-z][\w+.-]*:/i.test(source) ? source : relative(ROOT, resolve(outdir, source)),
  );
  map.sourceRoot = '../../';
  writeFileSync(mapFile, JSON.stringify(map));
}

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? walk(path) : entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Why dist/app/ needs building, or undefined when it is up to date with functions/ and shared/. */
export function bundleStaleReason(outdir = BUNDLE_DIR): string | undefined {
  const entry = join(outdir, ENTRY_FILE);
  const manifestPath = join(outdir, MANIFEST_FILE);
  if (!existsSync(entry) || !existsSync(manifestPath)) {
    return `${relative(ROOT, entry)} is missing`;
  }
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { functions?: string[] };
  if (JSON.stringify(manifest.functions) !== JSON.stringify(functionModules())) {
    return 'functions/ has other modules';
  }
  const built = statSync(entry).mtimeMs;
  for (const source of SOURCE_DIRS.flatMap((dir) => walk(join(ROOT, dir)))) {
    if (statSync(source).mtimeMs > built) return `${relative(ROOT, source)} changed`;
  }
  return undefined;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { outdir: { type: 'string' }, 'single-file': { type: 'boolean' } },
    strict: true,
  });
  const started = performance.now();
  const result = await bundleApp({
    ...(values.outdir ? { outdir: values.outdir } : {}),
    singleFile: values['single-file'] ?? false,
  });
  const outputs = Object.entries(result.metafile.outputs).filter(([file]) => file.endsWith('.js'));
  const kib = outputs.reduce((sum, [, output]) => sum + output.bytes, 0) / 1024;
  console.log(
    `bundle: ${relative(process.cwd(), result.entry)} (${result.functions.length} function modules; ${outputs.length} files, ${Math.round(kib)} KiB of JavaScript) in ${Math.round(performance.now() - started)} ms`,
  );
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
