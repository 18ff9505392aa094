/**
 * `npm run connector`: writes the custom connector for `paconn`, connector/apiDefinition.swagger.json
 * (the document the app serves at /api/openapi.json) and connector/apiProperties.json (its
 * connection). test/openapi.test.ts fails when either checked-in file is stale, and
 * test/connector-rules.test.ts checks both against Power Platform's documented rules.
 *
 * One connector serves every deployment: its connection asks for the function app's host name
 * beside the function key, and the `dynamichosturl` policy sends each call there. The definition's
 * `host` is only a placeholder the policy replaces (a valid host name: Power Platform rejects
 * others). `paconn create --api-def connector/apiDefinition.swagger.json --api-prop connector/apiProperties.json`.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { format, resolveConfig } from 'prettier';

import { buildOpenApi, FUNCTION_KEY_HEADER } from '../shared/http/openapi.js';

export const CONNECTOR_HOST = 'your-function-app.azurewebsites.net';

/** The connection parameter holding the app's host name (`<app>.azurewebsites.net`). */
export const HOST_PARAMETER = 'hostUrl';

export const API_DEFINITION_PATH = fileURLToPath(
  new URL('../connector/apiDefinition.swagger.json', import.meta.url),
);

export const API_PROPERTIES_PATH = fileURLToPath(
  new URL('../connector/apiProperties.json', import.meta.url),
);

export function connectorDefinition(): object {
  return buildOpenApi({ host: CONNECTOR_HOST });
}

const PUBLISHER = 'Sendmode connector (self-hosted)';

/** The connection: the host and the function key, and the policy that sends calls to that host. */
export function connectorProperties(): object {
  const { basePath, securityDefinitions } = connectorDefinition() as {
    basePath: string;
    securityDefinitions: Record<string, unknown>;
  };
  // The security definition's name is the connection parameter the key is kept in.
  const [keyParameter] = Object.keys(securityDefinitions);
  return {
    properties: {
      connectionParameters: {
        [HOST_PARAMETER]: {
          type: 'string',
          uiDefinition: {
            displayName: 'Function app host',
            description:
              'The function app’s host name, without https:// or a path (Azure portal: the function app > Overview > Default domain; azd: AZURE_FUNCTION_APP_HOSTNAME).',
            tooltip: 'your-app.azurewebsites.net',
            constraints: { tabIndex: 1, required: 'true' },
          },
        },
        [keyParameter ?? 'api_key']: {
          type: 'securestring',
          uiDefinition: {
            displayName: 'Function key',
            description:
              'A function key of the function app (Azure portal: the function app > App keys, or `az functionapp keys list`).',
            tooltip: `Sent as the ${FUNCTION_KEY_HEADER} header on every call.`,
            constraints: { tabIndex: 2, clearText: false, required: 'true' },
          },
        },
      },
      iconBrandColor: '#0072C6',
      capabilities: [],
      publisher: PUBLISHER,
      stackOwner: PUBLISHER,
      policyTemplateInstances: [
        {
          templateId: 'dynamichosturl',
          title: 'Set the host from the connection',
          // The policy replaces the whole base URL, the definition's basePath with it.
          parameters: {
            'x-ms-apimTemplateParameter.urlTemplate': `https://@connectionParameters('${HOST_PARAMETER}')${basePath}`,
          },
        },
      ],
    },
  };
}

/** A file's text, formatted as Prettier (and so `npm run lint`) wants it. */
async function jsonText(value: object, path: string): Promise<string> {
  // The project's Prettier settings (printWidth), or lint would reformat a long enum line.
  const config = await resolveConfig(path);
  return format(JSON.stringify(value), { ...config, parser: 'json' });
}

export const connectorDefinitionText = () => jsonText(connectorDefinition(), API_DEFINITION_PATH);
export const connectorPropertiesText = () => jsonText(connectorProperties(), API_PROPERTIES_PATH);

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(API_DEFINITION_PATH, await connectorDefinitionText());
  writeFileSync(API_PROPERTIES_PATH, await connectorPropertiesText());
  console.log(`Wrote ${API_DEFINITION_PATH} and ${API_PROPERTIES_PATH}`);
}
