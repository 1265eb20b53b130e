# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lambda Cloud API v1 adapter: the only place that knows Lambda's paths, fields and codes.

Every path is under ``/api/v1`` on the host root given as ``api_url``. Successes come wrapped
in ``{"data": ...}``; errors (``{"error": {code, message, suggestion}}``) are turned into
``ApiError`` by the shared client, which also paces requests to Lambda's documented limits
(one request per second, one launch per 12 seconds: launches pass ``buckets=['launch']``).

Normalized instance (see _instance.py): ``status`` is ``pending`` for ``booting``/``unhealthy``
(and ``active`` while no IP is known), ``running`` for ``active`` with an ``ip``, ``terminated``
for ``terminating``/``terminated``/``preempted``. SSH is ``ubuntu@<ip>`` on port 22: the API
has no port field. ``price_per_hour`` is ``instance_type.price_cents_per_hour / 100``.
"""

from __future__ import annotations

import difflib
import re

from ansible_collections.nanochat.remote_gpu.plugins.module_utils import _lifecycle
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._api import ApiError
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._instance import make_instance

PROVIDER = 'lambda'
API = '/api/v1'
SSH_PORT = 22
SSH_USER = 'ubuntu'

NAME_MAX_LENGTH = 64
SSH_KEY_NAME_MAX_LENGTH = 64
PUBLIC_KEY_MAX_LENGTH = 4096
TAG_KEY_RE = re.compile(r'^[a-z][a-z0-9-:]+$')
TAG_KEY_MAX_LENGTH = 55
TAG_VALUE_MAX_LENGTH = 128

STATUS_MAP = {
    'booting': 'pending',
    'unhealthy': 'pending',
    'active': 'running',
    'terminating': 'terminated',
    'terminated': 'terminated',
    'preempted': 'terminated',
}
# Statuses of an instance that exists and bills; the others are on their way out.
LIVE_STATUSES = ('booting', 'active', 'unhealthy')
FINISHED_STATUSES = ('terminated', 'preempted')

CODE_INSUFFICIENT_CAPACITY = 'instance-operations/launch/insufficient-capacity'
CODE_QUOTA_EXCEEDED = 'global/quota-exceeded'
CODE_OBJECT_DOES_NOT_EXIST = 'global/object-does-not-exist'
CODE_CONFLICT = 'global/conflict'

STOP_MESSAGE = ('Lambda Cloud cannot stop an instance: its API only launches, restarts and terminates instances, '
                'and an instance bills until it is terminated. Terminating is the only way to end billing (the '
                'instance and its local disk are deleted; keep data on a Lambda file system or fetch it first). '
                'Use state=absent.')


class LambdaError(Exception):
    """An expected failure reported to the user as it is (bad input, no capacity, ...).

    ``kind`` is ``input`` (nothing was sent that changes anything), ``capacity``, ``ambiguous``
    (instances appeared that need a decision) or ``unknown`` (a launch may or may not have
    happened, and none showed up while it could).
    """

    def __init__(self, message, kind='input'):
        super(LambdaError, self).__init__(message)
        self.kind = kind


# --- normalization ---------------------------------------------------------------------------

def _price(cents):
    if isinstance(cents, bool) or not isinstance(cents, (int, float)):
        return None
    return cents / 100.0


def normalize(obj):
    """A Lambda ``Instance`` object -> the normalized instance."""
    obj = obj or {}
    provider_status = obj.get('status')
    status = STATUS_MAP.get(provider_status, 'pending')
    ip = obj.get('ip') or None
    if status == 'running' and not ip:
        status = 'pending'
    reachable = ip if status != 'terminated' else None
    instance_type = obj.get('instance_type') or {}
    specs = instance_type.get('specs') or {}
    region = obj.get('region') or {}
    return make_instance(
        PROVIDER, obj.get('id'), obj.get('name') or None, status, provider_status,
        ssh_host=reachable, ssh_port=SSH_PORT if reachable else None, ssh_user=SSH_USER,
        gpu_type=instance_type.get('gpu_description') or instance_type.get('name'),
        gpu_count=specs.get('gpus'), price_per_hour=_price(instance_type.get('price_cents_per_hour')),
        region=region.get('name') if isinstance(region, dict) else None, raw=obj)


def normalize_instance_type(name, item):
    """One ``GET /instance-types`` entry -> prices in USD/hour (whole instance and per GPU),
    specs, and the regions that have capacity now."""
    item = item or {}
    instance_type = item.get('instance_type') or {}
    specs = instance_type.get('specs') or {}
    gpus = specs.get('gpus')
    price = _price(instance_type.get('price_cents_per_hour'))
    regions = [r for r in item.get('regions_with_capacity_available') or [] if isinstance(r, dict) and r.get('name')]
    return dict(
        name=instance_type.get('name') or name,
        description=instance_type.get('description'),
        gpu_description=instance_type.get('gpu_description'),
        gpu_count=gpus,
        price_per_hour=price,
        price_per_gpu_hour=round(price / gpus, 4) if price is not None and gpus else None,
        vcpus=specs.get('vcpus'),
        memory_gib=specs.get('memory_gib'),
        storage_gib=specs.get('storage_gib'),
        regions_with_capacity=[r['name'] for r in regions],
        region_descriptions=dict((r['name'], r.get('description')) for r in regions),
        available=bool(regions),
    )


def is_live(instance):
    """True for an instance that exists and bills (booting, active or unhealthy)."""
    return bool(instance) and instance.get('provider_status') in LIVE_STATUSES


def is_finished(instance):
    """True when the instance is gone (None), terminated or preempted."""
    return instance is None or instance.get('provider_status') in FINISHED_STATUSES


# --- input validation (before anything is sent) -----------------------------------------------

def validate_instance_name(name):
    if not isinstance(name, str) or not name:
        return 'name must be a non-empty string'
    if len(name) > NAME_MAX_LENGTH:
        return 'name must be %d characters or fewer for Lambda Cloud (got %d)' % (NAME_MAX_LENGTH, len(name))
    return None


def _tag_value(key, value):
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value
    raise LambdaError('tag %r: the value must be a string (got %s)' % (key, type(value).__name__))


def tags_to_api(tags):
    """``{key: value}`` -> ``[{"key", "value"}]``, checked against the API's rules."""
    result = []
    for key, value in (tags or {}).items():
        if not isinstance(key, str) or len(key) > TAG_KEY_MAX_LENGTH or not TAG_KEY_RE.match(key):
            raise LambdaError('tag key %r is not valid for Lambda Cloud: it must start with a lowercase letter, contain '
                              'only lowercase letters, digits, "-" and ":", be at least 2 and at most %d characters'
                              % (key, TAG_KEY_MAX_LENGTH))
        text = _tag_value(key, value)
        if len(text) > TAG_VALUE_MAX_LENGTH:
            raise LambdaError('tag %r: the value must be %d characters or fewer (got %d)'
                              % (key, TAG_VALUE_MAX_LENGTH, len(text)))
        result.append(dict(key=key, value=text))
    return result


