#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vastai_offer_info
short_description: Search the Vast.ai marketplace for rentable GPU offers
version_added: 0.1.0
author: nanochat.remote_gpu contributors (@nanochat-remote-gpu)
description:
  - Searches Vast.ai's offers (C(POST /api/v0/bundles/)) with Vast.ai's own query language and returns them, cheapest
    first unless O(order) says otherwise.
  - The convenience options (O(gpu_name), O(num_gpus), O(max_price_per_hour), ...) build the same query as
    M(nanochat.remote_gpu.vastai_instance) does before renting, so this module shows what that module would rent.
    O(filters) adds any other condition with the real operators (C(eq), C(neq), C(gt), C(gte), C(lt), C(lte),
    C(in), C(notin)).
  - O(query) applies a JMESPath expression to the offers afterwards, to sort, filter or reshape them locally.
options:
  gpu_name:
    description:
      - GPU model as Vast.ai names it, with spaces, for example V(H100 SXM), V(H100 PCIE), V(H200) or V(RTX 4090).
        Underscores (the CLI syntax) are replaced by spaces, with a warning.
    type: str
  num_gpus:
    description: Number of GPUs of the offer (exact match).
    type: int
  max_price_per_hour:
    description: Highest total price in USD per hour (C(dph_total), GPUs plus storage at O(disk_gb)).
    type: float
  min_reliability:
    description: Lowest host reliability score, between 0 and 1.
    type: float
  min_cuda_version:
    description: Lowest CUDA version the host's driver supports (C(cuda_max_good)), for example V(12.8).
    type: float
  countries:
    description: Two-letter country codes the host may be in, for example V([US, CA]).
    type: list
    elements: str
  disk_gb:
    description:
      - Disk the instance would get, in GB. Only offers with at least this much free disk are returned, and prices
        include storage of this size (C(allocated_storage)).
    type: int
  verified_only:
    description: Only offers from verified hosts, as the Vast.ai CLI does by default.
    type: bool
    default: true
  include_unavailable:
    description:
      - Also return offers that are rented or not rentable (the search normally asks for C(rentable=true) and
        C(rented=false)) and external ones.
    type: bool
    default: false
  filters:
    description:
      - >-
        More conditions in Vast.ai's query language, merged over the ones built from the options above, for
        example C({inet_down: {gte: 1000}, cpu_ram: {gte: 512000}, geolocation: {notin: [CN]}}).
      - Keys are offer fields (C(reliability), C(dph_total), C(gpu_ram), C(cpu_ram), C(inet_down), C(disk_bw),
        C(dlperf), C(datacenter), C(static_ip), ...); values map operators to values; C(in) and C(notin) take
        lists. RAM is in MB. Unknown fields or operators fail before any request.
    type: dict
  order:
    description:
      - Sort order sent to Vast.ai, as a list of C(FIELD), C(FIELD asc) or C(FIELD desc), for example
        V([reliability desc, dph_total]).
    type: list
    elements: str
    default: [dph_total]
  limit:
    description: Largest number of offers Vast.ai returns.
    type: int
    default: 20
  type:
    description:
      - Pricing of the offers. V(on-demand) (fixed price), V(bid) (interruptible, priced at the minimum bid) or
        V(reserved). V(ondemand) and V(interruptible) are accepted as aliases.
    type: str
    default: on-demand
    choices: [on-demand, ondemand, bid, interruptible, reserved]
  query:
    description:
      - >-
        A JMESPath expression applied to the list of offers after the search, to filter, sort or reshape them
        locally, for example C([].{id: id, price: dph_total}); see the examples.
      - A result that is not a list is returned as a list of one element (none when the result is null).
      - Needs the Python library C(jmespath) on the machine running the module.
    type: str
requirements:
  - jmespath (only for O(query))
extends_documentation_fragment:
  - nanochat.remote_gpu.vastai
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module only reads (the search is a POST that changes nothing).
  diff_mode:
    support: none
  platform:
    support: full
    platforms: all
notes:
  - Offer searches count against a daily Vast.ai search quota; when it is used up (HTTP 429
    C(search_quota_exceeded)) the module fails at once with Vast.ai's message instead of waiting hours.
seealso:
  - module: nanochat.remote_gpu.vastai_instance
"""

EXAMPLES = r"""
- name: The five cheapest verified 8x H100 SXM offers in North America
  nanochat.remote_gpu.vastai_offer_info:
    gpu_name: H100 SXM
    num_gpus: 8
    countries: [US, CA]
    min_reliability: 0.98
    disk_gb: 200
    limit: 5
  delegate_to: localhost
  register: h100

- name: Rent the cheapest of them
  nanochat.remote_gpu.vastai_instance:
    name: nanochat-speedrun
    offer_id: "{{ h100.offers[0].id }}"
    disk_gb: 200
  delegate_to: localhost
  when: h100.offers | length > 0

- name: Fast-network offers with a compact view, most reliable first
  nanochat.remote_gpu.vastai_offer_info:
    gpu_name: H100 SXM
    num_gpus: 8
    filters:
      inet_down: {gte: 2000}
      geolocation: {notin: [CN]}
    order: [reliability desc, dph_total]
    query: "[].{id: id, price: dph_total, where: geolocation, reliability: reliability}"
  delegate_to: localhost
  register: fast

