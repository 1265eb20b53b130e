#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: runpod_pod
short_description: Create, start, stop, restart and terminate RunPod GPU pods
version_added: 0.1.0
author: nanochat.remote_gpu contributors (@nanochat-remote-gpu)
description:
  - Manages one RunPod GPU pod through the RunPod REST API v2, found by its O(name).
  - With O(state=present) or O(state=running) the pod exists and runs, and (with O(wait=true)) the module
    returns once RunPod publishes the pod's direct SSH endpoint. RunPod reports a pod C(RUNNING) before its
    C(22/tcp) port mapping exists; the module keeps waiting until the endpoint is known.
  - Before anything is created, the GPU type is checked in RunPod's catalog (unknown type, a tier that does
    not offer it or a count above its maximum fail at once), O(data_center_ids) are checked against the list
    of data centers, and an SSH key is required (O(ssh_public_key) or a key registered on the account).
  - The name is the idempotency key. RunPod does not enforce unique names; the module lists the pods first
    and fails when more than one pod has the name.
options:
  name:
    description:
      - Name of the pod. The module finds the pod by this name.
    type: str
    required: true
  state:
    description:
      - V(present) and V(running) make sure the pod exists and runs (creating or starting it).
      - V(stopped) stops a pod (compute is released, disks are kept and still billed). A missing pod is an
        error; the module never creates a pod just to stop it.
      - V(restarted) restarts the container of a running pod (the container disk is wiped) or starts a
        stopped one. A missing pod is an error.
      - V(absent) terminates every pod with this name (their disks are deleted).
    type: str
    default: present
    choices: [present, running, stopped, restarted, absent]
  gpu_type:
    description:
      - RunPod GPU type id, as in RunPod's catalog (see M(nanochat.remote_gpu.runpod_gpu_info)), for example
        V(NVIDIA H100 80GB HBM3) (H100 SXM), V(NVIDIA H100 PCIe), V(NVIDIA H200) or V(NVIDIA A100-SXM4-80GB).
      - Required to create a pod. For an existing pod a different value only causes a warning.
    type: str
  gpu_count:
    description:
      - Number of GPUs. A new pod gets 1 when not set. Must not exceed the type's maximum per pod.
    type: int
  image:
    description:
      - Container image. A new pod gets V(runpod/pytorch:1.0.2-cu1281-torch280-ubuntu2404) when not set.
      - The image must start sshd from the E(PUBLIC_KEY) environment variable, as RunPod's official images do;
        otherwise the pod never accepts SSH.
    type: str
  cloud_type:
    description:
      - RunPod cloud tier. A new pod uses V(SECURE) when not set.
    type: str
    choices: [SECURE, COMMUNITY]
  data_center_ids:
    description:
      - Data centers the pod may be placed in, for example V(US-KS-2). Empty lets RunPod choose.
      - Checked against RunPod's list of data centers before anything is created.
    type: list
    elements: str
  container_disk_gb:
    description:
      - Size of the container disk in GB (ephemeral; wiped when the container restarts). RunPod's default
        applies when not set.
    type: int
  volume_gb:
    description:
      - Size in GB (at least 10) of a persistent volume on the pod's host, mounted at O(volume_mount_path).
        It survives stop and restart, not termination.
    type: int
  volume_mount_path:
    description:
      - Where the volume is mounted in the container. Used with O(volume_gb).
    type: str
    default: /workspace
  ports:
    description:
      - Ports to expose, as C(<port>/<protocol>) with protocol C(tcp) or C(http), for example V(8888/http).
      - V(22/tcp) is always added; RunPod publishes a direct SSH endpoint only for pods exposing it.
    type: list
    elements: str
  env:
    description:
      - Environment variables of the container. Values are passed as strings.
      - For an existing pod only the keys given here with non-empty values are compared (RunPod adds
        E(PUBLIC_KEY) and drops empty values); differences cause a warning naming the keys, never the values.
      - Values are visible to anyone who can read the pod in RunPod; mark the task C(no_log) when they are secret.
    type: dict
  ssh_public_key:
    description:
      - An OpenSSH public key line (for example the contents of C(~/.ssh/id_ed25519.pub)) the pod accepts for
        C(root). It is passed as the E(PUBLIC_KEY) environment variable, which RunPod images use to set up sshd.
      - When not set, the pod gets the SSH keys registered on the RunPod account (see
        M(nanochat.remote_gpu.runpod_ssh_key)); creating a pod fails when the account has none.
      - Keys are fixed when the pod is created.
    type: str
  wait_timeout:
    default: 900
