# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a fake provider API as a process: ``python -m tests.fakes runpod --port 8765``.

The API key it accepts comes from ``--api-key`` or the environment variable FAKE_API_KEY
(default ``test-key``). It prints ``listening on http://127.0.0.1:PORT`` once ready.
"""

from __future__ import annotations

import argparse
import os
import sys

from tests.fakes import FAKES, fake_class


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m tests.fakes', description=__doc__)
    parser.add_argument('provider', choices=sorted(FAKES))
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=0)
    parser.add_argument('--api-key', default=os.environ.get('FAKE_API_KEY', 'test-key'))
    parser.add_argument('--boot-delay', type=float, default=2.0, help='seconds from create to SSH-ready')
    args = parser.parse_args(argv)
    fake = fake_class(args.provider)(api_key=args.api_key, boot_delay=args.boot_delay)
    fake.start(args.host, args.port)
    print('listening on %s' % fake.url.replace('127.0.0.1', args.host), flush=True)
    fake.wait_forever()
    return 0


if __name__ == '__main__':
    sys.exit(main())
