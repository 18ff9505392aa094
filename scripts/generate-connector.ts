/**
 * `npm run connector`: writes connector/apiDefinition.swagger.json, the custom connector's API
 * definition for `paconn`, from the same document the app serves at /api/openapi.json.
 * test/openapi.test.ts fails when the checked-in file is stale.
 *
 * The host is a placeholder (a valid host name: Power Platform rejects others). For a deployed
 * app, either replace it with `<app>.azurewebsites.net`, or take the app's own document, which
 * carries its host: `curl -o apiDefinition.swagger.json https://<app>.azurewebsites.net/api/openapi.json`
 * then `paconn create --api-def apiDefinition.swagger.json --api-prop connector/apiProperties.json`.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { buildOpenApi } from '../shared/http/openapi.js';

export const CONNECTOR_HOST = 'your-function-app.azurewebsites.net';

export const API_DEFINITION_PATH = fileURLToPath(
  new URL('../connector/apiDefinition.swagger.json', import.meta.url),
);

export const API_PROPERTIES_PATH = fileURLToPath(
  new URL('../connector/apiProperties.json', import.meta.url),
);

export function connectorDefinition(): object {
  return buildOpenApi({ host: CONNECTOR_HOST });
}

/** The file's text, formatted as Prettier (and so `npm run lint`) wants it. */
export async function connectorDefinitionText(): Promise<string> {
  // The project's Prettier settings (printWidth), or lint would reformat a long enum line.
  const config = await resolveConfig(API_DEFINITION_PATH);
  return format(JSON.stringify(connectorDefinition()), { ...config, parser: 'json' });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(API_DEFINITION_PATH, await connectorDefinitionText());
  console.log(`Wrote ${API_DEFINITION_PATH}`);
}
