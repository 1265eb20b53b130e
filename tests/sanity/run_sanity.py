# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run every ``ansible-test sanity`` test on this checkout, with no ignore file.

ansible-test needs the collection at ``.../ansible_collections/<namespace>/<name>``: the files
git tracks (plus untracked, not ignored ones) are copied to such a path in a temporary
directory. ansible-test's pip bootstrap script comes from a host these machines cannot reach,
so ours (tests/sanity/offline_get_pip.py) is put where ansible-test caches it.

The target-side tests (compile, import, ...) run for every Python version that ansible-test
supports and tests/config.yml claims for modules: interpreters are taken from the PATH or from
pyenv (``pyenv root``, else ~/.pyenv) and linked into a temporary bin directory put first on the
PATH. A claimed version without an interpreter fails the run, naming it (never a silent skip).
"""

from __future__ import annotations

import glob
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


def claimed_versions():
    """Versions ansible-test supports that tests/config.yml's modules.python_requires claims."""
    import yaml  # pylint: disable=import-outside-toplevel
    from ansible_test._util.target.common.constants import CONTROLLER_PYTHON_VERSIONS, REMOTE_ONLY_PYTHON_VERSIONS  # pylint: disable=import-outside-toplevel
    from packaging.specifiers import SpecifierSet  # pylint: disable=import-outside-toplevel
    with open(os.path.join(REPO, 'tests', 'config.yml')) as handle:
        spec = SpecifierSet(yaml.safe_load(handle)['modules']['python_requires'])
    return [v for v in REMOTE_ONLY_PYTHON_VERSIONS + CONTROLLER_PYTHON_VERSIONS if spec.contains(v + '.0')]


def pyenv_root():
    root = os.environ.get('PYENV_ROOT')
    if not root and shutil.which('pyenv'):
        root = subprocess.run(['pyenv', 'root'], stdout=subprocess.PIPE, text=True, check=False).stdout.strip()
    return root or os.path.expanduser('~/.pyenv')


def find_interpreter(version):
    """pythonX.Y that really runs X.Y: from pyenv's versions, else the PATH (pyenv shims excluded)."""
    root = pyenv_root()
    candidates = sorted(glob.glob(os.path.join(root, 'versions', version + '.*', 'bin', 'python' + version)), reverse=True)
    for directory in os.environ.get('PATH', '').split(os.pathsep):
        if directory and 'shims' not in directory:
            candidates.append(os.path.join(directory, 'python' + version))
    for path in candidates:
        if os.access(path, os.X_OK):
            out = subprocess.run([path, '-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True, check=False).stdout.strip()
            if out == version:
                return path
    return None


def main(argv):
    install_pip_bootstrap()
    versions = claimed_versions()
    found = dict((v, find_interpreter(v)) for v in versions)
    missing = [v for v in versions if not found[v]]
    if missing:
        print('run_sanity: tests/config.yml claims Python %s for modules, but there is no interpreter for %s here '
              '(looked in %s/versions and on the PATH): install it (pyenv install) or narrow the claim.'
              % (', '.join(versions), ', '.join(missing), pyenv_root()), file=sys.stderr)
        return 2
    bin_dir = tempfile.mkdtemp(prefix='nanochat-sanity-bin-')
    for version, path in found.items():
        os.symlink(path, os.path.join(bin_dir, 'python' + version))
    os.environ['PATH'] = bin_dir + os.pathsep + os.environ.get('PATH', '')
    work = tempfile.mkdtemp(prefix='nanochat-sanity-')
    try:
        dest = os.path.join(work, 'ansible_collections', 'nanochat', 'remote_gpu')
        for rel in tracked_files():
            target = os.path.join(dest, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(os.path.join(REPO, rel), target)
        ansible_test = os.path.join(os.path.dirname(sys.executable), 'ansible-test')
        # Without --python: the controller tests on this Python, the target tests on every version.
        cmd = [ansible_test, 'sanity', '--requirements', '--color', 'no'] + argv
        print('run_sanity: %s (in %s; Python %s)' % (' '.join(cmd), dest, ', '.join(versions)), flush=True)
        return subprocess.call(cmd, cwd=dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(bin_dir, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
