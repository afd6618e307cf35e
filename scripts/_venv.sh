# Sourced by scripts/run and scripts/test: a project-local virtualenv with the gateway installed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${GATEWAY_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
EXTRAS="${1:-}"
STAMP="$VENV/.installed${EXTRAS:+-$EXTRAS}"

_fresh() { [ -f "$1" ] && [ ! "$ROOT/pyproject.toml" -nt "$1" ]; }

# The README starts `scripts/run fake-provider &` and `scripts/run` together: one installs while
# the other waits (two pip runs into one venv break each other).
mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
flock 9
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
# Reinstall when pyproject.toml changed since the last install; the test install includes the
# gateway itself, so it serves scripts/run too.
if ! _fresh "$STAMP" && ! { [ -z "$EXTRAS" ] && _fresh "$VENV/.installed-test"; }; then
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e "$ROOT${EXTRAS:+[$EXTRAS]}"
  touch "$STAMP"
fi
flock -u 9
exec 9>&-
export PATH="$VENV/bin:$PATH"
cd "$ROOT"
