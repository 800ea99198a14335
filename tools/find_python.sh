#!/usr/bin/env bash
# Print the path of a Python >= 3.12 interpreter, or explain why there is none.
#
# Order (see README, "Setup"): pyenv's 3.12.1 (the bare `python3.12` shim fails unless
# PYENV_VERSION is set), then a *working* python3.12 / python3.13 on PATH, then any
# ~/.pyenv/versions/3.1[2-9]* install even when pyenv itself is not on PATH.
set -u
ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }
candidates=()
if command -v pyenv >/dev/null 2>&1; then
  p=$(PYENV_VERSION=3.12.1 pyenv which python3 2>/dev/null) && candidates+=("$p")
fi
for name in python3.12 python3.13; do
  p=$(command -v "$name" 2>/dev/null) && candidates+=("$p")
done
for p in "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3; do
  [ -x "$p" ] && candidates+=("$p")
done
for p in "${candidates[@]}"; do
  if ok "$p"; then echo "$p"; exit 0; fi
done
echo "marketsim needs Python >= 3.12 and found none." >&2
echo "Tried: pyenv (PYENV_VERSION=3.12.1), python3.12/python3.13 on PATH, \$HOME/.pyenv/versions/3.1[2-9]*." >&2
echo "Install one (e.g. 'pyenv install 3.12.1') and run make again." >&2
exit 1
