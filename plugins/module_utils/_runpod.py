# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""RunPod REST API v2 adapter: the only place that knows RunPod's API.

Paths are the spec's (``/v2/pods``, ``/v2/catalog/gpus``, ...) under the host root the client is
built with. Request bodies use only fields of the v2 closed schemas (``CreatePodRequest``,
``CreateGpuConfig``, ``Mounts``, ``PodActionRequest``, ``UpdateSshKeysRequest``); v1 names
(``gpuTypeIds``, ``containerDiskInGb``, ``volumeInGb``, ...) would be a 422.

Normalization (``normalize``): ``status`` is ``running`` only when the pod is ``RUNNING`` and its
SSH endpoint is known (``ssh.direct``, else a ``runtime.ports`` entry for private port 22/tcp
with a public ip and port); a ``RUNNING`` pod without it is still ``pending`` (the readiness
trap: RunPod reports RUNNING before the port mapping exists). ``price_per_hour`` is the pod's
``cost`` (USD/h, whole pod), ``region`` its ``dataCenterId``.
"""

from __future__ import annotations

import difflib
import re

from urllib.parse import quote

from ansible_collections.nanochat.remote_gpu.plugins.module_utils._api import ApiError
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._common import same_public_key
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._instance import make_instance

PROVIDER = 'runpod'
SSH_USER = 'root'
SSH_PORT_SPEC = '22/tcp'
DEFAULT_IMAGE = 'runpod/pytorch:1.0.2-cu1281-torch280-ubuntu2404'
DEFAULT_CLOUD = 'SECURE'
DEFAULT_VOLUME_PATH = '/workspace'
MIN_VOLUME_GB = 10
PORT_SPEC = re.compile(r'^([0-9]{1,5})/(tcp|http)$')

STATUS_MAP = {
    'PROVISIONING': 'pending',
    'STARTING': 'pending',
    'RUNNING': 'running',  # only with an SSH endpoint; see normalize()
    'EXITED': 'stopped',
    'ERROR': 'failed',
    'TERMINATED': 'terminated',
}
# Statuses from which a pod moves on by itself toward RUNNING.
BOOTING_STATUSES = ('PROVISIONING', 'STARTING', 'RUNNING')

# RunPod has no machine-readable capacity code: these ``detail`` substrings mean "no capacity"
# (recorded v2 400 body, and the messages seen from older APIs for the same condition).
CAPACITY_MARKERS = (
    'no longer any instances available',
    'no instances currently available',
    'not enough free gpus',
    'does not have the resources',
)


# --- normalization ---------------------------------------------------------------------------

def ssh_endpoint(pod):
    """(host, port, user) where SSH answers, or None. ``ssh.direct`` first, then the runtime
    port mapping of private port 22/tcp with a public ip and port; never the SSH proxy."""
    if not isinstance(pod, dict):
        return None
    direct = (pod.get('ssh') or {}).get('direct')
    if isinstance(direct, dict) and direct.get('host') and direct.get('port'):
        return direct['host'], int(direct['port']), direct.get('username') or SSH_USER
    runtime = pod.get('runtime') or {}
    for port in runtime.get('ports') or []:
        if (isinstance(port, dict) and port.get('private') == 22 and port.get('type') == 'tcp'
                and port.get('ip') and port.get('public')):
            return port['ip'], int(port['public']), SSH_USER
    return None


def normalize(pod):
    """A RunPod v2 Pod object -> normalized instance."""
    provider_status = pod.get('status')
    status = STATUS_MAP.get(provider_status, 'pending')
    endpoint = ssh_endpoint(pod) if provider_status == 'RUNNING' else None
    if provider_status == 'RUNNING' and endpoint is None:
        status = 'pending'
    gpu = pod.get('gpu') or {}
    host, port, user = endpoint if endpoint else (None, None, None)
    return make_instance(
        PROVIDER, pod.get('id'), pod.get('name'), status, provider_status,
        ssh_host=host, ssh_port=port, ssh_user=user,
        gpu_type=gpu.get('id'), gpu_count=gpu.get('count'),
        price_per_hour=pod.get('cost'), region=pod.get('dataCenterId'), raw=pod,
    )


def is_gone(pod):
    return pod is None or pod.get('status') == 'TERMINATED'


# --- errors ----------------------------------------------------------------------------------

def is_capacity_error(error):
    """True when an ApiError means "no capacity for that GPU / data center now"."""
    if not isinstance(error, ApiError) or error.status not in (400, 409, 500, 503):
        return False
    text = ' '.join([error.message or ''] + [str(e) for e in error.errors]).lower()
    return any(marker in text for marker in CAPACITY_MARKERS)


BALANCE_HINT = ('The RunPod account balance is too low: add funds in the RunPod console (Billing); no GPU type '
                'or data center will work until then')
FORBIDDEN_HINT = ('The API key cannot access this resource or pool: check the key\'s permissions, or try another '
                  'GPU type, cloud_type or data center')


# --- request bodies --------------------------------------------------------------------------

def pod_ports(ports):
    """The requested ports with ``22/tcp`` always included (first), duplicates removed."""
    result = [SSH_PORT_SPEC]
    for port in ports or []:
        if port not in result:
            result.append(port)
    return result


def validate_ports(ports):
    """A message for the first malformed port spec, or None."""
    for port in ports or []:
        match = PORT_SPEC.match(port or '')
        if not match or not 1 <= int(match.group(1)) <= 65535:
            return ('port %r is not "<port>/<protocol>" with a port from 1 to 65535 and protocol tcp or http '
                    '(e.g. 22/tcp, 8888/http)' % (port,))
    return None


def stringify_env(env):
    """Env values as strings (YAML may give ints or bools); None stays out."""
    result = {}
    for key, value in (env or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = 'true' if value else 'false'
        result[str(key)] = str(value)
    return result


def create_pod_body(name, gpu_type, gpu_count=1, image=None, cloud_type=None, data_center_ids=None,
                    container_disk_gb=None, volume_gb=None, volume_mount_path=None, ports=None, env=None,
                    ssh_public_key=None):
    """A ``CreatePodRequest`` (closed schema: only v2 field names).

    ``ssh_public_key`` goes into ``env.PUBLIC_KEY``, which RunPod images read to authorize the
    key. ``startSsh`` is always set: with an explicit PUBLIC_KEY it changes nothing, without one
    it injects the account's registered keys.
    """
    body = dict(
        name=name,
        image=image or DEFAULT_IMAGE,
        gpu=dict(id=gpu_type, count=int(gpu_count or 1)),
        cloud=cloud_type or DEFAULT_CLOUD,
        ports=pod_ports(ports),
        startSsh=True,
    )
    if data_center_ids:
        body['dataCenterIds'] = list(data_center_ids)
    if container_disk_gb:
        body['disk'] = int(container_disk_gb)
    if volume_gb:
        body['mounts'] = dict(persistent=dict(size=int(volume_gb), path=volume_mount_path or DEFAULT_VOLUME_PATH))
    pod_env = stringify_env(env)
    if ssh_public_key:
        pod_env['PUBLIC_KEY'] = ssh_public_key.strip()
    if pod_env:
        body['env'] = pod_env
    return body


def pod_public_keys(pod):
    """The key lines a pod authorizes through ``env.PUBLIC_KEY`` (newline separated)."""
    text = ((pod or {}).get('env') or {}).get('PUBLIC_KEY') or ''
    return [line.strip() for line in text.splitlines() if line.strip()]


def pod_differences(pod, gpu_type=None, gpu_count=None, image=None, cloud_type=None, data_center_ids=None,
                    container_disk_gb=None, volume_gb=None, volume_mount_path=None, ports=None, env=None,
                    ssh_public_key=None):
    """Settings of an existing pod that differ from those requested (only options that were set).

    Returned as short texts for a warning. Env values never appear (they may be secrets), only
    key names; keys RunPod adds (PUBLIC_KEY) and requested empty values (RunPod drops them) are
    not compared.
    """
    diffs = []
    gpu = pod.get('gpu') or {}
    if gpu_type and gpu.get('id') != gpu_type:
        diffs.append('gpu_type is %r, not %r' % (gpu.get('id'), gpu_type))
    if gpu_count and gpu.get('count') != gpu_count:
        diffs.append('gpu_count is %s, not %s' % (gpu.get('count'), gpu_count))
    if image and pod.get('image') != image:
        diffs.append('image is %r, not %r' % (pod.get('image'), image))
    if cloud_type and pod.get('cloud') != cloud_type:
        diffs.append('cloud_type is %s, not %s' % (pod.get('cloud'), cloud_type))
    if data_center_ids and pod.get('dataCenterId') and pod.get('dataCenterId') not in data_center_ids:
        diffs.append('data center is %s, not one of %s' % (pod.get('dataCenterId'), ', '.join(data_center_ids)))
    if container_disk_gb and pod.get('disk') != container_disk_gb:
        diffs.append('container_disk_gb is %s, not %s' % (pod.get('disk'), container_disk_gb))
    persistent = (pod.get('mounts') or {}).get('persistent') or {}
    if volume_gb and persistent.get('size') != volume_gb:
        diffs.append('volume_gb is %s, not %s' % (persistent.get('size'), volume_gb))
    if volume_gb and volume_mount_path and persistent.get('path') not in (None, volume_mount_path):
        diffs.append('volume_mount_path is %r, not %r' % (persistent.get('path'), volume_mount_path))
    if ports is not None:
        missing = [p for p in pod_ports(ports) if p not in (pod.get('ports') or [])]
        if missing:
            diffs.append('ports lack %s' % ', '.join(missing))
    current_env = pod.get('env') or {}
    changed_keys = sorted(k for k, v in stringify_env(env).items()
                          if k != 'PUBLIC_KEY' and v != '' and current_env.get(k) != v)
    if changed_keys:
        diffs.append('env differs for %s' % ', '.join(changed_keys))
    if ssh_public_key and not any(same_public_key(ssh_public_key, line) for line in pod_public_keys(pod)):
        diffs.append('the pod does not authorize ssh_public_key (PUBLIC_KEY is set only at creation)')
    return diffs


# --- catalog helpers -------------------------------------------------------------------------

def gpu_offer(gpu, count=1, cloud_type=DEFAULT_CLOUD):
    """A catalog ``GpuType`` (read with include=AVAILABILITY) as returned by runpod_gpu_info."""
    tier = 'community' if cloud_type == 'COMMUNITY' else 'secure'
    price = (gpu.get('price') or {}).get(tier)
    data_centers = [dict(id=dc.get('id'), name=dc.get('name'), availability=dc.get('availability'))
                    for dc in gpu.get('dataCenters') or []]
    return dict(
        id=gpu.get('id'),
        name=gpu.get('name'),
        manufacturer=gpu.get('manufacturer'),
        memory_gb=gpu.get('memory'),
        cloud_type=cloud_type,
        offered=bool(gpu.get(tier)),
        gpu_count=count,
        price_per_gpu=price,
        price_per_hour=round(price * count, 4) if isinstance(price, (int, float)) else None,
        max_count=(gpu.get('maxCount') or {}).get(tier),
        availability=gpu.get('availability') or 'NONE',
        data_centers=data_centers,
        available_data_centers=[dc['id'] for dc in data_centers if dc['availability'] not in (None, 'NONE')],
        cuda_versions=[v.get('version') for v in gpu.get('cudaVersions') or [] if v.get('available')],
    )


def describe_availability(offer):
    """A short text of where a GPU type has stock, for capacity messages."""
    places = ['%s (%s)' % (dc['id'], dc['availability']) for dc in offer.get('data_centers') or []
              if dc.get('availability') not in (None, 'NONE')]
    if not places:
        return 'the catalog lists no data center with stock for %dx %s on %s cloud right now' % (
            offer.get('gpu_count') or 1, offer.get('id'), offer.get('cloud_type'))
    return 'the catalog lists stock for %dx %s on %s cloud in %s' % (
        offer.get('gpu_count') or 1, offer.get('id'), offer.get('cloud_type'), ', '.join(places))


def suggest(value, candidates, limit=5):
    """Close matches of ``value`` among ``candidates`` (case-insensitive)."""
    lowered = dict((c.lower(), c) for c in candidates if c)
    matches = difflib.get_close_matches((value or '').lower(), list(lowered), n=limit, cutoff=0.4)
    return [lowered[m] for m in matches]


def _segment(value):
    """One URL path segment (GPU type ids contain spaces)."""
    return quote(str(value), safe='')


# --- the API ---------------------------------------------------------------------------------

class RunPodApi(object):
    """RunPod REST v2 calls used by the modules and the inventory plugin."""

    def __init__(self, client):
        self.client = client

    # pods
    def list_pods(self):
        """All pods (raw), one ``GET /v2/pods`` plus any pages (the spec has none; tolerated)."""
        pods = []
        params = None
        seen = set()
        while True:
            body = self.client.get('/v2/pods', params=params) or {}
            pods.extend(body.get('pods') or [])
            pagination = body.get('pagination') or {}
            cursor = pagination.get('nextCursor')
            if not pagination.get('hasNextPage') or not cursor or cursor in seen:
                return pods
            seen.add(cursor)
            params = dict(cursor=cursor)

    def list_instances(self):
        return [normalize(pod) for pod in self.list_pods()]

    def get_pod(self, pod_id):
        """The raw pod, or None when it does not exist (404)."""
        try:
            return self.client.get('/v2/pods/%s' % _segment(pod_id))
        except ApiError as err:
            if err.status == 404:
                return None
            raise

    def get_instance(self, pod_id):
        pod = self.get_pod(pod_id)
        return None if is_gone(pod) else normalize(pod)

    def find_pods(self, name):
        """Raw pods with exactly this name that are not terminated (one list call)."""
        return [pod for pod in self.list_pods() if pod.get('name') == name and not is_gone(pod)]

    def find_by_name(self, name):
        return [normalize(pod) for pod in self.find_pods(name)]

    def create_pod(self, body):
        """``POST /v2/pods`` -> the new pod (raw). Not retried on 5xx: the ApiError is then
        ``ambiguous`` and the caller must look the pod up by name."""
        return self.client.post('/v2/pods', json_body=body, ok=(200, 201))

    def pod_action(self, pod_id, action):
        """``POST /v2/pods/{id}/action`` -> the updated pod (None for terminate)."""
        return self.client.post('/v2/pods/%s/action' % _segment(pod_id), json_body=dict(action=action), ok=(200, 204))

    def delete_pod(self, pod_id):
        """``DELETE /v2/pods/{id}``; True when deleted, False when it was already gone (404 at the
        first try; a 404 after a retry means the earlier try deleted it)."""
        try:
            self.client.delete('/v2/pods/%s' % _segment(pod_id), ok=(200, 204))
        except ApiError as err:
            if err.status == 404:
                return err.tries > 1
            raise
        return True

    # catalog
    @staticmethod
    def _availability_params(count, cloud_type, country_codes=None):
        params = dict(include='AVAILABILITY', product='POD', count=int(count or 1), cloud=cloud_type or DEFAULT_CLOUD)
        if country_codes:
            params['countryCodes'] = ','.join(country_codes)
        return params

    def list_gpu_types(self, count=None, cloud_type=None, availability=True, country_codes=None):
        """GPU types; with ``availability`` also stock and data centers for ``count`` GPUs on ``cloud_type``."""
        params = self._availability_params(count, cloud_type, country_codes) if availability else None
        return (self.client.get('/v2/catalog/gpus', params=params) or {}).get('gpus') or []

    def get_gpu_type(self, gpu_id, count=None, cloud_type=None, availability=True, country_codes=None):
        """One GPU type (with availability for ``count`` on ``cloud_type``), or None (404: no such type)."""
        params = self._availability_params(count, cloud_type, country_codes) if availability else None
        try:
            return self.client.get('/v2/catalog/gpus/%s' % _segment(gpu_id), params=params)
        except ApiError as err:
            if err.status == 404:
                return None
            raise

    def list_data_centers(self, gpu_availability=False):
        params = dict(include='GPU_AVAILABILITY') if gpu_availability else None
        return (self.client.get('/v2/catalog/datacenters', params=params) or {}).get('dataCenters') or []

    # account SSH keys
    def get_ssh_keys(self):
        return list((self.client.get('/v2/account/ssh-keys') or {}).get('keys') or [])

    def put_ssh_keys(self, keys):
        """Replace the whole set (PUT is a full replacement, not a merge)."""
        return list((self.client.put('/v2/account/ssh-keys', json_body=dict(keys=list(keys))) or {}).get('keys') or [])


__all__ = ['RunPodApi', 'normalize', 'ssh_endpoint', 'is_capacity_error', 'is_gone',
           'create_pod_body', 'pod_differences', 'gpu_offer', 'describe_availability', 'suggest',
           'validate_ports', 'pod_ports', 'pod_public_keys', 'STATUS_MAP', 'CAPACITY_MARKERS']
