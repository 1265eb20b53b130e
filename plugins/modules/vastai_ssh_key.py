#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vastai_ssh_key
short_description: Add, remove and list the SSH public keys of a Vast.ai account
version_added: 0.1.0
author: nanochat.remote_gpu contributors (@nanochat-remote-gpu)
description:
  - Makes sure an SSH public key is registered on the Vast.ai account (O(state=present)) or is not
    (O(state=absent)), leaving the account's other keys alone. Vast.ai installs the account's keys on new
    instances, and adds a newly registered key to every current instance as well.
  - Keys are compared by type and base64 data; the comment does not matter. Vast.ai keys have no names.
  - Without O(public_key) and O(id) the module only lists the account's keys (in RV(ssh_keys)).
options:
  public_key:
    description:
      - The OpenSSH public key, one line such as C(ssh-ed25519 AAAAC3Nza... me@laptop).
      - With O(state=absent), every registered copy of this key is removed.
    type: str
  id:
    description:
      - Id of a registered key to remove (with O(state=absent)), as returned in RV(ssh_keys).
    type: int
  state:
    description:
      - V(present) registers O(public_key) when it is not registered yet; V(absent) removes it (or the key O(id)).
    type: str
    default: present
    choices: [present, absent]
extends_documentation_fragment:
  - nanochat.remote_gpu.vastai
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Only lists the keys; reports what would be added or removed.
  diff_mode:
    support: full
  platform:
    support: full
    platforms: all
notes:
  - Removing a key from the account does not remove it from instances that already have it; destroy those
    instances, or detach the key from them in the Vast.ai console.
seealso:
  - module: nanochat.remote_gpu.vastai_instance
"""

EXAMPLES = r"""
- name: Register the key nanochat runs log in with
  nanochat.remote_gpu.vastai_ssh_key:
    public_key: "{{ lookup('ansible.builtin.file', '~/.ssh/id_ed25519.pub') }}"
  delegate_to: localhost

- name: List the account's keys
  nanochat.remote_gpu.vastai_ssh_key:
  delegate_to: localhost
  register: vast_keys

- name: Remove an old key
  nanochat.remote_gpu.vastai_ssh_key:
    public_key: "{{ lookup('ansible.builtin.file', '~/.ssh/old_key.pub') }}"
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
ssh_key:
  description:
    - The key added or found (O(state=present)), or removed (O(state=absent)); null when only listing, or when
      nothing matched for O(state=absent).
    - In check mode, a key that would be added has C(id) null.
  returned: success
  type: dict
  contains:
    id:
      description: Vast.ai key id.
      type: int
      sample: 9001
    public_key:
      description: The public key as registered.
      type: str
      sample: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGaLwGb4FQ5vC0G0tJbX0sQ2sS3m0h3zq8V4ob4E1wqK me@laptop
    created_at:
      description: When the key was registered.
      type: str
      sample: "2026-11-20T12:00:00Z"
ssh_keys:
  description: Every key registered on the account after the change (as it would be, in check mode).
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description: Vast.ai key id.
      type: int
      sample: 9001
    public_key:
      description: The public key.
      type: str
      sample: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGaLwGb4FQ5vC0G0tJbX0sQ2sS3m0h3zq8V4ob4E1wqK me@laptop
    created_at:
      description: When the key was registered.
      type: str
      sample: "2026-11-20T12:00:00Z"
"""

from ansible_collections.nanochat.remote_gpu.plugins.module_utils._common import (
    ApiError,
    ProviderModule,
    validate_public_key,
)
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._vastai import PROVIDER, VastApi


def key_lines(keys):
    return [k['public_key'] for k in keys]


def main():
    argument_spec = dict(
        public_key=dict(type='str', no_log=False),
        id=dict(type='int'),
        state=dict(type='str', default='present', choices=['present', 'absent']),
    )
    module = ProviderModule(PROVIDER, argument_spec, mutually_exclusive=[('public_key', 'id')],
                            required_if=[('state', 'absent', ('public_key', 'id'), True)], supports_check_mode=True)
    p = module.params
    if p['public_key'] is not None:
        problem = validate_public_key(p['public_key'])
        if problem:
            module.fail('public_key: %s. Nothing was sent to Vast.ai.' % problem)
    if p['id'] is not None and p['state'] == 'present':
        module.fail('id selects a key to remove; use it with state=absent (to add a key, give public_key). '
                    'Nothing was sent to Vast.ai.')
    api = VastApi(module.client)
    doing = 'list the SSH keys of the Vast.ai account'
    try:
        keys = api.list_ssh_keys()
        if p['public_key'] is None and p['id'] is None:
            module.exit(False, ssh_key=None, ssh_keys=keys)
        if p['state'] == 'present':
            found = api.find_account_keys(p['public_key'], keys)
            if found:
                module.exit(False, diff=dict(before=dict(keys=key_lines(keys)), after=dict(keys=key_lines(keys))),
                            ssh_key=found[0], ssh_keys=keys)
            doing = 'add the SSH key to the Vast.ai account'
            if module.check_mode:
                added = dict(id=None, public_key=p['public_key'].strip(), created_at=None)
            else:
                added = api.add_ssh_key(p['public_key'].strip())
            after = keys + [added]
            if not module.check_mode:
                after = api.list_ssh_keys()
            module.exit(True, diff=dict(before=dict(keys=key_lines(keys)), after=dict(keys=key_lines(keys) + [added['public_key']])),
                        ssh_key=added, ssh_keys=after)
        if p['id'] is not None:
            doomed = [k for k in keys if k['id'] == p['id']]
        else:
            doomed = api.find_account_keys(p['public_key'], keys)
        remaining = [k for k in keys if k not in doomed]
        diff = dict(before=dict(keys=key_lines(keys)), after=dict(keys=key_lines(remaining)))
        if not doomed:
            module.exit(False, diff=diff, ssh_key=None, ssh_keys=keys)
        if not module.check_mode:
            for key in doomed:
                doing = 'remove SSH key %s from the Vast.ai account' % key['id']
                api.delete_ssh_key(key['id'])
            doing = 'list the SSH keys of the Vast.ai account'
            remaining = api.list_ssh_keys()
        module.exit(True, diff=diff, ssh_key=doomed[0], ssh_keys=remaining)
    except ApiError as err:
        module.fail_api(err, doing=doing)


if __name__ == '__main__':
    main()
