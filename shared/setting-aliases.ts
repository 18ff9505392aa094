/**
 * Settings that were renamed to one spelling (`OPT_OUT_*`). The old names keep working, so an
 * app configured before the rename needs no change; zod-free, because the queue triggers read
 * their names at registration (shared/queue-names.ts).
 */
export const SETTING_ALIASES = {
  OPT_OUT_QUEUE_NAME: 'OPTOUT_QUEUE_NAME',
  OPT_OUT_KEYWORDS: 'OPTOUT_KEYWORDS',
  OPT_IN_KEYWORDS: 'OPTIN_KEYWORDS',
  OPT_OUT_AUDIT_TABLE_NAME: 'OPTOUT_AUDIT_TABLE_NAME',
} as const;

type Env = Record<string, string | undefined>;
const isSet = (value: string | undefined): value is string =>
  value !== undefined && value.trim() !== '';

/**
 * The environment with every old name moved to its new one, and the names set both ways with
 * different values (which one was meant cannot be known, so it is an error, not a guess).
 */
export function resolveAliases(env: Env): { env: Env; conflicts: string[] } {
  const resolved: Env = { ...env };
  const conflicts: string[] = [];
  for (const [name, old] of Object.entries(SETTING_ALIASES)) {
    const oldValue = resolved[old];
    delete resolved[old];
    if (!isSet(oldValue)) continue;
    if (!isSet(resolved[name])) resolved[name] = oldValue;
    else if (resolved[name] !== oldValue) {
      conflicts.push(
        `${name}: set both as ${name} and under its old name ${old}, to different values; keep only ${name}`,
      );
    }
  }
  return { env: resolved, conflicts };
}