def tags_from_api(tags):
    """``[{"key", "value"}]`` -> ``{key: value}``."""
    return dict((t.get('key'), t.get('value')) for t in tags or [] if isinstance(t, dict))


def image_to_api(image):
    """The module's ``image`` option (``{family}`` or ``{id}``) -> the API's image spec."""
    if not image:
        return None
    chosen = dict((k, v) for k, v in image.items() if v)
    if len(chosen) != 1 or set(chosen) - set(['family', 'id']):
        raise LambdaError('image must name exactly one of family or id')
    return chosen


def close_matches(word, choices, n=3):
    """Likely meant choices: those that start with ``word``, else the closest spellings."""
    choices = sorted(set(c for c in choices if isinstance(c, str)))
    prefixed = [c for c in choices if word and c.startswith(word)]
    return prefixed[:n] if prefixed else difflib.get_close_matches(word, choices, n=n, cutoff=0.8)


# --- the API ---------------------------------------------------------------------------------

class LaunchPlan(object):
    """What a launch would send: the request (without region), the regions to try in order,
    the regions skipped and why, and the instance a check-mode run predicts."""

    def __init__(self, name, request, regions, skipped, instance_type):
        self.name = name
        self.request = request
        self.regions = regions
        self.skipped = skipped
        self.instance_type = instance_type

    def predicted(self):
        itype = self.instance_type
        return make_instance(PROVIDER, None, self.name, 'pending', 'booting', ssh_user=SSH_USER,
                             gpu_type=itype['gpu_description'] or itype['name'], gpu_count=itype['gpu_count'],
                             price_per_hour=itype['price_per_hour'], region=self.regions[0] if self.regions else None)


