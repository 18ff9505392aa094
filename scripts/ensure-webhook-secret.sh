#!/usr/bin/env bash
# Creates the webhook signing secret in Key Vault when signatures are required and the secret is
# absent; never overwrites one that exists. azd runs this as the project's postprovision hook
# (azure.yaml), with the azd environment, the Bicep outputs included, as its environment:
#
#   WEBHOOK_SIGNATURE_REQUIRED   true or false (output of infra/main.bicep)
#   AZURE_KEY_VAULT_NAME         the vault (output)
#   WEBHOOK_SIGNING_SECRET_NAME  the secret's name in it (output)
#
# The new value is whsec_ + base64 of 32 random bytes (the Standard Webhooks / Svix format). It is
# written to a private temporary file and handed to `az keyvault secret set --file`, so it is on
# no command line and in no log; nothing here prints it. Read it with `az keyvault secret show`
# (docs/deploy.md). Needs the Azure CLI signed in (`az login`) as someone who may read and write
# the vault's secrets: the deploying user (principalId) has Key Vault Secrets Officer. A role
# assigned by this very provisioning can take minutes to apply, so "forbidden" is retried for up
# to WEBHOOK_SECRET_RBAC_WAIT_SECONDS (default 300), every WEBHOOK_SECRET_RETRY_SECONDS (15).
# Any other failure stops the script (and `azd up`) without writing anything.
#
# Run it again by hand with `azd hooks run postprovision`.
set -euo pipefail

say() { echo "ensure-webhook-secret: $*"; }
fail() {
  echo "ensure-webhook-secret: $*" >&2
  exit 1
}

required="${WEBHOOK_SIGNATURE_REQUIRED:-}"
vault="${AZURE_KEY_VAULT_NAME:-}"
name="${WEBHOOK_SIGNING_SECRET_NAME:-}"
wait_seconds="${WEBHOOK_SECRET_RBAC_WAIT_SECONDS:-300}"
retry_seconds="${WEBHOOK_SECRET_RETRY_SECONDS:-15}"

case "$(printf '%s' "$required" | tr '[:upper:]' '[:lower:]')" in
  true) ;;
  false)
    say "webhook signatures are not required (REQUIRE_WEBHOOK_SIGNATURE=false): no secret is needed."
    exit 0
    ;;
  *)
    fail "WEBHOOK_SIGNATURE_REQUIRED is '${required}', not true or false: run this after \`azd provision\` (it reads the outputs of infra/main.bicep), e.g. \`azd hooks run postprovision\`."
    ;;
esac
[[ -n "$vault" ]] || fail "AZURE_KEY_VAULT_NAME is not set: run this after \`azd provision\`."
[[ -n "$name" ]] || fail "WEBHOOK_SIGNING_SECRET_NAME is not set: run this after \`azd provision\`."
command -v az >/dev/null 2>&1 ||
  fail "webhook signatures are required but the Azure CLI (az) is not installed, so secret '$name' in vault '$vault' cannot be checked or created. Install it, \`az login\`, then \`azd hooks run postprovision\`; or set the secret yourself (docs/deploy.md); or choose unsigned webhooks: \`azd env set REQUIRE_WEBHOOK_SIGNATURE false\` and \`azd provision\`. Until the secret exists, every webhook is refused."

work="$(umask 077 && mktemp -d)"
trap 'rm -rf "$work"' EXIT
errors="$work/az-errors"

# Does the secret exist? 0: yes; 1: no (SecretNotFound). Anything else ends the script.
exists() {
  local waited=0
  while :; do
    # --query id: only the secret's id is printed, never its value (and that goes nowhere).
    if az keyvault secret show --vault-name "$vault" --name "$name" --query id --output tsv \
      --only-show-errors >/dev/null 2>"$errors"; then
      return 0
    fi
    if grep -q 'SecretNotFound' "$errors"; then
      return 1
    fi
    if grep -q 'SecretDisabled' "$errors"; then
      say "WARNING: secret '$name' exists in vault '$vault' but is disabled: every webhook is refused until it is enabled (az keyvault secret set-attributes --enabled true). It is left as it is."
      return 0
    fi
    if grep -Eqi 'Forbidden|not authorized|AuthorizationFailed' "$errors" && ((waited < wait_seconds)); then
      say "not (yet) allowed to read secrets of vault '$vault'; a role assigned just now can take minutes to apply. Trying again in ${retry_seconds}s."
      sleep "$retry_seconds"
      waited=$((waited + retry_seconds))
      continue
    fi
    sed 's/^/  az: /' "$errors" >&2
    fail "could not tell whether secret '$name' exists in vault '$vault', so nothing was written. Signed in with \`az login\`, with Key Vault Secrets Officer on the vault? Fix it and run \`azd hooks run postprovision\`. Until the secret exists, every webhook is refused."
  done
}

if exists; then
  say "secret '$name' already exists in vault '$vault': left as it is."
  exit 0
fi

# The value goes straight from Node's CSPRNG into a file only this user can read (no newline: az
# stores the file's bytes as they are).
value_file="$work/value"
node -e '
  const { randomBytes } = require("node:crypto");
  const value = "whsec_" + randomBytes(32).toString("base64");
  require("node:fs").writeFileSync(process.argv[1], value, { mode: 0o600 });
' "$value_file"

if ! az keyvault secret set --vault-name "$vault" --name "$name" --file "$value_file" \
  --encoding utf-8 --description text/plain --output none --only-show-errors 2>"$errors"; then
  sed 's/^/  az: /' "$errors" >&2
  if grep -q 'ObjectIsDeletedButRecoverable\|deleted but recoverable' "$errors"; then
    fail "secret '$name' was deleted and is kept, soft deleted, by the vault: recover it (az keyvault secret recover --vault-name '$vault' --name '$name') and run \`azd hooks run postprovision\`."
  fi
  fail "could not create secret '$name' in vault '$vault'. Fix it and run \`azd hooks run postprovision\`. Until the secret exists, every webhook is refused."
fi
say "created webhook signing secret '$name' in vault '$vault' (a random whsec_ value, not shown). Give it to the webhook sender: az keyvault secret show --vault-name '$vault' --name '$name' --query value -o tsv"
