# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""nanochat.remote_gpu.rsync_pull: the parsing of rsync's progress2/stats2 output, and the action
run by ansible-playbook with a stand-in rsync on the PATH that prints what rsync 3.x prints
(progress updates separated by carriage returns, then the statistics) slowly, so that the
progress lines can be seen while it runs. The real rsync over a real sshd is exercised by
tests/integration/test_fetch.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from tests.conftest import COLLECTIONS_ROOT
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._rsync import parse_stats, progress_bytes, rsync_command
from ansible_collections.nanochat.remote_gpu.plugins.action.rsync_pull import progress_line, run_transfer

BIN = os.path.dirname(sys.executable)

STATS_TEXT = """
Number of files: 3 (reg: 3)
Number of created files: 3 (reg: 3)
Number of regular files transferred: 3
Total file size: 25165924 bytes
Total transferred file size: 25165924 bytes
Literal data: 12582912 bytes
Matched data: 12583012 bytes
File list size: 0
sent 1,234 bytes  received 12,600,000 bytes  1,400,000.00 bytes/sec
"""

FAKE_RSYNC = textwrap.dedent(r"""
    import json, os, sys, time
    record = os.environ['FAKE_RSYNC_RECORD']
    with open(record, 'a') as handle:
        handle.write(json.dumps({'argv': sys.argv[1:], 'stdin': sys.stdin.read()}) + '\n')
    if os.environ.get('FAKE_RSYNC_FAIL'):
        sys.stdout.write('ssh: connect to host nanochat port 22: Connection refused\n')
        sys.stdout.write('rsync error: unexplained error (code 255) at io.c(232) [Receiver=3.2.7]\n')
        sys.exit(255)
    size = int(os.environ['FAKE_RSYNC_BYTES'])
    for step in range(1, 6):
        done = size * step // 5
        sys.stdout.write('\r%15d %3d%%   10.00MB/s    0:00:%02d (xfr#%d, to-chk=0/1)' % (done, 20 * step, 5 - step, step))
        sys.stdout.flush()
        time.sleep(float(os.environ.get('FAKE_RSYNC_DELAY', '0.3')))
    sys.stdout.write('\n\nNumber of regular files transferred: 1\nTotal transferred file size: %d bytes\n'
                     'Literal data: %d bytes\nMatched data: 0 bytes\n' % (size, size))
    """)


def fake_rsync(tmp_path, size):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    script = bin_dir / 'rsync'
    script.write_text('#!%s\n%s' % (sys.executable, FAKE_RSYNC.lstrip('\n')))
    script.chmod(0o755)
    record = tmp_path / 'record.jsonl'
    env = dict(os.environ, PATH='%s:%s' % (bin_dir, os.environ['PATH']), FAKE_RSYNC_RECORD=str(record), FAKE_RSYNC_BYTES=str(size))
    return env, record


def calls(record):
    return [json.loads(line) for line in record.read_text().splitlines()]


def test_command_reads_the_files_from_stdin_over_the_alias_with_batch_mode_ssh():
    argv = rsync_command('nanochat', "/home/me/it's/config", '/root/.cache/nanochat/', '/tmp/dest', ['--bwlimit=2m'])
    assert argv[0] == 'rsync'
    assert '--partial' in argv and '--files-from=-' in argv and '--no-human-readable' in argv
    assert argv[argv.index('-e') + 1] == "ssh -o BatchMode=yes -F '/home/me/it'\\''s/config'"
    assert argv[-2:] == ['nanochat:/root/.cache/nanochat/', '/tmp/dest/']
    assert argv.index('--bwlimit=2m') < argv.index('--files-from=-')
    assert '-F' not in rsync_command('nanochat', None, '~/.nanochat-speedrun', 'd', [])[7]


def test_progress_figures_are_read_from_progress2_lines_only():
    assert progress_bytes('     12,582,912  50%   10.00MB/s    0:00:01 (xfr#1, to-chk=1/2)') == 12582912
    assert progress_bytes('      524288000  25%  120.31MB/s    0:00:12') == 524288000
    assert progress_bytes('Number of files: 3 (reg: 3)') is None
    assert progress_bytes('sent 1,234 bytes  received 12,600,000 bytes  1,400,000.00 bytes/sec') is None


def test_statistics_say_what_was_copied_and_what_was_reused():
    stats = parse_stats(STATS_TEXT.splitlines())
    assert stats == dict(files_transferred=3, total_file_bytes=25165924, literal_bytes=12582912, matched_bytes=12583012)
    assert parse_stats([]) == dict(files_transferred=0, total_file_bytes=0, literal_bytes=0, matched_bytes=0)


def test_progress_line_says_how_much_of_how_much_the_rate_and_the_time_left():
    line = progress_line('nanochat', 'nanochat', 1024 ** 3, 2 * 1024 ** 3, 20.0)
    assert line == 'nanochat: copying from nanochat: 1.0 GiB of 2.0 GiB (50%), 51.2 MiB/s, about 20s left, 20s so far'
    assert progress_line('', 'box', 0, None, 0.0) == 'copying from box: 0 B, 0 B/s, 0s so far'