class LambdaApi(object):
    """Lambda Cloud API v1 through an ``_api.ApiClient`` made for provider ``lambda``."""

    def __init__(self, client):
        self.client = client

    # --- transport ----------------------------------------------------------------------------
    def _unwrap(self, method, path, body):
        if isinstance(body, dict) and 'data' in body:
            return body['data']
        raise ApiError(PROVIDER, method, path, status=200,
                       message='unexpected response: no "data" envelope', body=body)

    def _get(self, path, **kwargs):
        return self._unwrap('GET', API + path, self.client.get(API + path, **kwargs))

    def _post(self, path, body, **kwargs):
        return self._unwrap('POST', API + path, self.client.post(API + path, json_body=body, **kwargs))

    # --- instances ----------------------------------------------------------------------------
    def list_instances(self):
        """Every instance the account has (one request; terminated ones are not listed)."""
        return [normalize(obj) for obj in self._get('/instances') or [] if isinstance(obj, dict)]

    def get_instance(self, instance_id):
        """The instance, or None when Lambda no longer knows the id (404)."""
        try:
            return normalize(self._get('/instances/%s' % instance_id))
        except ApiError as err:
            if err.status == 404:
                return None
            raise

    def find_by_name(self, name):
        return [i for i in self.list_instances() if i['name'] == name]

    def live_by_name(self, name):
        return [i for i in self.find_by_name(name) if is_live(i)]

    def launch(self, request):
        """POST /instance-operations/launch -> the new instance ids (paced: 1 launch / 12 s)."""
        data = self._post('/instance-operations/launch', request, buckets=['launch'])
        return list((data or {}).get('instance_ids') or [])

    def restart(self, instance_ids):
        data = self._post('/instance-operations/restart', dict(instance_ids=list(instance_ids)))
        return [normalize(obj) for obj in (data or {}).get('restarted_instances') or []]

    def terminate(self, instance_ids):
        """Terminate; [] when Lambda no longer knows an id (already gone). Terminating twice is
        harmless, so the request is retried like an idempotent one."""
        try:
            data = self._post('/instance-operations/terminate', dict(instance_ids=list(instance_ids)), idempotent=True)
        except ApiError as err:
            if err.status == 404:
                if err.tries > 1:
                    # An earlier try of this request terminated them.
                    return [normalize(dict(id=i, status='terminated')) for i in instance_ids]
                return []
            raise
        return [normalize(obj) for obj in (data or {}).get('terminated_instances') or []]

    # --- catalog ------------------------------------------------------------------------------
    def instance_types(self):
        """GET /instance-types -> {name: normalized instance type}."""
        data = self._get('/instance-types') or {}
        return dict((name, normalize_instance_type(name, item)) for name, item in data.items())

    def regions(self):
        return [r for r in self._get('/regions') or [] if isinstance(r, dict)]

    def images(self):
        return [i for i in self._get('/images') or [] if isinstance(i, dict)]

    def file_systems(self):
        return [f for f in self._get('/file-systems') or [] if isinstance(f, dict)]

    # --- SSH keys -----------------------------------------------------------------------------
    def ssh_keys(self):
        """[{id, name, public_key}] (never anything else)."""
        return [dict(id=k.get('id'), name=k.get('name'), public_key=k.get('public_key'))
                for k in self._get('/ssh-keys') or [] if isinstance(k, dict)]

    def add_ssh_key(self, name, public_key):
        """Upload a public key. Never asks Lambda to generate a pair (we would have to return its
        private half); the answer's ``private_key``, if any, is dropped."""
        if not public_key:
            raise LambdaError('a public key is required; server-generated key pairs are not supported')
        key = self._post('/ssh-keys', dict(name=name, public_key=public_key.strip())) or {}
        return dict(id=key.get('id'), name=key.get('name'), public_key=key.get('public_key'))

    def delete_ssh_key(self, key_id):
        """True when deleted, False when Lambda did not know it (already gone)."""
        try:
            self.client.delete('%s/ssh-keys/%s' % (API, key_id))
        except ApiError as err:
            if err.status == 404:
                return False
            raise
        return True

    # --- launching ----------------------------------------------------------------------------
    def plan_launch(self, name, instance_type, ssh_key_name, regions=None, file_system_names=None, image=None,
                    tags=None):
        """Check everything a launch needs with GET requests only; raise LambdaError on bad input
        or when no region can have capacity. Returns a LaunchPlan."""
        request = dict(instance_type_name=instance_type, ssh_key_names=[ssh_key_name], name=name)
        api_tags = tags_to_api(tags)
        if api_tags:
            request['tags'] = api_tags
        api_image = image_to_api(image)
        if api_image:
            request['image'] = api_image

        types = self.instance_types()
        if instance_type not in types:
            raise LambdaError(_unknown('instance type', instance_type, types,
                                       'nanochat.remote_gpu.lambda_instance_type_info lists them with prices'))
        chosen = types[instance_type]

        key_names = [k['name'] for k in self.ssh_keys()]
        if ssh_key_name not in key_names:
            raise LambdaError('SSH key %r does not exist in this Lambda Cloud account (keys: %s). Add it first with '
                              'nanochat.remote_gpu.lambda_ssh_key. Nothing was launched.'
                              % (ssh_key_name, ', '.join(sorted(key_names)) or 'none'))

        fs_region = None
        if file_system_names:
            fs_region = self._file_system_region(file_system_names)
            request['file_system_names'] = list(file_system_names)

        image_regions = self._image_regions(api_image) if api_image else None

        with_capacity = chosen['regions_with_capacity']
        wanted = list(regions or [])
        skipped = {}
        if wanted:
            missing = [r for r in wanted if r not in with_capacity]
            if missing:
                known = [r.get('name') for r in self.regions()]
                unknown = [r for r in missing if r not in known]
                if unknown:
                    raise LambdaError('unknown Lambda Cloud region(s): %s. Regions: %s. Nothing was launched.'
                                      % (', '.join(unknown), ', '.join(known)))
            for region in missing:
                skipped[region] = 'no capacity listed by GET /instance-types'
            candidates = [r for r in wanted if r in with_capacity]
        else:
            candidates = list(with_capacity)
        if fs_region is not None:
            if wanted and fs_region not in wanted:
                raise LambdaError('the file systems %s are in %s, which is not in region (%s); an instance can only mount '
                                  'file systems of its own region. Nothing was launched.'
                                  % (', '.join(file_system_names), fs_region, ', '.join(wanted)))
            for region in candidates:
                if region != fs_region:
                    skipped[region] = 'the file systems are in %s' % fs_region
            if fs_region not in with_capacity:
                skipped[fs_region] = 'no capacity listed by GET /instance-types'
            candidates = [r for r in candidates if r == fs_region]
        if image_regions is not None:
            for region in candidates:
                if region not in image_regions:
                    skipped[region] = 'the image is not available there'
            candidates = [r for r in candidates if r in image_regions]
        if not candidates:
            tried = wanted or sorted(skipped) or []
            raise LambdaError(self.capacity_message(chosen, tried, skipped, types), kind='capacity')
        return LaunchPlan(name, request, candidates, skipped, chosen)

    def _file_system_region(self, names):
        file_systems = dict((f.get('name'), f) for f in self.file_systems())
        unknown = [n for n in names if n not in file_systems]
        if unknown:
            raise LambdaError('unknown Lambda file system(s): %s (file systems: %s). Nothing was launched.'
                              % (', '.join(unknown), ', '.join(sorted(file_systems)) or 'none'))
        regions = sorted(set((file_systems[n].get('region') or {}).get('name') for n in names))
        if len(regions) != 1:
            raise LambdaError('the file systems %s are in different regions (%s); an instance can only mount file '
                              'systems of its own region' % (', '.join(names), ', '.join(str(r) for r in regions)))
        return regions[0]

    def _image_regions(self, api_image):
        """The regions where the image (``{family}`` or ``{id}``) can be launched."""
        field, value = list(api_image.items())[0]
        images = self.images()
        matching = [i for i in images if i.get(field) == value]
        if not matching:
            choices = sorted(set(i.get(field) for i in images if i.get(field)))
            raise LambdaError(_unknown('image %s' % field, value, choices, 'GET /api/v1/images lists them'))
        return set((i.get('region') or {}).get('name') for i in matching)

    @staticmethod
    def capacity_message(chosen, tried, skipped, types=None):
        """A capacity failure naming the instance type, the regions and what to try next."""
        name = chosen['name']
        where = ', '.join('%s (%s)' % (r, skipped.get(r, 'no capacity')) for r in tried) if tried else 'any region'
        parts = ['No capacity for Lambda Cloud instance type %s (%s) in %s.' % (name, chosen.get('description') or name, where)]
        now = [r for r in chosen['regions_with_capacity'] if r not in tried]
        if now:
            parts.append('Regions with capacity for %s right now: %s; add one to region.' % (name, ', '.join(now)))
        alternatives = []
        for other in sorted((types or {}).values(), key=lambda t: (t.get('price_per_hour') or 0, t['name'])):
            if other['name'] != name and other['available'] and other.get('gpu_count') == chosen.get('gpu_count'):
                alternatives.append('%s (%s)' % (other['name'], ', '.join(other['regions_with_capacity'])))
        if alternatives:
            parts.append('Other %s-GPU instance types with capacity now: %s.' % (chosen.get('gpu_count'), '; '.join(alternatives[:5])))
        parts.append('Capacity changes quickly (8x H100 can be sold out for days): retry later, e.g. with retries/until '
                     'on this task, or try another provider. Nothing was launched.')
        return ' '.join(parts)

    def launch_planned(self, plan):
        """Launch following ``plan``: region by region while Lambda answers insufficient-capacity;
        after a launch whose outcome is unknown, look the name up (``settle_launch``) and never
        send another launch.

        Returns ``(instance_id, region, attempts)``; raises LambdaError (capacity everywhere, or an
        outcome that stayed unknown) or ApiError (any other refusal).
        """
        attempts = []
        for region in plan.regions:
            request = dict(plan.request, region_name=region)
            try:
                ids = self.launch(request)
            except ApiError as err:
                if err.code == CODE_INSUFFICIENT_CAPACITY:
                    attempts.append((region, 'insufficient capacity at launch'))
                    continue
                if not err.ambiguous:
                    raise
                return self.settle_launch(plan, region, attempts, err)
            if not ids:
                return self.settle_launch(plan, region, attempts, 'an answer without an instance id')
            return ids[0], region, attempts
        skipped = dict(plan.skipped)
        for region, reason in attempts:
            skipped[region] = reason
        tried = list(plan.skipped) + [r for r, _reason in attempts]
        raise LambdaError(self.capacity_message(plan.instance_type, tried, skipped), kind='capacity')

    def settle_launch(self, plan, region, attempts, err):
        """The launch may still land: look the name up for as long as Lambda may take, and never
        launch again (not in this region, not in another) meanwhile."""
        settled = _lifecycle.settle_create(PROVIDER, lambda: self.live_by_name(plan.name))
        if len(settled.found) > 1:
            raise LambdaError(_lifecycle.duplicate_message(PROVIDER, plan.name, settled.found), kind='ambiguous')
        if settled.found:
            return settled.found[0]['id'], region, attempts
        raise LambdaError(_lifecycle.unknown_create_message(PROVIDER, plan.name, err, settled), kind='unknown')


def _unknown(what, value, choices, hint):
    suggestions = close_matches(value, choices)
    text = 'unknown Lambda Cloud %s %r' % (what, value)
    if suggestions:
        text += ' (did you mean %s?)' % ', '.join(suggestions)
    return '%s; %s. Nothing was launched.' % (text, hint)
