# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Vast.ai adapter: the only code that knows the Vast.ai REST API.

Endpoints (host root + these paths, trailing slashes as the official SDK sends them):

- offers: ``POST /api/v0/bundles/`` with a query object ``{field: {op: value}, order, type, limit,
  allocated_storage}``; ops ``eq neq gt gte lt lte in notin``; ``gpu_name`` values use spaces
  (``"H100 SXM"``);
- create: ``PUT /api/v0/asks/{offer_id}/`` -> ``{"success": true, "new_contract": <instance id>}``;
  a taken offer answers 404 (``no_such_ask``) or 410;
- list: ONLY the paginated ``GET /api/v1/instances/`` (JSON-encoded query values, 25 a page,
  ``next_token``). The v0 list is being retired with a 410 that careless clients read as "no
  instances" (SkyPilot #10517); any body without an instance list is an error here;
- one instance: ``GET /api/v0/instances/{id}/`` -> ``{"instances": {...}}``, or ``null`` / 404 when gone;
- stop/start: ``PUT /api/v0/instances/{id}/ {"state": "stopped"|"running"}``;
- destroy: ``DELETE /api/v0/instances/{id}/`` (404 ``not_found`` = already gone);
- account SSH keys ``/api/v0/ssh/`` and per-instance keys ``/api/v0/instances/{id}/ssh/``.

