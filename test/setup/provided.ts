/**
 * What test/setup/global.ts hands to test files through vitest's `provide` / `inject`: the one
 * Azurite of the run, whose storage accounts test/helpers/storage.ts leases one per file.
 */
import type { AzuritePorts } from '../helpers/azurite.js';

export interface SharedAzurite extends AzuritePorts {
  /** Storage accounts besides devstoreaccount1, all with the development key. */
  accounts: string[];
  /** A directory where each file leases an account (mkdir of its index: atomic across workers). */
  leaseDir: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    sharedAzurite: SharedAzurite;
  }
}