extends_documentation_fragment:
  - nanochat.remote_gpu.runpod
  - nanochat.remote_gpu.wait
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Only reads (list, catalog); returns the pod it would create, with C(id) null and the catalog price.
  diff_mode:
    support: full
  platform:
    support: full
    platforms: all
notes:
  - An existing pod whose GPU type, count, image, cloud, data center, disks, ports, env or key differ from the
    options is left as it is, with a warning; nothing is changed in place, destroyed or duplicated.
  - When the wait times out the module fails with the last status seen and the pod (its C(id)); the pod is
    left running and billing. Remove it with O(state=absent) or C(playbooks/teardown.yml), or run again with a
    longer O(wait_timeout) to keep waiting.
  - When RunPod answers a create with a server error, answers too late or the connection drops, the pod may
    exist anyway; the module looks it up by name for as long as RunPod may take to finish the request (about two
    minutes), uses it when it appears, and never sends a second create. When none appears it fails saying the
    outcome is unknown (C(create_outcome=unknown)), with the command that finds and removes the pod.
  - O(state=absent) retries the terminate on server errors and lost connections, counts a 404 after a retry as
    done and reads the pod back; it fails only when the pod is still alive, naming its id and price.
  - With O(wait=true), O(state=stopped) waits until the pod is C(EXITED) and O(state=absent) until RunPod no
    longer returns the pod.
  - No capacity for the GPU type in the data centers asked for fails with a message naming them and where the
    catalog lists stock. An account without funds (HTTP 402) fails with a message saying so.
  - Stopping keeps billing for the disks. A stopped pod resumes on the same host, so starting it can fail when
    that host's GPUs were taken meanwhile.
seealso:
  - module: nanochat.remote_gpu.runpod_pod_info
  - module: nanochat.remote_gpu.runpod_gpu_info
  - module: nanochat.remote_gpu.runpod_ssh_key
  - module: nanochat.remote_gpu.ssh_ready
"""

EXAMPLES = r"""
- name: Rent 8x H100 SXM for a nanochat speedrun
  nanochat.remote_gpu.runpod_pod:
    name: nanochat-speedrun
    gpu_type: NVIDIA H100 80GB HBM3
    gpu_count: 8
    cloud_type: SECURE
    data_center_ids: [US-KS-2, US-TX-3]
    container_disk_gb: 200
    volume_gb: 100
    ssh_public_key: "{{ lookup('ansible.builtin.file', '~/.ssh/id_ed25519.pub') }}"
    wait_timeout: 1200
  delegate_to: localhost
  register: pod

- name: Show where to connect
  ansible.builtin.debug:
    msg: "ssh {{ pod.instance.ssh_user }}@{{ pod.instance.ssh_host }} -p {{ pod.instance.ssh_port }} ({{ pod.instance.price_per_hour }} USD/h)"

- name: Stop the pod between runs (disks are kept, and billed)
  nanochat.remote_gpu.runpod_pod:
    name: nanochat-speedrun
    state: stopped
  delegate_to: localhost