A wrong key can come back as 401 or as 404 with the ``auth_error`` code: errors are classified by
code, never by status alone.
"""

from __future__ import annotations

import json
import re

from ansible_collections.nanochat.remote_gpu.plugins.module_utils._api import ApiError
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._common import same_public_key
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._instance import make_instance

PROVIDER = 'vastai'
SSH_USER = 'root'

# Vast's own default image (an Ubuntu + CUDA image with SSH set up); a speedrun usually names a
# PyTorch/CUDA image instead.
DEFAULT_IMAGE = 'vastai/base-image:@vastai-automatic-tag'
# SSH with a direct port mapping plus the proxy, as the official SDK writes it ("ssh_direc" is
# Vast's own spelling; the instance then reports image_runtype "ssh ssh_direc ssh_proxy").
RUNTYPE_SSH = 'ssh_direc ssh_proxy'
ONSTART_MAX = 4048
LABEL_MAX = 1024

# actual_status -> normalized status (provider-apis.md §4). ``running`` counts as running only
# once an SSH endpoint is known; anything unknown is still pending.
STATUS_MAP = {
    None: 'pending',
    'created': 'pending',
    'loading': 'pending',
    'rebooting': 'pending',
    'restarting': 'pending',
    'running': 'running',
    'stopped': 'stopped',
    'exited': 'stopped',
    'frozen': 'stopped',
    'unknown': 'failed',
    'offline': 'failed',
}

# While an instance is being provisioned, these mean it will never reach "running": the
# provider's advice is to destroy it and try another offer.
NEVER_RUNS = ('exited', 'unknown', 'offline')
# A container that the runtime could not create (``actual_status`` "created" with this in
# ``status_msg``) never starts (provider-apis.md §4.2): fail at once, not at the timeout.
OCI_FAILURE = 'OCI runtime create failed'
# Seconds to wait for the answer to a create (the official SDK waits 120 s).
CREATE_TIMEOUT = 120

PAGE_SIZE = 25
MAX_PAGES = 2000

OPERATORS = ('eq', 'neq', 'gt', 'gte', 'lt', 'lte', 'in', 'notin')

# Filterable offer fields (vastai SDK ``offers_fields``) and the aliases its CLI rewrites.
OFFER_FIELDS = frozenset((
    'bw_nvlink', 'compute_cap', 'cpu_arch', 'cpu_cores', 'cpu_cores_effective', 'cpu_ghz', 'cpu_ram',
    'cuda_max_good', 'datacenter', 'direct_port_count', 'driver_version', 'disk_bw', 'disk_space', 'dlperf',
    'dlperf_per_dphtotal', 'dph_total', 'duration', 'external', 'flops_per_dphtotal', 'gpu_arch',
    'gpu_display_active', 'gpu_frac', 'gpu_mem_bw', 'gpu_name', 'gpu_ram', 'gpu_total_ram', 'gpu_max_power',
    'gpu_max_temp', 'has_avx', 'host_id', 'id', 'inet_down', 'inet_down_cost', 'inet_up', 'inet_up_cost',
    'machine_id', 'min_bid', 'mobo_name', 'num_gpus', 'pci_gen', 'pcie_bw', 'reliability', 'rentable', 'rented',
    'storage_cost', 'static_ip', 'total_flops', 'ubuntu_version', 'os_version', 'verification', 'verified',
    'vms_enabled', 'geolocation', 'cluster_id',
))
OFFER_ALIASES = {
    'dph': 'dph_total',
    'cuda_vers': 'cuda_max_good',
    'dlperf_usd': 'dlperf_per_dphtotal',
    'flops_usd': 'flops_per_dphtotal',
}
# Offer types: ours -> what is sent (the SDK and CLI send "on-demand"; the spec says "ondemand").
OFFER_TYPES = {
    'on-demand': 'on-demand',
    'ondemand': 'on-demand',
    'bid': 'bid',
    'interruptible': 'bid',
    'reserved': 'reserved',
}

_COUNTRY = re.compile(r'^[A-Z]{2}$')


# --- normalization ----------------------------------------------------------------------------

def _int(value):
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def country_code(geolocation):
    """``"Texas, US"`` -> ``"US"``; None when the text does not end in a two-letter code."""
    if not isinstance(geolocation, str):
        return None
    tail = geolocation.strip().rsplit(',', maxsplit=1)[-1].strip().upper()
    return tail if _COUNTRY.match(tail) else None


def ssh_endpoint(obj):
    """(host, port) where SSH answers, or (None, None) while the instance is not running.

    Direct first: ``public_ipaddr`` + ``ports["22/tcp"][0].HostPort`` (a string); else the proxy
    ``ssh_host``:``ssh_port`` (+1 for Jupyter runtypes, which put Jupyter on the first port).
    """
    if not isinstance(obj, dict) or obj.get('actual_status') != 'running':
        return None, None
    ports = obj.get('ports')
    if isinstance(ports, dict):
        mapping = ports.get('22/tcp')
        if isinstance(mapping, list) and mapping and isinstance(mapping[0], dict):
            host = (obj.get('public_ipaddr') or '').strip()
            port = _int(mapping[0].get('HostPort'))
            if host and port:
                return host, port
    host = (obj.get('ssh_host') or '').strip() if isinstance(obj.get('ssh_host'), str) else ''
    port = _int(obj.get('ssh_port'))
    if host and port:
        if 'jupyter' in str(obj.get('image_runtype') or ''):
            port += 1
        return host, port
    return None, None


def normalize(obj):
    """A Vast.ai instance object -> the collection's normalized instance."""
    actual = obj.get('actual_status')
    status = STATUS_MAP.get(actual, 'pending')
    host, port = ssh_endpoint(obj)
    if status == 'running' and not (host and port):
        status = 'pending'
    return make_instance(
        PROVIDER, obj.get('id'), obj.get('label'), status, actual,
        ssh_host=host, ssh_port=port, ssh_user=SSH_USER if host else None,
        gpu_type=obj.get('gpu_name'), gpu_count=obj.get('num_gpus'),
        price_per_hour=obj.get('dph_total'), region=obj.get('geolocation'), raw=obj,
    )


def provisioning_failure(instance):
    """A message when a provisioning instance reached a state it never leaves for running."""
    if not instance:
        return 'the instance disappeared while provisioning (destroyed, or the host cancelled the rental)'
    status = instance.get('provider_status')
    detail = (instance.get('raw') or {}).get('status_msg') or ''
    if OCI_FAILURE.lower() in str(detail).lower():
        return ('the container runtime could not create the container (actual_status %r, status_msg: %s); it will '
                'never start. Check the image and its arguments' % (status, detail))
    if status in NEVER_RUNS:
        detail = (instance.get('raw') or {}).get('status_msg')
        return ('the instance reached actual_status %r while provisioning%s; Vast.ai instances in that state never '
                'reach "running"' % (status, ' (%s)' % detail if detail else ''))
    return None


def host_failure(instance):
    """A message when the host of an instance is unknown/offline (no heartbeat, disconnected)."""
    if not instance:
        return 'the instance disappeared (destroyed, or the host cancelled the rental)'
    if instance.get('status') == 'failed':
        detail = (instance.get('raw') or {}).get('status_msg')
        return ('the instance has actual_status %r: its host is not reporting%s'
                % (instance.get('provider_status'), ' (%s)' % detail if detail else ''))
    return None


