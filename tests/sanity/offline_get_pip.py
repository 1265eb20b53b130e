# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline stand-in for the get-pip.py that ansible-test downloads from ci-files.testing.ansible.com.

ansible-test runs this file inside each empty sanity virtual environment with the pip arguments
it wants (``pip==X`` and friends). We take pip from the standard library's ensurepip, then let
that pip install the requested packages from the configured package index.
"""

from __future__ import annotations

import subprocess
import sys

IGNORED = ('--no-setuptools', '--no-wheel')


def main():
    args = [a for a in sys.argv[1:] if a not in IGNORED]
    subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'], stdout=subprocess.DEVNULL)
    return subprocess.call([sys.executable, '-m', 'pip', 'install', '-q'] + args)


if __name__ == '__main__':
    sys.exit(main())
