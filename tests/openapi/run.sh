#!/usr/bin/env bash
# The API against its own description (docs/reliability.md): a real vault with a grant that holds
# every right is served, then
#   1. the committed and the served description are linted by Redocly's CLI (errors fail);
#   2. a client is generated from the served description by openapi-python-client and used
#      for every operation (client_check.py);
#   3. schemathesis runs every check against every operation with that grant's token, all
#      phases, a fixed seed (schemathesis.toml says the one setting that differs from its
#      defaults).
# usage: tests/openapi/run.sh [KLUIS_BINARY] (default target/debug/kluis; build it first)
# Installs what it needs itself, once: the pinned Python tools in tests/openapi/.venv and the
# pinned linter in tests/openapi/node_modules.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
kluis="$(realpath "${1:-$root/target/debug/kluis}")"
seed="${KLUIS_SCHEMATHESIS_SEED:-1}"
examples="${KLUIS_SCHEMATHESIS_EXAMPLES:-100}"

venv="$here/.venv"
req_sum="$venv/.kluis-requirements.sha256"
if [ ! -x "$venv/bin/python" ] || ! sha256sum --status -c "$req_sum" 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"
  sha256sum "$here/requirements.txt" > "$req_sum"
fi
lock_sum="$here/node_modules/.kluis-lock.sha256"
if [ ! -d "$here/node_modules/@redocly/cli" ] || ! sha256sum --status -c "$lock_sum" 2>/dev/null; then
  npm ci --prefix "$here" --no-audit --no-fund --silent
  sha256sum "$here/package-lock.json" > "$lock_sum"
fi

work="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# `kluis demo` makes a vault with a sample profile under its fixed passphrase.
export KLUIS_PASSPHRASE="demo passphrase"
export KLUIS_VAULT="$work/vault"
"$kluis" demo --dir "$KLUIS_VAULT" --no-serve > /dev/null
# The owner takes messages in the vault's inbox too, so that inbox deliveries can be allowed.
"$kluis" set /preferences/channels '["email", "post", "inbox"]' > /dev/null
"$kluis" grant create --to webshop.example --fields /profile/email,/profile/address \
  --contact-channel email,inbox --contact-topic orders --append-record \
  --purpose "API conformance" > "$work/token" 2> /dev/null
port="$("$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
# Local webhooks are allowed so that the subscriptions' URLs need no DNS; the description
# served says so (an http:// URL is then valid too).
"$kluis" serve --listen "127.0.0.1:$port" --allow-local-webhooks > "$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 50); do
  curl -sf "$base/healthz" > /dev/null && break
  sleep 0.2
done
curl -sf "$base/openapi.json" > "$work/served.json"

echo "== redocly lint"
lint() { "$here/node_modules/.bin/redocly" lint "$1" --format=summary 2>&1 | grep -v '[║╔╚]'; }
lint "$root/docs/openapi.json"
lint "$work/served.json"

echo "== openapi-python-client"
"$venv/bin/openapi-python-client" generate --path "$work/served.json" --meta none \
  --config "$here/config.yaml" --output-path "$work/kluis_client" > "$work/generate.log" 2>&1 \
  || { cat "$work/generate.log"; exit 1; }
if grep -q "Unable to process" "$work/generate.log"; then
  cat "$work/generate.log"
  exit 1
fi
email="$("$kluis" get /profile/email | tr -d '"')"
PYTHONPATH="$work" "$venv/bin/python" "$here/client_check.py" "$base" "$work/token" "$email"

echo "== schemathesis"
(cd "$work" && "$venv/bin/schemathesis" --no-color --config-file "$here/schemathesis.toml" run "$base/openapi.json" \
  -H "Authorization: Bearer $(cat "$work/token")" --checks all \
  --max-examples "$examples" --seed "$seed")