def intended_status(instance):
    return (instance.get('raw') or {}).get('intended_status') if instance else None


# --- offer queries ----------------------------------------------------------------------------

def fix_gpu_name(name):
    """(name to send, warning or None). The REST API names GPUs with spaces ("H100 SXM"); the
    CLI query language writes underscores and converts them, so do the same, out loud."""
    if not isinstance(name, str):
        return name, None
    fixed = ' '.join(name.replace('_', ' ').split())
    if fixed != name:
        return fixed, ('gpu_name %r was sent as %r: the Vast.ai API names GPUs with spaces (underscores are only '
                       'the CLI query syntax)' % (name, fixed))
    return fixed, None


def check_filters(filters, what='filters'):
    """Validate a raw query dict ``{field: {op: value}}``; returns (clean dict, [errors], [warnings])."""
    clean, errors, warnings = {}, [], []
    if filters is None:
        return clean, errors, warnings
    if not isinstance(filters, dict):
        return clean, ['%s must be a dictionary of FIELD: {OPERATOR: VALUE}' % what], warnings
    for field, condition in filters.items():
        name = OFFER_ALIASES.get(field, field)
        if name not in OFFER_FIELDS:
            errors.append('%s: unknown offer field %r (known fields: %s)' % (what, field, ', '.join(sorted(OFFER_FIELDS))))
            continue
        if not isinstance(condition, dict) or not condition:
            errors.append('%s.%s must be a dictionary such as {"gte": 4} (operators: %s)' % (what, field, ', '.join(OPERATORS)))
            continue
        ops = {}
        for op, value in condition.items():
            if op not in OPERATORS:
                errors.append('%s.%s: unknown operator %r (use one of %s)' % (what, field, op, ', '.join(OPERATORS)))
            elif op in ('in', 'notin') and not isinstance(value, list):
                errors.append('%s.%s.%s needs a list' % (what, field, op))
            elif op not in ('in', 'notin') and isinstance(value, (list, dict)):
                errors.append('%s.%s.%s needs a single value, not a %s' % (what, field, op, type(value).__name__))
            else:
                if name == 'gpu_name':
                    if isinstance(value, list):
                        fixed = []
                        for item in value:
                            item, warning = fix_gpu_name(item)
                            fixed.append(item)
                            if warning:
                                warnings.append(warning)
                        value = fixed
                    else:
                        value, warning = fix_gpu_name(value)
                        if warning:
                            warnings.append(warning)
                ops[op] = value
        if ops:
            clean.setdefault(name, {}).update(ops)
    return clean, errors, warnings


def check_offer_criteria(params, counts=('num_gpus', 'disk_gb')):
    """Messages for offer criteria a search could never match (no request is sent): the options
    in ``counts`` must be at least 1; price, reliability and CUDA version must make sense."""
    errors = []
    for option in counts:
        if params[option] is not None and params[option] < 1:
            errors.append('%s must be at least 1 (got %d)' % (option, params[option]))
    if params['max_price_per_hour'] is not None and params['max_price_per_hour'] <= 0:
        errors.append('max_price_per_hour must be positive')
    if params['min_reliability'] is not None and not 0 <= params['min_reliability'] <= 1:
        errors.append('min_reliability must be between 0 and 1 (got %s)' % params['min_reliability'])
    if params['min_cuda_version'] is not None and params['min_cuda_version'] <= 0:
        errors.append('min_cuda_version must be positive, for example 12.8')
    return errors


def check_countries(countries):
    """(upper-cased codes, [errors]) for two-letter ISO country codes."""
    codes, errors = [], []
    for item in countries or []:
        code = str(item).strip().upper()
        if not _COUNTRY.match(code):
            errors.append('countries: %r is not a two-letter country code such as US, CA or DE' % (item,))
        elif code not in codes:
            codes.append(code)
    return codes, errors


def parse_order(items):
    """``["dph_total", "reliability desc"]`` -> ``[["dph_total", "asc"], ["reliability", "desc"]]``."""
    order, errors = [], []
    for item in items or []:
        parts = str(item).split()
        if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1].lower() not in ('asc', 'desc')):
            errors.append('order: %r must be "FIELD", "FIELD asc" or "FIELD desc"' % (item,))
            continue
        field = OFFER_ALIASES.get(parts[0], parts[0])
        if field not in OFFER_FIELDS and field != 'score':
            errors.append('order: unknown offer field %r' % (parts[0],))
            continue
        order.append([field, parts[1].lower() if len(parts) == 2 else 'asc'])
    return order, errors