- name: Terminate the pod
  nanochat.remote_gpu.runpod_pod:
    name: nanochat-speedrun
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
instance:
  description:
    - The pod, normalized. After O(state=absent) the pod as it was, with C(status=terminated); null when no pod
      had the name.
    - In check mode, the pod that would be created (C(id) null, price from the catalog).
  returned: success
  type: dict
  contains:
    provider:
      description: Always V(runpod).
      type: str
      sample: runpod
    id:
      description: RunPod pod id.
      type: str
      sample: 5xpma5eg46tqjq
    name:
      description: Pod name.
      type: str
      sample: nanochat-speedrun
    status:
      description:
        - V(running) only when the pod is C(RUNNING) and its SSH endpoint is known; V(pending) while
          provisioning, starting, or running without an SSH endpoint yet; V(stopped) (C(EXITED)); V(failed)
          (C(ERROR)); V(terminated).
      type: str
      sample: running
    provider_status:
      description: RunPod's own status (C(PROVISIONING), C(STARTING), C(RUNNING), C(EXITED), C(ERROR), C(TERMINATED)).
      type: str
      sample: RUNNING
    ssh_host:
      description: Public address of the pod's SSH server (RunPod's direct endpoint), null until known.
      type: str
      sample: 213.173.104.74
    ssh_port:
      description: Public TCP port mapped to the pod's port 22, null until known. It can change when the pod restarts.
      type: int
      sample: 35558
    ssh_user:
      description: SSH user, V(root).
      type: str
      sample: root
    gpu_type:
      description: RunPod GPU type id.
      type: str
      sample: NVIDIA H100 80GB HBM3
    gpu_count:
      description: Number of GPUs.
      type: int
      sample: 8
    price_per_hour:
      description: What the pod costs in USD per hour as RunPod reports it (0 when stopped).
      type: float
      sample: 21.52
    region:
      description: Data center id.
      type: str
      sample: US-KS-2
    raw:
      description: RunPod's pod object (REST v2 C(Pod)); values of secret-looking keys are masked.
      type: dict
      sample: {"id": "5xpma5eg46tqjq", "status": "RUNNING", "ports": ["22/tcp"]}
