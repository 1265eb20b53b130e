#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: speedrun_results
short_description: Select, hash, verify and mark the results of a nanochat speedrun
version_added: 0.1.0
author: nanochat.remote_gpu contributors (@nanochat-remote-gpu)
description:
  - O(action=manifest) (on the GPU machine) picks the files worth bringing home from
    C(NANOCHAT_BASE_DIR) - the newest chat model's last step (C(chatsft_checkpoints/<tag>/model_<step>.pt)
    and C(meta_<step>.json)), C(tokenizer/), C(base_eval/), C(report/) where it exists, optionally the
    last base and RL checkpoints and extra paths - plus the run's log and state file (as C(run/speedrun.log)
    and C(run/state)), and returns their sizes and sha256 manifest (C(sha256sum) format, relative paths),
    the run's state and the "fetched" marker if there is one. One SSH round trip.
  - O(action=check) (on the GPU machine, for teardown) recomputes the manifest of what the marker
    says was fetched and says whether the results are safe - no run was ever started, or the marker's
    digest still matches - and otherwise what would be lost, with sizes.
  - O(action=mark) (on the GPU machine) writes the marker C(<run_dir>/fetched.json) and
    C(<run_dir>/MANIFEST.sha256) after a verified copy.
  - O(action=verify) (on the control node) checks a local copy against the files of a manifest,
    returns what is missing or differs and the free space of the destination's file system, and
    writes C(MANIFEST.sha256) at the top of the destination once everything matches.
  - The marker is JSON - C(version), C(manifest_sha256), C(manifest_path), C(files) (path, size,
    sha256, mtime_ns each), C(selection), C(run_id), C(fetched_at) (UTC ISO 8601), C(dest_host),
    C(dest_path) - and is read by teardown and by guards on the machine.
options:
  action:
    description: What to do (see the description).
    type: str
    choices: [manifest, check, mark, verify]
    default: manifest
  run_dir:
    description: The speedrun role's run directory (state file, log; the marker goes there too).
    type: path
    default: ~/.nanochat-speedrun
  base_dir:
    description:
      - C(NANOCHAT_BASE_DIR) of the run. Empty - the one the run's state file records, else
        C(~/.cache/nanochat).
    type: path
  base_checkpoints:
    description: Also select the last step of the newest C(base_checkpoints/<tag>/) (model and meta).
    type: bool
    default: false
  optimizer:
    description: With O(base_checkpoints), also the per-rank optimizer shards of that step (only needed to resume training).
    type: bool
    default: false
  chatrl:
    description: Also select the last step of the newest C(chatrl_checkpoints/<tag>/).
    type: bool
    default: false
  extra_paths:
    description: More files or directories, relative to the base dir.
    type: list
    elements: str
    default: []
  files:
    description: For O(action=mark) and O(action=verify) - the RV(files) an O(action=manifest) returned.
    type: list
    elements: dict
    default: []
  manifest_sha256:
    description: For O(action=mark) - the RV(manifest_sha256) of those files.
    type: str
  dest:
    description: For O(action=verify) - the local result folder; for O(action=mark) - where the copy went.
    type: path
  dest_host:
    description: For O(action=mark) - the host the results were copied to.
    type: str
  selection:
    description: For O(action=mark) - the selection options used, recorded in the marker.
    type: dict
    default: {}
  run_id:
    description: For O(action=mark) - the run the results come from.
    type: str
  rehash:
    description: For O(action=verify) - hash every local file again instead of trusting the sizes and times verified before.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Only O(action=mark) and O(action=verify) write; in check mode they report what they would write.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
notes:
  - Hashes of files whose size and modification time equal the marker's (on the machine) or a
    verified earlier copy's (locally, C(<dest>/.nanochat-fetch.json)) are reused, so a second
    fetch does not read gigabytes again; O(rehash) forces it locally.
seealso:
  - name: nanochat.remote_gpu.fetch role
    description: Brings the results home with this module and rsync.
    link: https://github.com/nanochat-remote-gpu/nanochat.remote_gpu/blob/main/roles/fetch/README.md
"""

EXAMPLES = r"""
- name: What would be fetched
  nanochat.remote_gpu.speedrun_results:
  register: results

- name: Is it safe to terminate?
  nanochat.remote_gpu.speedrun_results:
    action: check
  register: safety

- name: Verify a local copy
  nanochat.remote_gpu.speedrun_results:
    action: verify
    dest: ./nanochat-results/nanochat
    files: "{{ results.files }}"
  delegate_to: localhost
