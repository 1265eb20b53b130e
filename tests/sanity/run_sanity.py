# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run every ``ansible-test sanity`` test on this checkout, with no ignore file.

ansible-test needs the collection at ``.../ansible_collections/<namespace>/<name>``: the files
git tracks (plus untracked, not ignored ones) are copied to such a path in a temporary
directory. ansible-test's pip bootstrap script comes from a host these machines cannot reach,
so ours (tests/sanity/offline_get_pip.py) is put where ansible-test caches it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def tracked_files():
    out = subprocess.check_output(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], cwd=REPO)
    return sorted(set(p for p in out.decode().split('\0') if p and os.path.isfile(os.path.join(REPO, p))))


def ansible_test_pip_version():
    import ansible_test  # pylint: disable=import-outside-toplevel
    path = os.path.join(os.path.dirname(ansible_test.__file__), '_internal', 'python_requirements.py')
    with open(path) as handle:
        match = re.search(r"pip='([0-9.]+)'", handle.read())
    return match.group(1)


def install_pip_bootstrap():
    version = ansible_test_pip_version()
    cache = os.path.expanduser('~/.ansible/test/cache')
    os.makedirs(cache, exist_ok=True)
    shutil.copy(os.path.join(REPO, 'tests', 'sanity', 'offline_get_pip.py'),
                os.path.join(cache, 'get_pip_%s.py' % version.replace('.', '_')))


def main(argv):
    install_pip_bootstrap()
    work = tempfile.mkdtemp(prefix='nanochat-sanity-')
    try:
        dest = os.path.join(work, 'ansible_collections', 'nanochat', 'remote_gpu')
        for rel in tracked_files():
            target = os.path.join(dest, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(os.path.join(REPO, rel), target)
        python = '%d.%d' % sys.version_info[:2]
        ansible_test = os.path.join(os.path.dirname(sys.executable), 'ansible-test')
        cmd = [ansible_test, 'sanity', '--requirements', '--python', python, '--color', 'no'] + argv
        print('run_sanity: %s (in %s)' % (' '.join(cmd), dest), flush=True)
        return subprocess.call(cmd, cwd=dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
