#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: lambda_ssh_key
short_description: Add or remove an SSH key of a Lambda Cloud account, and list the keys
version_added: 0.1.0
author: nanochat.remote_gpu contributors (@nanochat-remote-gpu)
description:
  - Manages the account SSH keys that M(nanochat.remote_gpu.lambda_instance) installs on new
    instances (by name, in O(nanochat.remote_gpu.lambda_instance#module:ssh_key_name)).
  - V(present) uploads O(public_key) under O(name). A key with the same name and the same public key
    (type and base64 data; the comment does not matter) is no change. Other keys are left alone.
  - Lambda cannot update a key in place, so a key with the same name and a B(different) public key
    is a failure, never a silent replacement. Remove it first with O(state=absent).
  - The module never asks Lambda to generate a key pair (that would return a private key); bring
    your own public key.
  - Adding or removing a key does not change instances that already run.
  - Every run returns all the account's keys in RV(ssh_keys). Without O(name) the module changes
    nothing and only lists them.
options:
  name:
    description:
      - Name of the key (1 to 64 characters). Required with O(state=absent).
      - When omitted with O(state=present), nothing is changed and the module only lists the keys.
    type: str
  public_key:
    description:
      - The OpenSSH public key line, for example the content of C(~/.ssh/id_ed25519.pub). Required
        with O(state=present) when O(name) is given; checked locally before anything is sent.
    type: str
  state:
    description:
      - V(present) adds the key, V(absent) removes every key with that name.
    type: str
    default: present
    choices: [present, absent]
extends_documentation_fragment:
  - nanochat.remote_gpu.lambda_cloud
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    support: full
    platforms: all
seealso:
  - module: nanochat.remote_gpu.lambda_instance
"""

EXAMPLES = r"""
- name: Upload my public key for the speedrun instances
  nanochat.remote_gpu.lambda_ssh_key:
    name: nanochat
    public_key: "{{ lookup('ansible.builtin.file', '~/.ssh/id_ed25519.pub') }}"
  delegate_to: localhost

- name: List the account's keys (no name, no change)
  nanochat.remote_gpu.lambda_ssh_key:
  delegate_to: localhost
  register: lambda_keys

- name: Show their names
  ansible.builtin.debug:
    msg: "{{ lambda_keys.ssh_keys | map(attribute='name') | list }}"

- name: Remove the key
  nanochat.remote_gpu.lambda_ssh_key:
    name: nanochat
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
ssh_key:
  description:
    - The key named O(name) after the task; V(null) with O(state=absent) or without O(name).
    - In check mode a key that would be added has id V(null).
  returned: always
  type: dict
  contains:
    id:
      description: Lambda's id of the key.
      type: str
      sample: ddf9a910ceb744a0bb95242cbba6cb50
    name:
      description: Name of the key.
      type: str
      sample: nanochat
    public_key:
      description: The public key.
      type: str
      sample: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICN+lJwsONkwrdsSnQsu1ydUkIuIg5oOC+Eslvmtt60T me@laptop
ssh_keys:
  description: Every SSH key of the account after the task (as predicted in check mode).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Lambda's id of the key.
      type: str
      sample: ddf9a910ceb744a0bb95242cbba6cb50
    name:
      description: Name of the key.
      type: str
      sample: nanochat
    public_key:
      description: The public key.
      type: str
      sample: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICN+lJwsONkwrdsSnQsu1ydUkIuIg5oOC+Eslvmtt60T me@laptop
"""

from ansible_collections.nanochat.remote_gpu.plugins.module_utils._api import ApiError
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._common import (
    ProviderModule,
    same_public_key,
    validate_public_key,
)
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._lambda import (
    PUBLIC_KEY_MAX_LENGTH,
    SSH_KEY_NAME_MAX_LENGTH,
    LambdaApi,
)


def key_view(key):
    if not key:
        return {'state': 'absent'}
    return dict(state='present', name=key['name'], public_key=key['public_key'])


def validate(module):
    p = module.params
    if p['name'] is None:
        if p['public_key']:
            module.fail('public_key needs a name to add the key under. Nothing was sent.')
        return
    if not p['name'] or len(p['name']) > SSH_KEY_NAME_MAX_LENGTH:
        module.fail('name must be 1 to %d characters for Lambda Cloud SSH keys. Nothing was sent.' % SSH_KEY_NAME_MAX_LENGTH)
    if p['state'] == 'present':
        if not p['public_key']:
            module.fail('public_key is required to add SSH key "%s" (state=present). Nothing was sent.' % p['name'])
        if 'PRIVATE KEY' in p['public_key']:
            # A private key pasted by mistake must not be echoed back (e.g. in the invocation).
            module.module.no_log_values.add(p['public_key'])
        problem = validate_public_key(p['public_key'])
        if problem is None and len(p['public_key'].strip()) > PUBLIC_KEY_MAX_LENGTH:
            problem = 'Lambda Cloud accepts public keys of at most %d characters' % PUBLIC_KEY_MAX_LENGTH
        if problem:
            module.fail('public_key is not usable: %s. Nothing was sent to Lambda Cloud.' % problem)


def present(module, api, keys):
    name, public_key = module.params['name'], module.params['public_key'].strip()
    named = [k for k in keys if k['name'] == name]
    for key in named:
        if same_public_key(key['public_key'], public_key):
            module.exit(False, ssh_key=key, ssh_keys=keys, diff=dict(before=key_view(key), after=key_view(key)))
    if named:
        module.fail('Lambda Cloud already has an SSH key named "%s" (id %s) with a different public key, and cannot update '
                    'a key in place. Remove it first (state=absent; running instances keep their keys), or use another '
                    'name. Nothing was changed.' % (name, named[0]['id']), ssh_key=named[0])
    if module.check_mode:
        predicted = dict(id=None, name=name, public_key=public_key)
        module.exit(True, ssh_key=predicted, ssh_keys=keys + [predicted], diff=dict(before=key_view(None), after=key_view(predicted)))
    try:
        key = api.add_ssh_key(name, public_key)
    except ApiError as err:
        if not err.ambiguous:
            raise
        # The key may have been stored before the error: look before failing.
        key = next((k for k in api.ssh_keys() if k['name'] == name and same_public_key(k['public_key'], public_key)), None)
        if key is None:
            raise
    module.exit(True, ssh_key=key, ssh_keys=keys + [key], diff=dict(before=key_view(None), after=key_view(key)))


def absent(module, api, keys):
    name = module.params['name']
    named = [k for k in keys if k['name'] == name]
    rest = [k for k in keys if k['name'] != name]
    diff = dict(before=key_view(named[0] if named else None), after=key_view(None))
    if not named:
        module.exit(False, ssh_key=None, ssh_keys=keys, diff=diff)
    if module.check_mode:
        module.exit(True, ssh_key=None, ssh_keys=rest, diff=diff)
    deleted = [api.delete_ssh_key(key['id']) for key in named]
    module.exit(any(deleted), ssh_key=None, ssh_keys=rest, diff=diff)


def main():
    argument_spec = dict(
        name=dict(type='str'),
        public_key=dict(type='str', no_log=False),
        state=dict(type='str', default='present', choices=['present', 'absent']),
    )
    module = ProviderModule('lambda', argument_spec, supports_check_mode=True, required_if=[('state', 'absent', ('name',))])
    validate(module)
    api = LambdaApi(module.client)
    doing = 'list Lambda SSH keys'
    try:
        keys = api.ssh_keys()
        if module.params['name'] is None:
            module.exit(False, ssh_key=None, ssh_keys=keys)
        doing = ('add' if module.params['state'] == 'present' else 'remove') + ' Lambda SSH key "%s"' % module.params['name']
        if module.params['state'] == 'present':
            present(module, api, keys)
        absent(module, api, keys)
    except ApiError as err:
        module.fail_api(err, doing=doing)


if __name__ == '__main__':
    main()
