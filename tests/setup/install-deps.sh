#!/usr/bin/env bash
# Install everything the tests, benchmarks and the demo need, from nothing:
#   - Debian packages: openssh-server (sshd), openssh-client, tmux, rsync, git, shellcheck, make
#   - a virtual environment (.venv by default) with requirements-dev.txt
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
# Make this checkout resolvable as nanochat.remote_gpu for ansible.cfg's collections_path.
link_dir="$repo/.cache/collections/ansible_collections/nanochat"
mkdir -p "$link_dir"
if [ "$(readlink "$link_dir/remote_gpu" 2>/dev/null || true)" != "../../../.." ]; then
    rm -f "$link_dir/remote_gpu"
    ln -s ../../../.. "$link_dir/remote_gpu"
fi
echo "install-deps: ready ($("$venv/bin/ansible" --version | head -n1))"
