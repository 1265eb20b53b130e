#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: runpod_ssh_key
short_description: Add or remove an SSH public key of the RunPod account
version_added: 0.1.0
author: nanochat.remote_gpu contributors (@nanochat-remote-gpu)
description:
  - Manages one SSH public key among those registered on the RunPod account (C(/v2/account/ssh-keys)). Pods
    created afterwards without their own key (M(nanochat.remote_gpu.runpod_pod) without
    O(nanochat.remote_gpu.runpod_pod#module:ssh_public_key)) accept every registered key for C(root).
  - RunPod replaces the whole list on each update. The module reads the list, adds or removes the one key and
    writes the full list back, so the other keys are kept.
  - Keys are compared on type and key data only; a copy with another comment counts as the same key.
options:
  public_key:
    description:
      - The public key, one OpenSSH line such as the contents of C(~/.ssh/id_ed25519.pub)
        (C(<type> <base64> [comment])). It is checked before anything is sent.
    type: str
    required: true
    aliases: [key]
  state:
    description:
      - V(present) adds the key when the account does not have it; V(absent) removes it (every copy).
    type: str
    default: present
    choices: [present, absent]
extends_documentation_fragment:
  - nanochat.remote_gpu.runpod
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    support: full
    platforms: all
notes:
  - Pods that already exist keep the keys they were created with; a change here applies to pods created later.
  - Two updates of the account keys at the same time can drop each other's key (RunPod offers no merge);
    do not run this module in parallel for the same account.
seealso:
  - module: nanochat.remote_gpu.runpod_pod
"""

EXAMPLES = r"""
- name: Register my key on the RunPod account
  nanochat.remote_gpu.runpod_ssh_key:
    public_key: "{{ lookup('ansible.builtin.file', '~/.ssh/id_ed25519.pub') }}"
  delegate_to: localhost

- name: Remove an old key
  nanochat.remote_gpu.runpod_ssh_key:
    public_key: "{{ lookup('ansible.builtin.file', '~/.ssh/old_laptop.pub') }}"
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
ssh_key:
  description: The key as registered on the account; null after O(state=absent).
  returned: success
  type: str
  sample: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILXGDN/SclOozk1xsDztpmhGiKkkrfQB9SKoO8dSIQQZ me@laptop
ssh_keys:
  description: All the keys registered on the account afterwards (in check mode, as they would be).
  returned: success
  type: list
  elements: str
  sample: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILXGDN/SclOozk1xsDztpmhGiKkkrfQB9SKoO8dSIQQZ me@laptop"]
"""

from ansible_collections.nanochat.remote_gpu.plugins.module_utils._common import (
    ApiError,
    ProviderModule,
    same_public_key,
    validate_public_key,
)
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._runpod import RunPodApi


def _text(keys):
    return ''.join('%s\n' % k for k in keys)


def main():
    module = ProviderModule(
        'runpod',
        dict(
            public_key=dict(type='str', required=True, no_log=False, aliases=['key']),
            state=dict(type='str', default='present', choices=['present', 'absent']),
        ),
        supports_check_mode=True,
    )
    key = (module.params['public_key'] or '').strip()
    problem = validate_public_key(key)
    if problem:
        module.fail('public_key: %s. Nothing was sent to RunPod.' % problem)
    present = module.params['state'] == 'present'
    api = RunPodApi(module.client)
    try:
        keys = api.get_ssh_keys()
    except ApiError as err:
        module.fail_api(err, doing='read the RunPod account SSH keys')

    matches = [k for k in keys if same_public_key(k, key)]
    if present:
        wanted = keys if matches else keys + [key]
    else:
        wanted = [k for k in keys if not matches or not same_public_key(k, key)]
    changed = wanted != keys
    result = wanted
    if changed and not module.check_mode:
        try:
            result = api.put_ssh_keys(wanted)
        except ApiError as err:
            module.fail_api(err, doing='update the RunPod account SSH keys')
        kept = [k for k in result if same_public_key(k, key)]
        if bool(kept) != present:
            module.fail('RunPod answered the key update, but the key is %s the account\'s list afterwards; '
                        'another update may have run at the same time. Run the task again.'
                        % ('missing from' if present else 'still in'))
    registered = next((k for k in result if same_public_key(k, key)), None)
    module.exit(changed, diff=dict(before=_text(keys), after=_text(result), before_header='RunPod account SSH keys',
                                   after_header='RunPod account SSH keys'),
                ssh_key=registered, ssh_keys=result)


if __name__ == '__main__':
    main()
