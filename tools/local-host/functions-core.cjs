// The `@azure/functions-core` module as the local host supplies it. The real Functions host
// builds this module into its Node.js worker; `@azure/functions` requires it to register
// functions and hooks. tools/local-host/core-api.ts creates the object and points both module
// resolvers (CommonJS and ES) at this file before the app is imported.
/* global module */
'use strict';
const api = globalThis[Symbol.for('sendmode-connector.local-host.functions-core')];
if (!api) {
  throw new Error('@azure/functions-core is supplied by the local functions host only.');
}
module.exports = api;
