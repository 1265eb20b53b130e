# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nanochat fixture as a real git repository, served by ``git daemon`` on 127.0.0.1.

:func:`build_fixture_repo` turns tests/fixtures/nanochat into a bare repository with two commits:
the first tagged ``v0.1.0``, the second (on ``master``) changing only the README, so a role can
be pinned to a tag, a commit or a branch and moved between them. Both have the web UI stand-in
(``scripts/chat_web.py``, ``nanochat/ui.html``), like nanochat up to 21a7774; a third commit on
branch ``no-web-ui`` deletes it, like nanochat's HEAD (``noui_commit``: the HEAD-like pin). :class:`GitServer` serves a
directory of bare repositories over ``git://127.0.0.1:PORT/<name>`` - a URL every test user
can clone (cloning a ``file://`` repository owned by root fails git's ownership check).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE = os.path.join(REPO_ROOT, 'tests', 'fixtures', 'nanochat')
GIT_ENV = dict(GIT_AUTHOR_NAME='nanochat fixture', GIT_AUTHOR_EMAIL='fixture@example.invalid',
               GIT_COMMITTER_NAME='nanochat fixture', GIT_COMMITTER_EMAIL='fixture@example.invalid',
               GIT_AUTHOR_DATE='2026-07-03T12:00:00Z', GIT_COMMITTER_DATE='2026-07-03T12:00:00Z',
               GIT_CONFIG_GLOBAL='/dev/null', GIT_CONFIG_NOSYSTEM='1')


def _git(args, cwd):
    env = dict(os.environ, **GIT_ENV)
    return subprocess.run(['git'] + args, cwd=cwd, env=env, check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True).stdout.strip()


def build_fixture_repo(root, name='nanochat.git'):
    """Create ``<root>/<name>`` (bare). Returns dict(path, tag, tag_commit, head_commit, branch,
    noui_commit, noui_branch)."""
    work = tempfile.mkdtemp(prefix='nrg-fixture-work-')
    try:
        src = os.path.join(work, 'nanochat')
        shutil.copytree(FIXTURE, src, ignore=shutil.ignore_patterns('__pycache__', '*.pyc', '.venv'))
        _git(['init', '-q', '-b', 'master'], src)
        _git(['add', '-A'], src)
        _git(['commit', '-q', '-m', 'nanochat fixture'], src)
        _git(['tag', 'v0.1.0'], src)
        tag_commit = _git(['rev-parse', 'HEAD'], src)
        with open(os.path.join(src, 'README.md'), 'a') as handle:
            handle.write('\nSecond commit: only this line changed (tests move between versions).\n')
        _git(['commit', '-q', '-am', 'README: second commit'], src)
        head_commit = _git(['rev-parse', 'HEAD'], src)
        _git(['checkout', '-q', '-b', 'no-web-ui'], src)
        _git(['rm', '-q', 'scripts/chat_web.py', 'nanochat/ui.html'], src)
        _git(['commit', '-q', '-m', 'remove the web UI (like nanochat da32e1d)'], src)
        noui_commit = _git(['rev-parse', 'HEAD'], src)
        _git(['checkout', '-q', 'master'], src)
        path = os.path.join(root, name)
        _git(['clone', '-q', '--bare', src, path], work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for filename in filenames:
            os.chmod(os.path.join(dirpath, filename), 0o644)
    return dict(path=path, tag='v0.1.0', tag_commit=tag_commit, head_commit=head_commit, branch='master',
                noui_commit=noui_commit, noui_branch='no-web-ui')


class GitServer(object):
    """``git daemon`` exporting every repository under ``root``, on 127.0.0.1 (stopped by PID)."""

    def __init__(self, root):
        self.root = root
        self.port = None
        self._proc = None

    def start(self, timeout=15.0):
        with socket.socket() as sock:
            sock.bind(('127.0.0.1', 0))
            self.port = sock.getsockname()[1]
        self._proc = subprocess.Popen(
            ['git', 'daemon', '--reuseaddr', '--listen=127.0.0.1', '--port=%d' % self.port, '--export-all',
             '--informative-errors', '--base-path=%s' % self.root, self.root],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError('git daemon exited with %s' % self._proc.returncode)
            try:
                socket.create_connection(('127.0.0.1', self.port), timeout=1.0).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError('git daemon did not listen on port %d' % self.port)
                time.sleep(0.02)

    def url(self, name='nanochat.git'):
        return 'git://127.0.0.1:%d/%s' % (self.port, name)

    def stop(self):
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
        self._proc = None
