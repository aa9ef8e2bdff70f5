#!/usr/bin/env bash
# Install lexkd and everything it needs on a fresh Debian/Ubuntu machine (or any machine with pip).
#   - WordNet 3.0: Debian packages wordnet-base + wordnet-sense-index where apt is available,
#     else NLTK's download (needs internet);
#   - torch==2.13.0 first, so that no other package pulls a different (CUDA) build;
#   - lexkd itself in editable mode with the dev extra (pytest, ruff).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

if [ ! -f /usr/share/wordnet/data.noun ] || [ ! -f /usr/share/wordnet/index.sense ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends wordnet-base wordnet-sense-index
  fi
fi

"$PYTHON" -m pip install --quiet torch==2.13.0
"$PYTHON" -m pip install --quiet -e ".[dev]"

if [ ! -f /usr/share/wordnet/data.noun ]; then
  echo "No Debian WordNet: downloading WordNet 3.0 with NLTK" >&2
  "$PYTHON" -c "import nltk; nltk.download('wordnet', quiet=True)"
fi
"$PYTHON" -c "from lexkd.lexical.wordnet import get_wordnet; wn = get_wordnet(); print('WordNet', wn.version, 'from', wn.source)"