"""

from ansible_collections.nanochat.remote_gpu.plugins.module_utils import _lifecycle
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._common import (
    ApiError,
    ProviderModule,
    validate_public_key,
    wait_argument_spec,
)
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._instance import (
    WaitFailed,
    WaitTimeout,
    diff_view,
    make_instance,
    ssh_ready,
    wait_for,
)
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._runpod import (
    BALANCE_HINT,
    BOOTING_STATUSES,
    FORBIDDEN_HINT,
    MIN_VOLUME_GB,
    SSH_PORT_SPEC,
    RunPodApi,
    create_pod_body,
    describe_availability,
    gpu_offer,
    is_capacity_error,
    is_gone,
    normalize,
    pod_differences,
    pod_public_keys,
    suggest,
    validate_ports,
)


class PodManager(object):

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.name = self.params['name']
        self.api = RunPodApi(module.client)
        self.last_pod = None

    # --- helpers --------------------------------------------------------------------------
    def fail(self, msg, **kwargs):
        self.module.fail(msg, **kwargs)

    def api_call(self, doing, func, *args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ApiError as err:
            self.module.fail_api(err, doing=doing)

    def exit(self, changed, before, after, result):
        self.module.exit(changed, diff=dict(before=diff_view(before), after=diff_view(after)), instance=result)

    def describe(self, pod):
        return 'pod "%s" (id %s)' % (pod.get('name'), pod.get('id'))

    def validate_options(self):
        """Checks that need no request; everything here fails before anything is sent."""
        p = self.params
        if not self.name or not self.name.strip():
            self.fail('name must not be empty')
        for option, minimum in (('gpu_count', 1), ('container_disk_gb', 1), ('volume_gb', MIN_VOLUME_GB)):
            if p[option] is not None and p[option] < minimum:
                self.fail('%s must be at least %d (got %d)' % (option, minimum, p[option]))
        if p['wait_timeout'] < 0:
            self.fail('wait_timeout must not be negative')
        problem = validate_ports(p['ports'])
        if problem:
            self.fail('ports: %s' % problem)
        if p['data_center_ids'] and any(not (dc or '').strip() for dc in p['data_center_ids']):
            self.fail('data_center_ids must not contain empty ids')
        if p['ssh_public_key'] is not None:
            problem = validate_public_key(p['ssh_public_key'])
            if problem:
                self.fail('ssh_public_key: %s' % problem)
            if 'PUBLIC_KEY' in (p['env'] or {}):
                self.fail('set the key either with ssh_public_key or with env.PUBLIC_KEY, not both')
        if p['volume_mount_path'] is not None and not p['volume_mount_path'].startswith('/'):
            self.fail('volume_mount_path must be an absolute path (got %r)' % p['volume_mount_path'])

    def lookup(self):
        return self.api_call('list pods to find "%s"' % self.name, self.api.find_pods, self.name)

    def refuse_duplicates(self, pods):
        if len(pods) > 1:
            self.fail('Found %d RunPod pods named "%s" (ids %s). The name is how this module finds its pod, so it '
                      'cannot tell which one you mean. Terminate the ones you do not want (state=absent removes '
                      'all of them), then run again.'
                      % (len(pods), self.name, ', '.join(sorted(p['id'] for p in pods))))

    def fetch(self, pod_id):
        pod = self.api_call('read pod %s' % pod_id, self.api.get_pod, pod_id)
        if pod is not None:
            self.last_pod = pod
        return None if is_gone(pod) else normalize(pod)

    def settings(self):
        p = self.params
        return dict(gpu_type=p['gpu_type'], gpu_count=p['gpu_count'], image=p['image'], cloud_type=p['cloud_type'],
                    data_center_ids=p['data_center_ids'], container_disk_gb=p['container_disk_gb'],
                    volume_gb=p['volume_gb'], volume_mount_path=p['volume_mount_path'], ports=p['ports'],
                    env=p['env'], ssh_public_key=p['ssh_public_key'])

    def warn_differences(self, pod):
        diffs = pod_differences(pod, **self.settings())
        if diffs:
            self.module.module.warn(
                'RunPod %s already exists with other settings (%s). This module does not change them in place, '
                'so the pod was left as it is; to apply them, terminate it (state=absent) and run again (its '
                'disks are lost).' % (self.describe(pod), '; '.join(diffs)))

    # --- waiting ----------------------------------------------------------------------------
    def boot_failed(self, instance):
        """Why a pod we wait for will never be SSH-ready, or None."""
        if instance is None:
            return 'the pod no longer exists (it was terminated outside this task)'
        if instance['provider_status'] == 'ERROR':
            return 'the pod is in status ERROR (its container failed)'
        if (instance['provider_status'] == 'RUNNING' and self.last_pod is not None
                and SSH_PORT_SPEC not in (self.last_pod.get('ports') or [])):
            return 'the pod does not expose 22/tcp, so RunPod will never give it an SSH endpoint'
        return None

    def wait(self, pod_id, ready, what, failed=None, **kwargs):
        try:
            return wait_for(lambda: self.fetch(pod_id), ready, self.params['wait_timeout'], what=what, failed=failed,
                            progress_file=self.params['progress_file'], **kwargs)
        except WaitTimeout as err:
            self.fail('%s. %s' % (str(err).rstrip('.'), self.timeout_hint(err.last, ready)),
                      instance=err.last)
        except WaitFailed as err:
            self.fail('RunPod %s: %s. Remove it with state=absent (or playbooks/teardown.yml) and try again, '
                      'perhaps with another image or data center.' % ('pod "%s" (id %s)' % (self.name, pod_id), err),
                      instance=err.last)

    def timeout_hint(self, last, ready):
        hints = []
        if ready is ssh_ready and last is not None and last.get('provider_status') == 'RUNNING':
            if not pod_public_keys(self.last_pod):
                hints.append('The pod carries no SSH public key (env PUBLIC_KEY), so RunPod gives it no SSH endpoint: '
                             'set ssh_public_key, or register a key with nanochat.remote_gpu.runpod_ssh_key, then '
                             'create the pod again.')
            else:
                hints.append('RunPod reports the container running but has not published its 22/tcp port yet; '
                             'large images can take 10 minutes or more.')
        if last is not None:
            hints.append('The pod (id %s) still exists and bills %s USD/h: remove it with state=absent (or '
                         'playbooks/teardown.yml), or run again with a longer wait_timeout to keep waiting.'
                         % (last.get('id'), last.get('price_per_hour')))
        return ' '.join(hints)

    def wait_ready(self, pod, **kwargs):
        return self.wait(pod['id'], ssh_ready, 'RunPod pod "%s" (id %s) to be running with an SSH endpoint'
                         % (self.name, pod['id']), failed=self.boot_failed, **kwargs)

    # --- actions ----------------------------------------------------------------------------
    def action(self, pod, action):
        doing = '%s RunPod %s' % (action, self.describe(pod))
        try:
            result = self.api.pod_action(pod['id'], action)
        except ApiError as err:
            if err.ambiguous:
                # The outcome is unknown: read the pod, and accept it when the action took effect.
                current = self.api_call('read pod %s' % pod['id'], self.api.get_pod, pod['id'])
                took_effect = current is not None and (
                    current.get('status') == 'EXITED' if action == 'stop' else current.get('status') in BOOTING_STATUSES)
                if took_effect:
                    return current
            if err.status == 404:
                self.fail('Could not %s: it no longer exists (HTTP 404 from RunPod).' % doing)
            if action in ('start', 'restart') and is_capacity_error(err):
                self.fail('RunPod cannot %s: %s. A stopped pod resumes on the host that holds its disks, and that '
                          "host's GPUs are taken right now. Try again later, or terminate the pod (state=absent) "
                          'and create a new one (its disks are lost).' % (doing, str(err).rstrip('.')), api_error=err.to_dict())
            if err.status == 409:
                self.module.fail_api(err, doing=doing, hint='RunPod allows only the actions %s for the pod in its '
                                     'current status %s' % (', '.join(pod.get('actions') or []) or 'none',
                                                            pod.get('status')))
            self.module.fail_api(err, doing=doing)
        return result if result else self.api_call('read pod %s' % pod['id'], self.api.get_pod, pod['id'])

    # --- states -----------------------------------------------------------------------------
    def run(self):
        self.validate_options()
        pods = self.lookup()
        state = self.params['state']
        if state == 'absent':
            return self.absent(pods)
        self.refuse_duplicates(pods)
        pod = pods[0] if pods else None
        if state == 'stopped':
            return self.stopped(pod)
        if state == 'restarted':
            return self.restarted(pod)
        return self.present(pod)

    def absent(self, pods):
        if not pods:
            return self.exit(False, None, None, None)
        befores = [normalize(pod) for pod in pods]
        results = [dict(b, status='terminated', provider_status='TERMINATED', ssh_host=None, ssh_port=None,
                        price_per_hour=0.0) for b in befores]
        if self.module.check_mode:
            return self.exit(True, befores[0], None, results[0])
        changed = False
        for pod, before in zip(pods, befores):
            changed = self.terminate(before) or changed
            if self.params['wait']:
                self.wait(pod['id'], lambda instance: instance is None,
                          'RunPod %s to be gone' % self.describe(pod))
        return self.exit(changed, befores[0], None, results[0])

    def terminate(self, instance):
        """Terminate with retries and a read-back (module_utils/_lifecycle); fail only when alive."""
        pod_id = instance['id']
        try:
            changed, _last = _lifecycle.confirm_terminate(
                'runpod', instance, lambda: self.api.delete_pod(pod_id), lambda: self.api.get_instance(pod_id),
                lambda current: current is None, what='pod')
        except _lifecycle.TerminateFailed as err:
            self.fail(str(err), instance=err.last)
        except ApiError as err:
            self.module.fail_api(err, doing='terminate RunPod %s' % self.describe(instance))
        return changed

    def stopped(self, pod):
        if pod is None:
            self.fail('No RunPod pod is named "%s", so there is nothing to stop (state=stopped never creates a '
                      'pod). Use state=present to create it.' % self.name)
        before = normalize(pod)
        if pod['status'] in ('EXITED', 'ERROR'):
            if pod['status'] == 'ERROR':
                self.module.module.warn('RunPod %s is in status ERROR: no container runs, nothing to stop.'
                                        % self.describe(pod))
            return self.exit(False, before, before, before)
        if self.module.check_mode:
            after = dict(before, status='stopped', provider_status='EXITED', ssh_host=None, ssh_port=None,
                         ssh_user=None, price_per_hour=0.0)
            return self.exit(True, before, after, after)
        pod = self.action(pod, 'stop')
        after = normalize(pod)
        if pod.get('status') != 'EXITED' and self.params['wait']:
            after = self.wait(pod['id'], lambda i: i is not None and i['provider_status'] == 'EXITED',
                              'RunPod %s to stop' % self.describe(pod))
        return self.exit(True, before, after, after)

    def restarted(self, pod):
        if pod is None:
            self.fail('No RunPod pod is named "%s", so there is nothing to restart (state=restarted never creates '
                      'a pod). Use state=present to create it.' % self.name)
        before = normalize(pod)
        action = {'RUNNING': 'restart', 'EXITED': 'start', 'ERROR': 'start'}.get(pod['status'])
        if action is None:
            # Still provisioning or starting: it comes up fresh anyway.
            return self.finish(False, before, pod)
        if self.module.check_mode:
            after = dict(before, status='pending', provider_status='STARTING', ssh_host=None, ssh_port=None)
            return self.exit(True, before, after, after)
        return self.finish(True, before, self.action(pod, action), reread=True)

    def present(self, pod):
        if pod is None:
            return self.create()
        before = normalize(pod)
        self.warn_differences(pod)
        if pod['status'] in ('EXITED', 'ERROR'):
            if self.module.check_mode:
                after = dict(before, status='pending', provider_status='STARTING')
                return self.exit(True, before, after, after)
            return self.finish(True, before, self.action(pod, 'start'), reread=True)
        return self.finish(False, before, pod)

    def finish(self, changed, before, pod, reread=False):
        """Wait for the SSH endpoint and exit. After a start or restart the pod is always read again
        (the public IP and port can change), whatever the action's answer said."""
        after = normalize(pod)
        if self.params['wait'] and not self.module.check_mode and (reread or not ssh_ready(after)):
            # The pod in hand counts as the first look, unless the endpoint may have changed.
            after = self.wait_ready(pod) if reread else self.wait_ready(pod, first=after)
        return self.exit(changed, before, after, after)

    # --- create -----------------------------------------------------------------------------
    def create(self):
        p = self.params
        if not p['gpu_type']:
            self.fail('gpu_type is required to create RunPod pod "%s" (no pod has that name). Nothing was created.'
                      % self.name)
        offer = self.check_gpu_type()
        self.check_data_centers()
        if not p['ssh_public_key']:
            keys = self.api_call('read the account SSH keys', self.api.get_ssh_keys)
            if not keys:
                self.fail('No SSH key for RunPod pod "%s": set ssh_public_key, or register a key on the account '
                          '(nanochat.remote_gpu.runpod_ssh_key). Without one the pod gets no SSH access. Nothing was '
                          'created.' % self.name)
        body = create_pod_body(self.name, **self.settings())
        dcs = p['data_center_ids'] or []
        predicted = make_instance('runpod', None, self.name, 'pending', 'PROVISIONING',
                                  gpu_type=body['gpu']['id'], gpu_count=body['gpu']['count'],
                                  price_per_hour=offer['price_per_hour'], region=dcs[0] if len(dcs) == 1 else None,
                                  raw=body)
        if self.module.check_mode:
            return self.exit(True, None, predicted, predicted)
        try:
            pod = self.api.create_pod(body)
        except ApiError as err:
            pod = self.recover_create(err, offer)
        return self.finish(True, None, pod)

    def check_gpu_type(self):
        p = self.params
        count = p['gpu_count'] or 1
        cloud = p['cloud_type'] or 'SECURE'
        gpu = self.api_call('read GPU type "%s" from the catalog' % p['gpu_type'], self.api.get_gpu_type,
                            p['gpu_type'], count=count, cloud_type=cloud)
        if gpu is None:
            gpus = self.api_call('list GPU types', self.api.list_gpu_types, availability=False)
            by_name = dict((g.get('name'), g.get('id')) for g in gpus)
            ids = [g.get('id') for g in gpus]
            close = []
            for match in suggest(p['gpu_type'], ids + list(by_name)):
                gpu_id = by_name.get(match, match)
                if gpu_id not in close:
                    close.append(gpu_id)
            self.fail('Unknown RunPod GPU type "%s" (GET /v2/catalog/gpus/... answered HTTP 404). gpu_type takes a '
                      'GPU type id from the catalog%s; nanochat.remote_gpu.runpod_gpu_info lists them with prices and '
                      'availability. Nothing was created.'
                      % (p['gpu_type'], ('; did you mean %s?' % ', '.join('"%s"' % c for c in close)) if close else ''))
        offer = gpu_offer(gpu, count, cloud)
        if not offer['offered']:
            other = 'COMMUNITY' if cloud == 'SECURE' else 'SECURE'
            self.fail('RunPod does not offer %s on %s cloud; try cloud_type=%s. Nothing was created.'
                      % (p['gpu_type'], cloud, other))
        if offer['max_count'] and count > offer['max_count']:
            self.fail('RunPod offers at most %d x %s per pod on %s cloud (gpu_count=%d). Nothing was created.'
                      % (offer['max_count'], p['gpu_type'], cloud, count))
        return offer

    def check_data_centers(self):
        wanted = self.params['data_center_ids']
        if not wanted:
            return
        known = [dc.get('id') for dc in self.api_call('list data centers', self.api.list_data_centers)]
        unknown = [dc for dc in wanted if dc not in known]
        if unknown:
            self.fail('Unknown RunPod data center id(s): %s. Known ids: %s. Nothing was created.'
                      % (', '.join(unknown), ', '.join(sorted(k for k in known if k))))

    def recover_create(self, err, offer):
        doing = 'create RunPod pod "%s"' % self.name
        if err.ambiguous:
            # RunPod may have created the pod although the answer was lost or an error: look before
            # anything else, and never send a second create while the first may still land.
            if is_capacity_error(err):
                found = self.lookup()
            else:
                settled = _lifecycle.settle_create('runpod', lambda: self.api.find_pods(self.name))
                found = settled.found
            if len(found) > 1:
                self.fail(_lifecycle.duplicate_message('runpod', self.name, found, what='pod'),
                          instances=[normalize(p) for p in found])
            if found:
                self.module.module.warn('RunPod answered the create with an error (%s), but pod "%s" (id %s) exists; '
                                        'this task uses it and created no other.' % (err, self.name, found[0]['id']))
                return found[0]
            if not is_capacity_error(err):
                self.fail(_lifecycle.unknown_create_message('runpod', self.name, err, settled, what='pod'),
                          create_outcome='unknown', api_error=err.to_dict())
        if is_capacity_error(err):
            p = self.params
            where = ('data center(s) %s' % ', '.join(p['data_center_ids'])) if p['data_center_ids'] else 'any data center'
            self.fail('RunPod has no capacity for %dx %s on %s cloud in %s right now: %s. Before the request %s. '
                      'Nothing was created. Try other data_center_ids, cloud_type=COMMUNITY, fewer GPUs, another '
                      'gpu_type, or again later; nanochat.remote_gpu.runpod_gpu_info shows current availability.'
                      % (offer['gpu_count'], offer['id'], offer['cloud_type'], where, str(err).rstrip('.'),
                         describe_availability(offer)),
                      api_error=err.to_dict())
        hints = {
            402: BALANCE_HINT,
            403: FORBIDDEN_HINT,
            422: 'RunPod refused the request body; this is a bug in the module, please report it with this message',
            400: 'RunPod refused the request: check gpu_type, gpu_count, cloud_type, data_center_ids and volume_gb',
        }
        self.module.fail_api(err, doing=doing, hint=hints.get(err.status))


def main():
    argument_spec = dict(
        name=dict(type='str', required=True),
        state=dict(type='str', default='present', choices=['present', 'running', 'stopped', 'restarted', 'absent']),
        gpu_type=dict(type='str'),
        gpu_count=dict(type='int'),
        image=dict(type='str'),
        cloud_type=dict(type='str', choices=['SECURE', 'COMMUNITY']),
        data_center_ids=dict(type='list', elements='str'),
        container_disk_gb=dict(type='int'),
        volume_gb=dict(type='int'),
        volume_mount_path=dict(type='str', default='/workspace'),
        ports=dict(type='list', elements='str'),
        env=dict(type='dict'),
        ssh_public_key=dict(type='str', no_log=False),
    )
    argument_spec.update(wait_argument_spec(900))
    module = ProviderModule('runpod', argument_spec, supports_check_mode=True)
    PodManager(module).run()


if __name__ == '__main__':
    main()
