# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Make this checkout importable as ``ansible_collections.nanochat.remote_gpu``.

A directory outside the checkout holds ``ansible_collections/nanochat/remote_gpu``, a symlink to
the repository root; it goes first on ``sys.path`` (unit tests import module code) and into
ANSIBLE_COLLECTIONS_PATH (playbooks and ansible-doc run by the integration tests).
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _collections_root():
    digest = hashlib.sha256(REPO_ROOT.encode()).hexdigest()[:12]
    root = os.path.join(tempfile.gettempdir(), 'nanochat-remote-gpu-collections-%s' % digest)
    parent = os.path.join(root, 'ansible_collections', 'nanochat')
    link = os.path.join(parent, 'remote_gpu')
    os.makedirs(parent, exist_ok=True)
    if os.path.islink(link) and os.readlink(link) != REPO_ROOT:
        os.unlink(link)
    if not os.path.lexists(link):
        try:
            os.symlink(REPO_ROOT, link)
        except FileExistsError:  # the other ansible-core line's pytest, started at the same time
            pass
    return root


COLLECTIONS_ROOT = _collections_root()
if COLLECTIONS_ROOT not in sys.path:
    sys.path.insert(0, COLLECTIONS_ROOT)
os.environ['ANSIBLE_COLLECTIONS_PATH'] = COLLECTIONS_ROOT