"""

RETURN = r"""
files:
  description: The selected files (manifest, check) - path (relative), size, sha256, mtime_ns.
  returned: action is manifest or check
  type: list
  elements: dict
  sample: [{path: chatsft_checkpoints/d24/model_000700.pt, size: 2100000000, sha256: 3f2a..., mtime_ns: 1767268800000000000}]
manifest:
  description: The manifest in C(sha256sum) format.
  returned: action is manifest or check
  type: str
manifest_sha256:
  description: sha256 of RV(manifest).
  returned: action is manifest or check
  type: str
total_bytes:
  description: Bytes of the selected files.
  returned: action is manifest or check
  type: int
base_dir:
  description: The base dir the files were selected from.
  returned: action is manifest or check
  type: str
run_dir:
  description: The run directory.
  returned: always
  type: str
run:
  description: The run's state (as P(nanochat.remote_gpu.speedrun_status#module) returns it, without GPUs).
  returned: action is manifest or check
  type: dict
marker:
  description: The marker on the machine, null when there is none.
  returned: action is manifest, check or mark
  type: dict
fetched:
  description: Whether the marker's digest equals the manifest's now (everything selected was fetched and nothing changed since).
  returned: action is manifest or check
  type: bool
changes:
  description: Against the marker - C(changed), C(added), C(removed) paths.
  returned: action is manifest or check
  type: dict
safe:
  description: O(action=check) - nothing would be lost by terminating (no run started, or fetched and unchanged).
  returned: action is check
  type: bool
reason:
  description: O(action=check) - why it is safe or not, for people.
  returned: action is check
  type: str
lost:
  description: O(action=check) - the files that would be lost (path, size), when not safe.
  returned: action is check
  type: list
  elements: dict
lost_bytes:
  description: O(action=check) - their total size.
  returned: action is check
  type: int
ok:
  description: O(action=verify) - every file is there with its sha256.
  returned: action is verify
  type: bool
missing:
  description: O(action=verify) - files not in the local copy.
  returned: action is verify
  type: list
  elements: str
mismatched:
  description: O(action=verify) - files whose size or sha256 differ.
  returned: action is verify
  type: list
  elements: str
bytes_missing:
  description: O(action=verify) - bytes still to copy.
  returned: action is verify
  type: int
free_bytes:
  description: O(action=verify) - free bytes on the destination's file system (for an unprivileged user).
  returned: action is verify
  type: int
home:
  description: The user's home directory where the module ran.
  returned: always
  type: str
