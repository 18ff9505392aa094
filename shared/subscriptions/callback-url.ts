/**
 * Which URLs the app will POST events to. A callback URL carries its own credential more often
 * than not (a Logic Apps callback's `sig=`), so no message here quotes it, and the app logs only
 * its host. The rules:
 *
 * - at most 2,048 characters, with no spaces or control characters (the URL parser would drop
 *   tabs and line breaks silently, so the URL stored would not be the one given);
 * - `https://`; plain `http://` only to loopback (localhost, 127.x.x.x, [::1]: tests, local runs);
 * - no user name or password in it;
 * - not the app itself (every event would call the app back): not the request's host, nor
 *   `WEBSITE_HOSTNAME` on App Service; on loopback, where one machine runs several apps, the same
 *   port as the request is the app.
 */
import { isLoopbackUrl } from '../settings.js';

export const MAX_CALLBACK_URL_LENGTH = 2_048;

/** Where the app itself answers, to refuse callbacks pointing back at it. */
export interface AppAddress {
  /** The URL of the request that subscribes. */
  requestUrl: string;
  /** `WEBSITE_HOSTNAME` when set (App Service). */
  appHostname?: string;
}

/** Spaces, C0 and C1 controls and DEL. */
function hasSpaceOrControl(text: string): boolean {
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code <= 0x20 || (code >= 0x7f && code <= 0x9f)) return true;
  }
  return false;
}

/** Why `raw` cannot be a callback URL, or undefined when it can. Never quotes the value. */
export function callbackUrlProblem(raw: string, app?: AppAddress): string | undefined {
  if (raw.length > MAX_CALLBACK_URL_LENGTH) {
    return `must be at most ${MAX_CALLBACK_URL_LENGTH} characters`;
  }
  if (hasSpaceOrControl(raw)) return 'must not contain spaces or control characters';
  const url = URL.canParse(raw) ? new URL(raw) : undefined;
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.hostname === '') {
    return 'must be an absolute https:// URL';
  }
  if (url.protocol === 'http:' && !isLoopbackUrl(url)) {
    return 'must be https:// (http:// is accepted only for localhost, 127.x.x.x or [::1])';
  }
  if (url.username !== '' || url.password !== '') {
    return 'must not carry a user name or password';
  }
  if (app && pointsAtApp(url, app)) {
    return 'must not point at this app itself (each event would call the app back)';
  }
  return undefined;
}

function pointsAtApp(url: URL, app: AppAddress): boolean {
  const request = URL.canParse(app.requestUrl) ? new URL(app.requestUrl) : undefined;
  if (isLoopbackUrl(url)) {
    // Any loopback name is this machine: the port tells the apps on it apart.
    return request !== undefined && isLoopbackUrl(request) && portOf(url) === portOf(request);
  }
  const host = hostnameOf(url.hostname);
  const own = [request?.hostname, app.appHostname?.replace(/:\d+$/, '')]
    .filter((name): name is string => name !== undefined && name !== '')
    .map(hostnameOf);
  return own.includes(host);
}

/** Lower case, without the root's trailing dot (`app.example.` is `app.example`). */
function hostnameOf(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

function portOf(url: URL): string {
  return url.port || (url.protocol === 'https:' ? '443' : '80');
}