def build_offer_query(gpu_name=None, num_gpus=None, max_price_per_hour=None, min_reliability=None, disk_gb=None,
                      countries=None, min_cuda_version=None, verified_only=True, offer_id=None, extra_filters=None,
                      order=None, limit=None, offer_type='on-demand'):
    """The JSON body of ``POST /api/v0/bundles/`` (inputs already validated).

    Always rentable and not rented; verified and non-external like the CLI's defaults (unless
    ``verified_only`` is false, or one offer is asked for by id). ``extra_filters`` are merged
    last, operator by operator, so they can refine or override any of these.
    """
    query = {'rentable': {'eq': True}, 'rented': {'eq': False}}
    if offer_id is not None:
        query['id'] = {'eq': int(offer_id)}
    else:
        query['external'] = {'eq': False}
        if verified_only:
            query['verified'] = {'eq': True}
    if gpu_name:
        query['gpu_name'] = {'eq': gpu_name}
    if num_gpus:
        query['num_gpus'] = {'eq': int(num_gpus)}
    if max_price_per_hour is not None:
        query['dph_total'] = {'lte': float(max_price_per_hour)}
    if min_reliability is not None:
        query['reliability'] = {'gte': float(min_reliability)}
    if disk_gb:
        query['disk_space'] = {'gte': float(disk_gb)}
        query['allocated_storage'] = float(disk_gb)
    if countries:
        query['geolocation'] = {'in': list(countries)}
    if min_cuda_version is not None:
        query['cuda_max_good'] = {'gte': float(min_cuda_version)}
    for field, ops in (extra_filters or {}).items():
        query.setdefault(field, {}).update(ops)
    query['order'] = order if order else [['dph_total', 'asc']]
    query['type'] = OFFER_TYPES.get(offer_type or 'on-demand', 'on-demand')
    if limit:
        query['limit'] = int(limit)
    return query


def describe_offer(offer):
    return ('offer %s: %sx %s at $%.4f/h in %s (reliability %s, %s)'
            % (offer.get('id'), offer.get('num_gpus'), offer.get('gpu_name'), float(offer.get('dph_total') or 0),
               offer.get('geolocation') or 'unknown location', offer.get('reliability'),
               offer.get('verification') or ('verified' if offer.get('verified') else 'unverified')))


def offer_taken(error):
    """True when a create failed because the offer is gone or rented (try the next one)."""
    if error.code == 'auth_error':
        return False
    if error.status == 410:
        return True
    text = '%s %s' % (error.code or '', error.message or '')
    return error.status == 404 and 'no_such_ask' in text


def created_despite_error(error):
    """The instance id (``new_contract``) a failed create still returned, or None: Vast.ai can
    answer a create with an error and still have rented the offer; that instance must go."""
    body = error.body if isinstance(error, ApiError) else None
    if isinstance(body, dict):
        return _int(body.get('new_contract'))
    return None


def is_not_found(error):
    """404 that means "no such instance" (not a wrong key answered with 404)."""
    return error.status == 404 and error.code not in ('auth_error', 'invalid_token')


# --- SSH keys ---------------------------------------------------------------------------------

def key_text(obj):
    """The public key text of a key object: ``key`` (list), then ``public_key`` (create), then ``ssh_key``."""
    if not isinstance(obj, dict):
        return None
    for field in ('key', 'public_key', 'ssh_key'):
        value = obj.get(field)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def normalize_key(obj):
    return dict(id=obj.get('id'), public_key=key_text(obj), created_at=obj.get('created_at'))


# --- the API ----------------------------------------------------------------------------------

