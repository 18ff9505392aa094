/**
 * Reading request bodies (bounded) and writing answers, for the simulator's API and admin routes.
 */
import type http from 'node:http';

export const BODY_LIMIT_BYTES = 1024 * 1024;

export class BodyTooLargeError extends Error {}
class ClientGoneError extends Error {}

/** The whole body; BodyTooLargeError past BODY_LIMIT_BYTES, another error if the client goes. */
export function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > BODY_LIMIT_BYTES) {
        // Keep draining (so a keep-alive client still gets a clean 413), but stop buffering.
        tooLarge = true;
        chunks.length = 0;
        if (size > 16 * BODY_LIMIT_BYTES) req.socket.destroy();
        return;
      }
      if (!tooLarge) chunks.push(chunk);
    });
    req.on('end', () => {
      if (tooLarge) reject(new BodyTooLargeError());
      else resolve(Buffer.concat(chunks));
    });
    req.on('error', (err) => reject(err));
    req.on('close', () => {
      if (!req.complete) reject(new ClientGoneError());
    });
  });
}

export function sendJson(
  res: http.ServerResponse,
  httpStatus: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.destroyed || res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(httpStatus, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function sendText(
  res: http.ServerResponse,
  httpStatus: number,
  body: string,
  contentType: string,
): void {
  if (res.destroyed || res.headersSent) return;
  res.writeHead(httpStatus, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
