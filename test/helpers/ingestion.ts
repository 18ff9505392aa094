/**
 * A stand-in for the Application Insights ingestion endpoint: the connection string's
 * `IngestionEndpoint` (and `LiveEndpoint`) point here, and every telemetry item the exporter
 * posts (`/v2.1/track`, gzip'd or plain JSON, an array or newline-delimited) is kept with the
 * raw text it came in, for assertions on what Application Insights would receive.
 *
 * The exporter speaks HTTPS only, so the server has a throw-away self-signed certificate (made
 * with the `openssl` CLI); a process exporting to it trusts it through `NODE_EXTRA_CA_CERTS`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

/** One telemetry item as the exporter sends it (`Microsoft.ApplicationInsights.<Type>`). */
export interface TelemetryItem {
  name: string;
  time: string;
  iKey?: string;
  tags?: Record<string, string>;
  data?: { baseType?: string; baseData?: Record<string, unknown> };
}

export interface Ingestion {
  /** A connection string whose ingestion and live endpoints are this server. */
  connectionString: string;
  /** The environment a process exporting here needs: the connection string and the CA to trust. */
  env: Record<string, string>;
  items: TelemetryItem[];
  /** Every request body received, decompressed: for "never contains" checks. */
  raw: string[];
  ofType(baseType: string): Array<Record<string, unknown>>;
  /** Items of `baseType` with their tags (ai.operation.id, ...). */
  itemsOfType(baseType: string): TelemetryItem[];
  close(): Promise<void>;
}

/** A fixed, obviously fake instrumentation key. */
export const TEST_INSTRUMENTATION_KEY = '00000000-0000-4000-8000-000000000001';

function parseItems(text: string): TelemetryItem[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  if (trimmed.startsWith('[')) return JSON.parse(trimmed) as TelemetryItem[];
  return trimmed.split('\n').map((line) => JSON.parse(line) as TelemetryItem);
}

/** A self-signed certificate for 127.0.0.1, valid for two days. */
function makeCertificate(dir: string): { key: Buffer; cert: Buffer; certFile: string } {
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  try {
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
        .concat(['-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=127.0.0.1'])
        .concat(['-addext', 'subjectAltName=IP:127.0.0.1']),
      { stdio: 'pipe' },
    );
  } catch (error) {
    throw new Error(
      `The ingestion stand-in needs the openssl CLI for its certificate: ${String(error)}`,
    );
  }
  return { key: readFileSync(keyFile), cert: readFileSync(certFile), certFile };
}

export async function startIngestion(): Promise<Ingestion> {
  const items: TelemetryItem[] = [];
  const raw: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'ingestion-'));
  const { key, cert, certFile } = makeCertificate(dir);
  const server: Server = createServer({ key, cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      const text = body.toString('utf8');
      raw.push(text);
      if (req.url?.includes('/track')) {
        let received: TelemetryItem[] = [];
        try {
          received = parseItems(text);
        } catch {
          // kept in `raw` only
        }
        items.push(...received);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            itemsReceived: received.length,
            itemsAccepted: received.length,
            errors: [],
          }),
        );
        return;
      }
      // Live metrics and anything else: accepted, nothing asked of the sender.
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const endpoint = `https://127.0.0.1:${port}/`;
  const itemsOfType = (baseType: string) =>
    items.filter((item) => item.data?.baseType === baseType);
  const connectionString = `InstrumentationKey=${TEST_INSTRUMENTATION_KEY};IngestionEndpoint=${endpoint};LiveEndpoint=${endpoint}`;
  return {
    connectionString,
    env: { APPLICATIONINSIGHTS_CONNECTION_STRING: connectionString, NODE_EXTRA_CA_CERTS: certFile },
    items,
    raw,
    itemsOfType,
    ofType: (baseType) => itemsOfType(baseType).map((item) => item.data?.baseData ?? {}),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        });
      }),
  };
}
