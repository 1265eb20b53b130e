# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""rsync from an SSH alias: the argument spec of nanochat.remote_gpu.rsync_pull, its command line and
the parsing of rsync's ``--info=progress2,stats2`` output (its action plugin runs rsync on the
controller)."""

from __future__ import annotations

import re

ARGUMENT_SPEC = dict(
    alias=dict(type='str', required=True),
    ssh_config_file=dict(type='path'),
    transfers=dict(type='list', elements='dict', required=True, options=dict(
        src=dict(type='str', required=True),
        dest=dict(type='path', required=True),
        files=dict(type='list', elements='str', required=True),
    )),
    rsync_options=dict(type='list', elements='str', default=[]),
    log_file=dict(type='path'),
    total_bytes=dict(type='int'),
    progress_interval=dict(type='float', default=10.0),
)

# "    123456789  45%   12.34MB/s    0:00:10 (xfr#3, to-chk=2/10)" with --no-human-readable
PROGRESS_RE = re.compile(r'^\s*(\d[\d,]*)\s+(\d+)%\s+\S+\s+\d+:\d{2}:\d{2}')
STATS = (
    ('files_transferred', re.compile(r'^Number of regular files transferred:\s*([\d,]+)')),
    ('total_file_bytes', re.compile(r'^Total transferred file size:\s*([\d,]+)')),
    ('literal_bytes', re.compile(r'^Literal data:\s*([\d,]+)')),
    ('matched_bytes', re.compile(r'^Matched data:\s*([\d,]+)')),
)


def rsync_command(alias, ssh_config_file, src, dest, options):
    """The argv of one transfer: the files named on stdin, from alias:src/ into dest/."""
    ssh = 'ssh -o BatchMode=yes'
    if ssh_config_file:
        ssh += " -F '%s'" % ssh_config_file.replace("'", "'\\''")
    return (['rsync', '--archive', '--partial', '--ignore-times', '--info=progress2,stats2', '--no-human-readable',
             '-e', ssh] + list(options or [])
            + ['--files-from=-', '%s:%s/' % (alias, src.rstrip('/')), dest.rstrip('/') + '/'])


def progress_bytes(line):
    """Bytes copied so far in this transfer, from a progress2 line; None for other lines."""
    match = PROGRESS_RE.match(line)
    return int(match.group(1).replace(',', '')) if match else None


def parse_stats(lines):
    """The figures of rsync's --stats2 summary that say what was copied (0 where absent)."""
    stats = dict((key, 0) for key, _regex in STATS)
    for line in lines:
        for key, regex in STATS:
            match = regex.match(line.strip())
            if match:
                stats[key] = int(match.group(1).replace(',', ''))
    return stats
