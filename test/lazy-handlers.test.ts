import { afterEach, describe, expect, it, vi } from 'vitest';

import { onFirstCall } from '../shared/lazy-handler.js';
import { queueNameForRegistration } from '../shared/queue-names.js';
import { parseSettings } from '../shared/settings.js';

describe('onFirstCall', () => {
  it('imports the module on the first call only, then calls its handler each time', async () => {
    const handler = vi.fn(async (a: number, b: string) => `${a}${b}`);
    const load = vi.fn(async () => ({ handler }));
    const lazy = onFirstCall(load, 'handler');
    expect(load).not.toHaveBeenCalled();
    await expect(Promise.all([lazy(1, 'a'), lazy(2, 'b')])).resolves.toEqual(['1a', '2b']);
    await expect(lazy(3, 'c')).resolves.toBe('3c');
    expect(load).toHaveBeenCalledTimes(1);
    expect(handler).toHaveBeenCalledTimes(3);
  });

  it('tries the import again after it failed', async () => {
    const handler = async () => 'ok';
    const load = vi
      .fn<() => Promise<{ handler: typeof handler }>>()
      .mockRejectedValueOnce(new Error('no chunk'))
      .mockResolvedValue({ handler });
    const lazy = onFirstCall(load, 'handler');
    await expect(lazy()).rejects.toThrow('no chunk');
    await expect(lazy()).resolves.toBe('ok');
    expect(load).toHaveBeenCalledTimes(2);
  });
});

describe('queueNameForRegistration', () => {
  afterEach(() => vi.unstubAllEnvs());

  it.each([
    ['imports-elsewhere'],
    [''],
    ['  '],
    [' padded '],
    ['Upper-Case'],
    ['double--dash'],
    ['ab'],
    ['x'.repeat(51)],
  ])('reads %j as the settings module does: the value when valid, else the default', (value) => {
    vi.stubEnv('IMPORT_QUEUE_NAME', value);
    vi.stubEnv('OPT_OUT_QUEUE_NAME', value);
    let expected: { IMPORT_QUEUE_NAME: string; OPT_OUT_QUEUE_NAME: string };
    try {
      expected = parseSettings({ IMPORT_QUEUE_NAME: value, OPT_OUT_QUEUE_NAME: value });
    } catch {
      expected = parseSettings({});
    }
    expect(queueNameForRegistration('IMPORT_QUEUE_NAME')).toBe(expected.IMPORT_QUEUE_NAME);
    expect(queueNameForRegistration('OPT_OUT_QUEUE_NAME')).toBe(expected.OPT_OUT_QUEUE_NAME);
  });

  it('uses the default when the setting is unset', () => {
    vi.stubEnv('IMPORT_QUEUE_NAME', undefined);
    expect(queueNameForRegistration('IMPORT_QUEUE_NAME')).toBe('customer-imports');
  });
});