def test_run_transfer_streams_progress_logs_everything_and_passes_the_file_list(tmp_path, monkeypatch):
    env, record = fake_rsync(tmp_path, 10 * 1024 * 1024)
    monkeypatch.setenv('PATH', env['PATH'])
    monkeypatch.setenv('FAKE_RSYNC_RECORD', str(record))
    monkeypatch.setenv('FAKE_RSYNC_BYTES', env['FAKE_RSYNC_BYTES'])
    monkeypatch.setenv('FAKE_RSYNC_DELAY', '0.05')
    seen = []
    log_path = tmp_path / 'log'
    with open(str(log_path), 'wb') as log:
        rc, lines = run_transfer(['rsync', 'x:src/', 'dest/'], ['a/model.pt', 'b c.json'], log, seen.append)
    assert rc == 0
    figures = [s for s in seen if s is not None]
    assert figures == [10 * 1024 * 1024 * step // 5 for step in range(1, 6)]
    assert calls(record)[0]['stdin'] == 'a/model.pt\nb c.json\n'
    assert b'\r' in log_path.read_bytes() and b'Literal data: 10485760 bytes' in log_path.read_bytes()
    assert parse_stats(lines)['files_transferred'] == 1


def play(tmp_path, env, task, *args):
    playbook = tmp_path / 'pull.yml'
    playbook.write_text(json.dumps([{'hosts': 'localhost', 'gather_facts': False,
                                     'tasks': [dict(task, register='pulled'), {'ansible.builtin.debug': {'var': 'pulled'}}]}]))
    env = dict(env, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_ROOT, ANSIBLE_NOCOLOR='1', ANSIBLE_LOCALHOST_WARNING='0',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='0')
    return subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-i', 'localhost,', '-c', 'local', str(playbook)] + list(args),
                          env=env, cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)


def pull_task(tmp_path, **extra):
    args = dict(alias='nanochat', ssh_config_file='~/.ssh/config',
                transfers=[dict(src='/root/.cache/nanochat', dest=str(tmp_path / 'dest'), files=['chatsft_checkpoints/d24/model_000700.pt']),
                           dict(src='~/.nanochat-speedrun', dest=str(tmp_path / 'dest' / 'run'), files=['state', 'speedrun.log']),
                           dict(src='/unused', dest=str(tmp_path / 'unused'), files=[])],
                log_file=str(tmp_path / 'fetch.log'), total_bytes=2 * 5 * 1024 * 1024, progress_interval=0.2)
    args.update(extra)
    return {'name': 'Pull', 'nanochat.remote_gpu.rsync_pull': args}


def test_the_action_prints_progress_while_it_copies_and_returns_the_statistics(tmp_path):
    env, record = fake_rsync(tmp_path, 5 * 1024 * 1024)
    proc = play(tmp_path, env, pull_task(tmp_path))
    assert proc.returncode == 0, proc.stdout
    progress = [line for line in proc.stdout.splitlines() if line.startswith('localhost: copying from nanochat: ')]
    assert len(progress) >= 4, proc.stdout
    assert any(' of 10.0 MiB (' in line and 'left' in line for line in progress), progress
    assert progress[-1].split(': ')[2].split(' of ')[0] in ('9.0 MiB', '10.0 MiB', '8.0 MiB'), progress
    made = calls(record)
    assert len(made) == 2  # the empty transfer is skipped
    assert made[0]['argv'][-2:] == ['nanochat:/root/.cache/nanochat/', str(tmp_path / 'dest') + '/']
    assert made[1]['argv'][-2:] == ['nanochat:~/.nanochat-speedrun/', str(tmp_path / 'dest' / 'run') + '/']
    assert made[1]['stdin'] == 'state\nspeedrun.log\n'
    assert "-F '%s'" % os.path.join(os.path.expanduser('~'), '.ssh', 'config') in made[0]['argv'][made[0]['argv'].index('-e') + 1]
    assert '"files_transferred": 2' in proc.stdout and '"literal_bytes": 10485760' in proc.stdout
    assert 'changed=1' in proc.stdout
    assert (tmp_path / 'fetch.log').read_text().count('Literal data') == 2


def test_a_failing_rsync_fails_the_task_with_its_last_lines(tmp_path):
    env, _record = fake_rsync(tmp_path, 1024)
    env['FAKE_RSYNC_FAIL'] = '1'
    proc = play(tmp_path, env, pull_task(tmp_path))
    assert proc.returncode == 2, proc.stdout
    assert 'rsync from nanochat:/root/.cache/nanochat failed (exit code 255)' in proc.stdout
    assert 'Connection refused' in proc.stdout


def test_check_mode_copies_nothing(tmp_path):
    env, record = fake_rsync(tmp_path, 1024)
    proc = play(tmp_path, env, pull_task(tmp_path), '--check')
    assert proc.returncode == 0, proc.stdout
    assert 'Check mode: would copy 3 file(s) from nanochat' in proc.stdout
    assert not record.exists()