class VastApi(object):
    """Vast.ai calls used by the modules and the inventory plugin."""

    def __init__(self, client):
        self.client = client

    def _unexpected(self, method, path, body, expected):
        shown = json.dumps(body)[:200] if not isinstance(body, str) else body[:200]
        return ApiError(PROVIDER, method, path, status=200, code='unexpected_response',
                        message='expected %s, got %s' % (expected, shown),
                        suggestion='The API answered something this collection does not understand; nothing was '
                                   'assumed from it (an instance list that is not a list is never read as "no instances")')

    # instances ----------------------------------------------------------------------------
    def list_instances(self, select_filters=None):
        """Every instance of the account: ``GET /api/v1/instances/`` page by page (one list call)."""
        path = '/api/v1/instances/'
        params = {
            'limit': PAGE_SIZE,
            'order_by': json.dumps([{'col': 'id', 'dir': 'asc'}]),
            'select_cols': json.dumps(['*']),
        }
        if select_filters:
            params['select_filters'] = json.dumps(select_filters)
        instances, seen_tokens = [], set()
        for _page in range(MAX_PAGES):
            body = self.client.get(path, params=params, buckets=['instance_list'])
            if not isinstance(body, dict) or not isinstance(body.get('instances'), list):
                raise self._unexpected('GET', path, body, 'an object with an "instances" list')
            instances.extend(i for i in body['instances'] if isinstance(i, dict))
            token = body.get('next_token')
            if not token:
                return [normalize(i) for i in instances]
            if not isinstance(token, str) or token in seen_tokens:
                raise self._unexpected('GET', path, body, 'a new string next_token or null')
            seen_tokens.add(token)
            params = dict(params, after_token=token)
        raise ApiError(PROVIDER, 'GET', path, code='too_many_pages',
                       message='more than %d pages of instances; stopped following next_token' % MAX_PAGES)

    def poll_instance(self, instance_id):
        """One instance through the (current, v1) list filtered by id, or None when it is gone.

        Used by wait loops: the list endpoint allows a call a second where reading one instance
        (GET /api/v0/instances/{id}/) allows one every two seconds.
        """
        found = [i for i in self.list_instances(select_filters={'id': {'eq': int(instance_id)}})
                 if i['id'] == str(int(instance_id))]
        return found[0] if found else None

    def find_by_name(self, name):
        """Instances labelled ``name`` (exact match; the server filter is re-checked here)."""
        return [i for i in self.list_instances(select_filters={'label': {'eq': name}}) if i['name'] == name]

    def get_instance(self, instance_id):
        """One instance, or None when it is gone (``{"instances": null}`` or 404 not_found)."""
        path = '/api/v0/instances/%s/' % int(instance_id)
        try:
            body = self.client.get(path, params={'owner': 'me'}, buckets=['instance_get'])
        except ApiError as err:
            if is_not_found(err):
                return None
            raise
        if not isinstance(body, dict) or 'instances' not in body:
            raise self._unexpected('GET', path, body, 'an object with an "instances" key')
        obj = body['instances']
        if obj is None or obj == []:
            return None
        if isinstance(obj, list) and len(obj) == 1 and isinstance(obj[0], dict):
            obj = obj[0]
        if not isinstance(obj, dict):
            raise self._unexpected('GET', path, body, 'an instance object or null under "instances"')
        return normalize(obj)

    def create_instance(self, offer_id, image, label, disk_gb, env=None, onstart=None, runtype=RUNTYPE_SSH):
        """Rent offer ``offer_id``; returns the new instance id (``new_contract``)."""
        path = '/api/v0/asks/%s/' % int(offer_id)
        body = dict(client_id='me', image=image, label=label, disk=float(disk_gb), runtype=runtype)
        if env:
            body['env'] = dict((str(k), str(v)) for k, v in env.items())
        if onstart:
            body['onstart'] = onstart
        # A create is not repeated on 5xx/timeouts (the caller looks the label up first); a 429
        # is answered before anything happens, so the client may retry it.
        result = self.client.put(path, json_body=body, idempotent=False, timeout=CREATE_TIMEOUT, buckets=['create'])
        new_id = result.get('new_contract') if isinstance(result, dict) else None
        if _int(new_id) is None:
            err = self._unexpected('PUT', path, result, 'an object with "new_contract"')
            err.ambiguous = True  # accepted, but which instance? Look the label up.
            raise err
        return int(new_id)

    def set_state(self, instance_id, state):
        """``state`` is ``stopped`` or ``running``."""
        self.client.put('/api/v0/instances/%s/' % int(instance_id), json_body={'state': state}, buckets=['instance_put'])

    def destroy_instance(self, instance_id):
        """True when destroyed now, False when it was already gone (404 not_found at the first try;
        after a retry a 404 means the earlier try destroyed it)."""
        try:
            self.client.delete('/api/v0/instances/%s/' % int(instance_id), json_body={}, buckets=['instance_delete'])
        except ApiError as err:
            if is_not_found(err):
                return err.tries > 1
            raise
        return True

    # offers -------------------------------------------------------------------------------
    def search_offers(self, query):
        """``POST /api/v0/bundles/``: a read, safe to repeat on 5xx."""
        path = '/api/v0/bundles/'
        try:
            body = self.client.post(path, json_body=query, idempotent=True)
        except ApiError as err:
            if err.code == 'search_quota_exceeded':
                err.suggestion = ('The daily Vast.ai search quota is used up (it resets at midnight UTC). Pass offer_id '
                                  'to rent a known offer, or try again later')
            raise
        offers = body.get('offers') if isinstance(body, dict) else None
        if isinstance(offers, dict):  # a single offer is returned as an object
            offers = [offers]
        if not isinstance(offers, list):
            raise self._unexpected('POST', path, body, 'an object with an "offers" list')
        return [o for o in offers if isinstance(o, dict)]

    # SSH keys -----------------------------------------------------------------------------
    def list_ssh_keys(self):
        """The account's keys (``GET /api/v0/ssh/`` answers a bare array)."""
        path = '/api/v0/ssh/'
        body = self.client.get(path)
        if isinstance(body, dict) and isinstance(body.get('keys'), list):
            body = body['keys']
        if not isinstance(body, list):
            raise self._unexpected('GET', path, body, 'a list of SSH keys')
        return [normalize_key(k) for k in body if isinstance(k, dict) and not k.get('deleted_at')]

    def add_ssh_key(self, public_key):
        """Register a key on the account; Vast adds it to every current instance too."""
        path = '/api/v0/ssh/'
        body = self.client.post(path, json_body={'ssh_key': public_key}, buckets=['ssh_add'])
        key = body.get('key') if isinstance(body, dict) else None
        if not isinstance(key, dict):
            raise self._unexpected('POST', path, body, 'an object with the created "key"')
        result = normalize_key(key)
        result['public_key'] = result['public_key'] or public_key
        return result

    def delete_ssh_key(self, key_id):
        """True when removed, False when the key was already gone (400/404 ``no_ssh_key``)."""
        try:
            self.client.delete('/api/v0/ssh/%s/' % int(key_id))
        except ApiError as err:
            if err.status in (400, 404) and err.code in ('no_ssh_key', 'not_found'):
                return False
            raise
        return True

    def instance_ssh_keys(self, instance_id):
        """Public key texts attached to one instance (``ssh_keys`` is a JSON string of objects)."""
        path = '/api/v0/instances/%s/ssh/' % int(instance_id)
        body = self.client.get(path)
        keys = body.get('ssh_keys') if isinstance(body, dict) else body
        if isinstance(keys, str):
            try:
                keys = json.loads(keys) if keys.strip() else []
            except ValueError:
                raise self._unexpected('GET', path, body, '"ssh_keys" holding a JSON list')
        if keys is None:
            keys = []
        if not isinstance(keys, list):
            raise self._unexpected('GET', path, body, 'a list of SSH keys')
        return [key_text(k) if isinstance(k, dict) else k for k in keys if isinstance(k, (dict, str))]

    def attach_ssh_key(self, instance_id, public_key):
        self.client.post('/api/v0/instances/%s/ssh/' % int(instance_id), json_body={'ssh_key': public_key})

    # idempotent helpers shared by the modules ---------------------------------------------
    def find_account_keys(self, public_key, keys=None):
        keys = self.list_ssh_keys() if keys is None else keys
        return [k for k in keys if same_public_key(k['public_key'], public_key)]

    def ensure_account_key(self, public_key, check_mode=False):
        """(changed, key) after making sure ``public_key`` is registered on the account."""
        found = self.find_account_keys(public_key)
        if found:
            return False, found[0]
        if check_mode:
            return True, dict(id=None, public_key=public_key.strip(), created_at=None)
        return True, self.add_ssh_key(public_key.strip())

    def ensure_instance_key(self, instance_id, public_key, check_mode=False):
        """True when ``public_key`` had to be attached to the instance (or would be, in check mode)."""
        if any(same_public_key(k, public_key) for k in self.instance_ssh_keys(instance_id) if k):
            return False
        if not check_mode:
            self.attach_ssh_key(instance_id, public_key.strip())
        return True