- name: Filter and sort locally with JMESPath, keeping the three cheapest very reliable offers
  nanochat.remote_gpu.vastai_offer_info:
    gpu_name: H100 SXM
    num_gpus: 8
    limit: 50
    query: "sort_by([?reliability > `0.99`], &dph_total)[:3]"
  delegate_to: localhost
  register: best
"""

RETURN = r"""
offers:
  description:
    - The offers as Vast.ai returns them (or the result of O(query)). Some of the fields are listed here; every
      offer has many more (C(cpu_ram) in MB, C(inet_down), C(disk_bw), C(dlperf), C(machine_id), C(host_id), ...).
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description: Offer id; pass it to M(nanochat.remote_gpu.vastai_instance) as O(nanochat.remote_gpu.vastai_instance#module:offer_id).
      type: int
      sample: 2001
    gpu_name:
      description: GPU model.
      type: str
      sample: H100 SXM
    num_gpus:
      description: Number of GPUs.
      type: int
      sample: 8
    dph_total:
      description: Total price in USD per hour, GPUs plus storage at O(disk_gb).
      type: float
      sample: 15.2208
    reliability:
      description: Host reliability score (0 to 1).
      type: float
      sample: 0.995
    verification:
      description: Host verification (C(verified), C(unverified), C(deverified)).
      type: str
      sample: verified
    geolocation:
      description: Host location, ending in a two-letter country code.
      type: str
      sample: Texas, US
    disk_space:
      description: Free disk on the host in GB.
      type: float
      sample: 2000.0
    cuda_max_good:
      description: Highest CUDA version the host's driver supports.
      type: float
      sample: 12.8
"""

import traceback

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.nanochat.remote_gpu.plugins.module_utils._common import ApiError, ProviderModule
from ansible_collections.nanochat.remote_gpu.plugins.module_utils._vastai import (
    PROVIDER,
    VastApi,
    build_offer_query,
    check_countries,
    check_filters,
    check_offer_criteria,
    fix_gpu_name,
    parse_order,
)

try:
    import jmespath
    HAS_JMESPATH = True
    JMESPATH_IMPORT_ERROR = None
except ImportError:
    jmespath = None
    HAS_JMESPATH = False
    JMESPATH_IMPORT_ERROR = traceback.format_exc()


def main():
    argument_spec = dict(
        gpu_name=dict(type='str'),
        num_gpus=dict(type='int'),
        max_price_per_hour=dict(type='float'),
        min_reliability=dict(type='float'),
        min_cuda_version=dict(type='float'),
        countries=dict(type='list', elements='str'),
        disk_gb=dict(type='int'),
        verified_only=dict(type='bool', default=True),
        include_unavailable=dict(type='bool', default=False),
        filters=dict(type='dict'),
        order=dict(type='list', elements='str', default=['dph_total']),
        limit=dict(type='int', default=20),
        type=dict(type='str', default='on-demand', choices=['on-demand', 'ondemand', 'bid', 'interruptible', 'reserved']),
        query=dict(type='str'),
    )
    module = ProviderModule(PROVIDER, argument_spec, supports_check_mode=True)
    p = module.params

    if p['query'] is not None and not HAS_JMESPATH:
        module.module.fail_json(msg=missing_required_lib('jmespath'), exception=JMESPATH_IMPORT_ERROR)

    errors = []
    gpu_name = None
    if p['gpu_name'] is not None:
        gpu_name, warning = fix_gpu_name(p['gpu_name'])
        if warning:
            module.module.warn(warning)
        if not gpu_name:
            errors.append('gpu_name must not be empty')
    errors.extend(check_offer_criteria(p, counts=('num_gpus', 'disk_gb', 'limit')))
    countries, problems = check_countries(p['countries'])
    errors.extend(problems)
    filters, problems, warnings = check_filters(p['filters'])
    errors.extend(problems)
    for warning in warnings:
        module.module.warn(warning)
    order, problems = parse_order(p['order'])
    errors.extend(problems)
    compiled = None
    if p['query'] is not None:
        try:
            compiled = jmespath.compile(p['query'])
        except jmespath.exceptions.JMESPathError as exc:
            errors.append('query is not a valid JMESPath expression: %s' % exc)
    if errors:
        module.fail('Invalid options: %s. Nothing was sent to Vast.ai.' % '; '.join(errors))

    query = build_offer_query(gpu_name=gpu_name, num_gpus=p['num_gpus'], max_price_per_hour=p['max_price_per_hour'],
                              min_reliability=p['min_reliability'], disk_gb=p['disk_gb'], countries=countries,
                              min_cuda_version=p['min_cuda_version'], verified_only=p['verified_only'],
                              extra_filters=filters, order=order, limit=p['limit'], offer_type=p['type'])
    if p['include_unavailable']:
        for field in ('rentable', 'rented', 'external'):
            if field not in filters:
                query.pop(field, None)
    offers = []
    try:
        offers = VastApi(module.client).search_offers(query)
    except ApiError as err:
        module.fail_api(err, doing='search Vast.ai offers')

    if compiled is not None:
        result = None
        try:
            result = compiled.search(offers)
        except jmespath.exceptions.JMESPathError as exc:
            module.fail('query %r failed on the offers: %s' % (p['query'], exc))
        offers = [] if result is None else (result if isinstance(result, list) else [result])
    module.exit(False, offers=offers)


if __name__ == '__main__':
    main()
