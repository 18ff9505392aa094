/**
 * The local tools are safe on a developer's laptop: the simulator and the local host answer
 * only requests whose `Host` names this machine (a DNS-rebinding page sends its own name), the
 * simulator's admin API and inbox data refuse other sites' pages, and binding to another
 * interface prints a warning. Real servers over real HTTP; `Host` is forged with undici.request
 * (fetch will not set it).
 */
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { hostAllowed } from '../tools/local-host/host-guard.js';
import { startSimulator } from '../tools/sendmode-simulator/simulator.js';
import type { Simulator } from '../tools/sendmode-simulator/types.js';
import { type Child, spawnNode } from './helpers/processes.js';

const KEY = 'guard-key';
let sim: Simulator;
let port: string;

beforeAll(async () => {
  sim = await startSimulator({ apiKeys: [KEY] });
  port = new URL(sim.origin).port;
});
afterEach(() => sim.reset());
afterAll(async () => {
  await sim?.close();
});

async function get(
  url: string,
  headers: Record<string, string>,
  method: 'GET' | 'DELETE' = 'GET',
): Promise<{ status: number; text: string }> {
  const res = await request(url, { method, headers });
  return { status: res.statusCode, text: await res.body.text() };
}

/** A child process with its stderr kept apart (warnings belong there). */
function spawnTool(args: string[]): Child & { stderr: () => string } {
  const child = spawnNode(['--import', 'tsx', ...args], { env: { FIXTURE_QUEUE: undefined } });
  let stderr = '';
  child.process.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return { ...child, stderr: () => stderr };
}

/** A host process on the fixture app (HTTP functions; its queue function does not run here). */
async function startFixtureHost(args: string[] = []) {
  const child = spawnTool([
    'tools/local-host/main.ts',
    ...['--app', 'test/fixtures/queue-app', '--port', '0', ...args],
  ]);
  const [, url] = await child.waitFor(/Host started .*: (http:\/\/\S+) /);
  return { child, url: url!.replace('localhost', '127.0.0.1') };
}

describe('Host header (DNS rebinding)', () => {
  it('names of this machine pass, any port; other names and odd forms do not', () => {
    for (const host of [
      'localhost',
      'LOCALHOST:8081',
      'inbox.localhost:8081',
      '127.0.0.1',
      '127.8.9.10:1',
      '[::1]:7071',
      '[::ffff:127.0.0.1]',
    ]) {
      expect(hostAllowed(host, '127.0.0.1'), host).toBe(true);
    }
    for (const host of [
      'evil.example',
      'localhost.evil.example',
      '127.0.0.1.evil.example',
      'evil.example@localhost',
      '10.0.0.5:8081',
      '[::2]',
      '',
      'localhost:8081:1',
    ]) {
      expect(hostAllowed(host, '127.0.0.1'), host).toBe(false);
    }
    // Bound to every interface on purpose: addresses pass (rebinding needs a name), names not.
    expect(hostAllowed('10.0.0.5:8081', '0.0.0.0')).toBe(true);
    expect(hostAllowed('evil.example:8081', '0.0.0.0')).toBe(false);
  });

  it('the simulator refuses a foreign Host on every route, plainly, without echoing it', async () => {
    for (const path of ['/v2/credits', '/__admin/state', '/', '/__inbox/entries']) {
      const refused = await get(`${sim.origin}${path}`, {
        host: 'evil.example',
        authorization: KEY,
      });
      expect(refused.status, path).toBe(421);
      expect(refused.text).toMatch(/^Refused: the Host header does not name this machine/);
      expect(refused.text).not.toContain('evil');
    }
    expect(sim.calls()).toEqual([]);
    const ok = await get(`${sim.origin}/v2/credits`, {
      host: `localhost:${port}`,
      authorization: KEY,
    });
    expect(ok.status).toBe(200);
  });

  it('the local host refuses a foreign Host and serves localhost', async () => {
    const { child, url } = await startFixtureHost();
    try {
      const refused = await get(`${url}/api/boom`, { host: 'attacker.example:7071' });
      expect(refused.status).toBe(421);
      expect(refused.text).not.toContain('attacker');
      expect(child.output()).not.toContain('Executing');
      const status = await get(`${url}/admin/host/status`, {
        host: `localhost:${new URL(url).port}`,
      });
      expect(status.status).toBe(200);
      expect(child.stderr()).not.toContain('Warning'); // loopback: nothing to warn about
    } finally {
      await child.stop();
    }
  });
});

describe("the simulator's admin routes refuse other sites", () => {
  const clear = (headers: Record<string, string>) =>
    get(`${sim.origin}/__admin/calls`, { host: `127.0.0.1:${port}`, ...headers }, 'DELETE');

  it('refuses cross-site, same-site and foreign or opaque origins, and changes nothing', async () => {
    await get(`${sim.url}/credits`, { authorization: KEY });
    const cases: Record<string, string>[] = [
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site', origin: `http://localhost:3000` },
      { origin: 'http://evil.example' },
      { origin: 'null' },
    ];
    for (const headers of cases) {
      const refused = await clear(headers);
      expect(refused.status, JSON.stringify(headers)).toBe(403);
      expect(refused.text).toMatch(/^Refused: a request from another site/);
    }
    expect(sim.calls()).toHaveLength(1);
    const data = await get(`${sim.origin}/__inbox/entries`, { 'sec-fetch-site': 'cross-site' });
    expect(data.status).toBe(403);
  });

  it('the inbox page itself (same origin), a link to it, and curl still work', async () => {
    const page = await get(`${sim.origin}/`, { 'sec-fetch-site': 'cross-site' });
    expect(page.status).toBe(200); // following a link from elsewhere opens the page
    await get(`${sim.url}/credits`, { authorization: KEY });
    const fromPage = await clear({ 'sec-fetch-site': 'same-origin', origin: sim.origin });
    expect(fromPage.status).toBe(204);
    expect(sim.calls()).toEqual([]);
    expect((await get(`${sim.origin}/__admin/state`, {})).status).toBe(200);
  });
});

describe('--bind to another interface', () => {
  it('the simulator warns that anyone on the network can reach it; loopback does not', async () => {
    const args = ['tools/sendmode-simulator/main.ts', '--port', '0', '--quiet'];
    const open = spawnTool([...args, '--bind', '0.0.0.0']);
    const local = spawnTool(args);
    try {
      await Promise.all([open.waitFor(/listening on/), local.waitFor(/listening on/)]);
      expect(open.stderr()).toContain(
        'Warning: listening on 0.0.0.0, not only on this machine: anyone on the network can use its admin API',
      );
      expect(local.output()).not.toContain('Warning');
    } finally {
      await Promise.all([open.stop(), local.stop()]);
    }
  });

  it('the local host warns that function keys are not checked, and answers by address', async () => {
    const { child, url } = await startFixtureHost(['--bind', '0.0.0.0']);
    try {
      expect(child.stderr()).toMatch(
        /Warning: listening on 0\.0\.0\.0, not only on this machine: anyone on the network can call every function, and function keys are not checked/,
      );
      const port = new URL(url).port;
      const byAddress = await get(`${url}/admin/host/status`, { host: `192.0.2.7:${port}` });
      expect(byAddress.status).toBe(200);
      const byName = await get(`${url}/admin/host/status`, { host: `evil.example:${port}` });
      expect(byName.status).toBe(421);
    } finally {
      await child.stop();
    }
  });
});
