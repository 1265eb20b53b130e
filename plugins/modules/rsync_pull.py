#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rsync_pull
short_description: Copy files from a GPU machine over its SSH alias with rsync, showing progress
version_added: 0.1.0
author: nanochat.remote_gpu contributors (@nanochat-remote-gpu)
description:
  - Runs C(rsync --archive --partial --ignore-times) B(on the controller), once per entry of
    O(transfers), copying the files named there from O(alias)C(:)O(transfers[].src) into
    O(transfers[].dest) over C(ssh -o BatchMode=yes) (with C(-F) O(ssh_config_file)), so the
    host key pinned for the alias is checked.
  - Prints one progress line every O(progress_interval) seconds while it copies (what was copied
    of how much, the rate, the time left, how long so far), and copies rsync's output into
    O(log_file).
  - An interrupted copy resumes where it stopped on the next run (C(--partial)).
  - Used by the P(nanochat.remote_gpu.fetch#role) role, which verifies the copy against a
    manifest computed on the machine.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reports what it would copy and copies nothing.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
options:
  alias:
    description: The SSH host alias (or host name) to copy from.
    type: str
    required: true
  ssh_config_file:
    description: An SSH client config file for rsync's C(ssh -F); omitted, ssh's default.
    type: path
  transfers:
    description: The copies to make, one rsync each, in order.
    type: list
    elements: dict
    required: true
    suboptions:
      src:
        description: The directory on the machine the file names are relative to.
        type: str
        required: true
      dest:
        description: The local directory the files go to (their relative paths kept).
        type: path
        required: true
      files:
        description: The files to copy, relative to O(transfers[].src); an empty list skips the entry.
        type: list
        elements: str
        required: true
  rsync_options:
    description: More rsync options, for example C(--bwlimit=50m).
    type: list
    elements: str
    default: []
  log_file:
    description: Write rsync's output (progress and statistics) here, replacing what was there.
    type: path
  total_bytes:
    description: The bytes the transfers are expected to copy, for the percentage and the time left.
    type: int
  progress_interval:
    description: Seconds between progress lines; C(0) prints none.
    type: float
    default: 10.0
requirements:
  - rsync and an OpenSSH client on the controller, rsync on the machine
"""

EXAMPLES = r"""
- name: Copy the model home
  nanochat.remote_gpu.rsync_pull:
    alias: nanochat
    transfers:
      - src: /root/.cache/nanochat
        dest: ./nanochat-results/nanochat
        files:
          - chatsft_checkpoints/d24/model_000700.pt
          - chatsft_checkpoints/d24/meta_000700.json
    log_file: ./nanochat-results/nanochat/.nanochat-fetch.log
    total_bytes: 2100000000
"""

RETURN = r"""
files_transferred:
  description: Regular files rsync transferred (files already identical are not counted).
  returned: success
  type: int
  sample: 3
total_file_bytes:
  description: The size of the files transferred.
  returned: success
  type: int
  sample: 2100004000
literal_bytes:
  description: Bytes sent over the link as data (a resumed file sends only what was missing).
  returned: success
  type: int
  sample: 1050002000
matched_bytes:
  description: Bytes rsync found already present (for example the part an interrupted copy kept).
  returned: success
  type: int
  sample: 1050002000
elapsed:
  description: Seconds the copies took.
  returned: success
  type: float
  sample: 41.3
stats:
  description: rsync's statistics lines behind the figures above.
  returned: success
  type: list
  elements: str
  sample: ["Number of regular files transferred: 3", "Literal data: 1050002000 bytes"]
rc:
  description: rsync's exit code (the first non-zero one on failure).
  returned: always
  type: int
  sample: 0
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nanochat.remote_gpu.plugins.module_utils._rsync import ARGUMENT_SPEC


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.fail_json(msg='nanochat.remote_gpu.rsync_pull runs on the controller through its action plugin; '
                         'it cannot run as a module on a host.', rc=1)


if __name__ == '__main__':
    main()
