# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The progress of a long wait, as a module leaves it for its action plugin (which runs on the
controller beside the module and prints it): a small JSON file, replaced atomically after each
observation, naming what is awaited, the last status seen, how long it has waited and the limit."""

from __future__ import annotations

import json
import os
import time


def write_progress(path, what, status, waited, timeout):
    """Best effort: a progress file that cannot be written never fails the module."""
    if not path:
        return
    data = dict(what=what, status=status, waited=round(float(waited), 1), timeout=timeout, at=round(time.time(), 1))
    temp = '%s.%d.tmp' % (path, os.getpid())
    try:
        with open(temp, 'w') as handle:
            json.dump(data, handle)
        os.rename(temp, path)
    except (IOError, OSError):
        pass


def read_progress(path):
    """The last progress written to path, or None (not written yet, or unreadable)."""
    try:
        with open(path) as handle:
            return json.load(handle)
    except (IOError, OSError, ValueError):
        return None
