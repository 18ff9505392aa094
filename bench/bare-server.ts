/**
 * The floor for bench/host.bench.ts: a bare `node:http` server doing what the benchmarked routes
 * do with nothing else: GET /api/health answers JSON; POST /api/sms reads the JSON body and
 * forwards it to the simulator's /send (the same form body the app's client sends) with one
 * keep-alive undici Pool, answering the simulator's JSON.
 *
 *   node --import tsx bench/bare-server.ts   (PORT, SENDMODE_BASE_URL, SENDMODE_API_KEY)
 */
import http from 'node:http';

import { Pool } from 'undici';

const port = Number(process.env.PORT ?? 0);
const base = new URL(process.env.SENDMODE_BASE_URL ?? 'http://127.0.0.1:8081/v2');
const key = process.env.SENDMODE_API_KEY ?? 'local-dev-key';
const pool = new Pool(base.origin, { connections: 10, keepAliveTimeout: 30_000 });
const sendPath = `${base.pathname.replace(/\/$/, '')}/send`;

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/api/health') {
    const body = JSON.stringify({ status: 'ok' });
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
    return;
  }
  if (req.method === 'POST' && req.url === '/api/sms') {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        try {
          const message = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
          const upstream = await pool.request({
            method: 'POST',
            path: sendPath,
            headers: { authorization: key, 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ message: JSON.stringify(message) }).toString(),
          });
          const text = await upstream.body.text();
          res.writeHead(upstream.statusCode, { 'content-type': 'application/json' });
          res.end(text);
        } catch {
          res.writeHead(502);
          res.end();
        }
      })();
    });
    return;
  }
  res.writeHead(404);
  res.end();
});

server.listen(port, '127.0.0.1', () => {
  console.log(`bare server listening on ${(server.address() as { port: number }).port}`);
});
process.on('SIGTERM', () => {
  server.close();
  void pool.close().then(() => process.exit(0));
});