"""

import datetime
import json
import os
import pwd

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nanochat.remote_gpu.plugins.module_utils import _results as results
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._speedrun import build_status, parse_state, pid_alive, read_text


def run_state(run_dir):
    """The run's status (speedrun_status's shape, without GPUs and log) and its parsed state file."""
    text = read_text(os.path.join(run_dir, 'state'))
    state = parse_state(text) if text is not None else {}
    boot_id = (read_text('/proc/sys/kernel/random/boot_id') or '').strip() or None
    log_path = state.get('log') or os.path.join(run_dir, 'speedrun.log')
    log_mtime = None
    try:
        log_mtime = os.stat(log_path).st_mtime
    except OSError:
        pass
    status = build_status(text, log_text=read_text(log_path) if text is not None else None, log_mtime=log_mtime,
                          alive=pid_alive(state.get('pid')) if text is not None else None, session_exists=None,
                          log_lines=5, boot_id=boot_id)
    return status, state


def free_bytes(path):
    probe = os.path.abspath(path)
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    info = os.statvfs(probe)
    return info.f_bavail * info.f_frsize


def main():
    module = AnsibleModule(
        argument_spec=dict(
            action=dict(type='str', default='manifest', choices=['manifest', 'check', 'mark', 'verify']),
            run_dir=dict(type='path', default='~/.nanochat-speedrun'),
            base_dir=dict(type='path'),
            base_checkpoints=dict(type='bool', default=False),
            optimizer=dict(type='bool', default=False),
            chatrl=dict(type='bool', default=False),
            extra_paths=dict(type='list', elements='str', default=[]),
            files=dict(type='list', elements='dict', default=[]),
            manifest_sha256=dict(type='str'),
            dest=dict(type='path'),
            dest_host=dict(type='str'),
            selection=dict(type='dict', default={}),
            run_id=dict(type='str'),
            rehash=dict(type='bool', default=False),
        ),
        required_if=[('action', 'verify', ['dest']), ('action', 'mark', ['manifest_sha256', 'dest', 'dest_host'])],
        supports_check_mode=True,
    )
    p = module.params
    run_dir = p['run_dir']
    home = pwd.getpwuid(os.getuid()).pw_dir
    out = dict(changed=False, run_dir=run_dir, home=home)

    if p['action'] == 'verify':
        dest = p['dest']
        cache = os.path.join(dest, '.nanochat-fetch.json') if os.path.isdir(dest) and not module.check_mode else None
        out.update(results.verify_local(dest, p['files'], cache_path=cache, rehash=p['rehash']))
        out['free_bytes'] = free_bytes(dest)
        if out['ok'] and p['files']:
            text = results.manifest_text(p['files'])
            path = os.path.join(dest, results.MANIFEST_NAME)
            if read_text(path) != text:
                out['changed'] = True
                if not module.check_mode:
                    results.write_atomic(path, text, mode=0o644)
        module.exit_json(**out)

    marker = results.read_marker(run_dir)
    out['marker'] = marker

    if p['action'] == 'mark':
        files = [dict(path=f['path'], size=int(f['size']), sha256=f['sha256'], mtime_ns=int(f.get('mtime_ns') or 0))
                 for f in p['files']]
        if results.manifest_digest(files) != p['manifest_sha256']:
            module.fail_json(msg='manifest_sha256 does not match the files given', **out)
        same = bool(marker) and all(marker.get(k) == v for k, v in (
            ('manifest_sha256', p['manifest_sha256']), ('dest_host', p['dest_host']), ('dest_path', p['dest'])))
        if same:
            module.exit_json(**out)
        new = dict(version=results.MARKER_VERSION, manifest_sha256=p['manifest_sha256'],
                   manifest_path=os.path.join(run_dir, results.MANIFEST_NAME), files=files,
                   selection=p['selection'], run_id=p['run_id'],
                   fetched_at=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ'),
                   dest_host=p['dest_host'], dest_path=p['dest'])
        out.update(changed=True, marker=new)
        if not module.check_mode:
            if not os.path.isdir(run_dir):
                module.fail_json(msg='run directory %s does not exist' % run_dir, **out)
            results.write_atomic(os.path.join(run_dir, results.MANIFEST_NAME), results.manifest_text(files))
            results.write_atomic(os.path.join(run_dir, results.MARKER_NAME), json.dumps(new, indent=1, sort_keys=True) + '\n')
        module.exit_json(**out)

    status, state = run_state(run_dir)
    out['run'] = status
    selection = dict(base_checkpoints=p['base_checkpoints'], optimizer=p['optimizer'], chatrl=p['chatrl'],
                     extra_paths=p['extra_paths'])
    if p['action'] == 'check' and marker and isinstance(marker.get('selection'), dict):
        selection.update((k, v) for k, v in marker['selection'].items() if k in selection)
    # base_dir is type path (expanded); the state file records an absolute path
    base_dir = p['base_dir'] or state.get('base_dir') or os.path.join(home, '.cache', 'nanochat')
    try:
        chosen = results.select(base_dir, run_dir, **selection)
        files = results.describe(chosen, cache=(marker or {}).get('files'))
    except (ValueError, OSError) as exc:
        module.fail_json(msg='Cannot read the results in %s: %s' % (base_dir, exc), **out)
    digest = results.manifest_digest(files)
    out.update(files=files, manifest=results.manifest_text(files), manifest_sha256=digest,
               total_bytes=sum(f['size'] for f in files), base_dir=base_dir, selection=selection,
               fetched=bool(marker) and marker.get('manifest_sha256') == digest,
               changes=results.compare(marker, files) if marker else dict(changed=[], added=[f['path'] for f in files], removed=[]))
    if p['action'] == 'check':
        if status['state'] == 'not_started' and not marker:
            out.update(safe=True, reason='no speedrun was ever started on this machine (no %s/state): nothing to lose' % run_dir,
                       lost=[], lost_bytes=0)
        elif out['fetched']:
            out.update(safe=True, reason='the results were fetched to %s:%s at %s and have not changed since'
                       % (marker['dest_host'], marker['dest_path'], marker['fetched_at']), lost=[], lost_bytes=0)
        else:
            if marker:
                touched = set(out['changes']['changed'] + out['changes']['added'])
                lost = [dict(path=f['path'], size=f['size']) for f in files if f['path'] in touched]
                reason = 'files changed since the fetch to %s:%s at %s' % (marker['dest_host'], marker['dest_path'], marker['fetched_at'])
            else:
                lost = [dict(path=f['path'], size=f['size']) for f in files]
                reason = 'the results of run %s (%s) were never fetched' % (status['run_id'], status['state'])
            out.update(safe=False, reason=reason, lost=lost, lost_bytes=sum(f['size'] for f in lost))
    module.exit_json(**out)


if __name__ == '__main__':
    main()
