#!/usr/bin/env bash
# Install everything the tests, benchmarks and the demo need, from nothing:
#   - Debian packages: openssh-server (sshd), openssh-client, tmux, rsync, git, shellcheck, make
#   - a virtual environment (.venv by default, $PYTHON) with requirements-dev.txt: ansible-core 2.19
#   - a second one (.venv-latest, VENV_LATEST) on Python 3.13 ($PYTHON_LATEST, else pyenv's newest
#     3.13, else python3.13 on the PATH) with requirements-dev-latest.txt: the newest ansible-core
# Safe to run again: it installs only what is missing or changed.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
venv=${VENV:-$repo/.venv}
python=${PYTHON:-python3}

need=()
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
command -v tmux >/dev/null 2>&1 || need+=(tmux)
command -v rsync >/dev/null 2>&1 || need+=(rsync)
command -v git >/dev/null 2>&1 || need+=(git)
command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
command -v make >/dev/null 2>&1 || need+=(make)

if [ ${#need[@]} -gt 0 ]; then
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        sudo=(sudo)
    fi
    echo "install-deps: apt-get install ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

venv_latest=${VENV_LATEST:-$repo/.venv-latest}
find_latest_python() {
    if [ -n "${PYTHON_LATEST:-}" ]; then printf '%s\n' "$PYTHON_LATEST"; return; fi
    local root
    root=${PYENV_ROOT:-$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")}
    local found="" candidate
    for candidate in "$root"/versions/3.13.*/bin/python3.13; do
        [ -x "$candidate" ] && found=$candidate
    done
    if [ -n "$found" ]; then printf '%s\n' "$found"; return; fi
    command -v python3.13 2>/dev/null || true
}

stamp="$venv/.requirements.sha256"
want=$(cat "$repo/requirements.txt" "$repo/requirements-dev.txt" | sha256sum | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ]; then
    echo "install-deps: creating $venv"
    "$python" -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    echo "install-deps: pip install -r requirements-dev.txt"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$repo/requirements-dev.txt"
    echo "$want" > "$stamp"
fi
if [ "${SKIP_LATEST:-0}" != 1 ]; then
    stamp_latest="$venv_latest/.requirements.sha256"
    want_latest=$(cat "$repo/requirements.txt" "$repo/requirements-dev-latest.txt" | sha256sum | cut -d' ' -f1)
    if [ ! -x "$venv_latest/bin/python" ]; then
        python_latest=$(find_latest_python)
        if [ -z "$python_latest" ] || ! "$python_latest" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then
            echo "install-deps: no Python 3.13 for the newest ansible-core line (.venv-latest): looked at" \
                 "\$PYTHON_LATEST, pyenv (${PYENV_ROOT:-$HOME/.pyenv}/versions/3.13.*) and python3.13 on the PATH." \
                 "Install one (pyenv install 3.13) or set PYTHON_LATEST=/path/to/python3.13." >&2
            exit 1
        fi
        echo "install-deps: creating $venv_latest ($python_latest)"
        "$python_latest" -m venv "$venv_latest"
    fi
    if [ "$(cat "$stamp_latest" 2>/dev/null || true)" != "$want_latest" ]; then
        echo "install-deps: pip install -r requirements-dev-latest.txt"
        "$venv_latest/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
        "$venv_latest/bin/python" -m pip install -q --disable-pip-version-check -r "$repo/requirements-dev-latest.txt"
        echo "$want_latest" > "$stamp_latest"
    fi
fi
# Make this checkout resolvable as nanochat.remote_gpu for ansible.cfg's collections_path.
link_dir="$repo/.cache/collections/ansible_collections/nanochat"
mkdir -p "$link_dir"
if [ "$(readlink "$link_dir/remote_gpu" 2>/dev/null || true)" != "../../../.." ]; then
    rm -f "$link_dir/remote_gpu"
    ln -s ../../../.. "$link_dir/remote_gpu"
fi
version_of() { "$1/bin/python" -c 'import ansible.release as r; print("ansible-core " + r.__version__)'; }
echo "install-deps: ready ($(version_of "$venv")$([ "${SKIP_LATEST:-0}" = 1 ] || echo "; $(version_of "$venv_latest")"))"
