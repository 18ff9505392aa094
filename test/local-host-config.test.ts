/** The local host reads host.json as the Functions host does, app-setting overrides included. */
import { describe, expect, it } from 'vitest';

import { applyHostOverrides, parseHostJson } from '../tools/local-host/config.js';

const hostJson = {
  version: '2.0',
  extensions: { queues: { batchSize: 8, maxPollingInterval: '00:00:02' } },
};

describe('AzureFunctionsJobHost__ overrides', () => {
  it('replace host.json values by path, case-insensitively, numbers read as numbers', () => {
    const config = parseHostJson(
      applyHostOverrides(hostJson, {
        AzureFunctionsJobHost__extensions__queues__batchsize: '2',
        AZUREFUNCTIONSJOBHOST__EXTENSIONS__QUEUES__MAXPOLLINGINTERVAL: '00:00:00.100',
        AzureFunctionsJobHost__functionTimeout: '00:01:00',
        UNRELATED: '5',
      }),
    );
    expect(config.queues.batchSize).toBe(2);
    expect(config.queues.maxPollingIntervalMs).toBe(100);
    expect(config.functionTimeoutMs).toBe(60_000);
    expect(config.queues.newBatchThreshold).toBe(1); // follows the overridden batch size
  });

  it('create missing sections and leave host.json itself untouched', () => {
    const json = applyHostOverrides(
      {},
      { AzureFunctionsJobHost__extensions__http__routePrefix: 'v1' },
    );
    expect(parseHostJson(json).routePrefix).toBe('v1');
    applyHostOverrides(hostJson, { AzureFunctionsJobHost__extensions__queues__batchSize: '1' });
    expect(hostJson.extensions.queues.batchSize).toBe(8);
  });

  it('an invalid override is reported like an invalid host.json value', () => {
    expect(() =>
      parseHostJson(
        applyHostOverrides(hostJson, {
          AzureFunctionsJobHost__extensions__queues__batchSize: '99',
        }),
      ),
    ).toThrow(/batchSize/);
  });
});
