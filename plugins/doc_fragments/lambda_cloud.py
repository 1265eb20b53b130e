# -*- coding: utf-8 -*-
# Copyright: (c) 2026, nanochat.remote_gpu contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):

    # Common options of every Lambda Cloud module.
    DOCUMENTATION = r"""
options:
  api_key:
    description:
      - Lambda Cloud API key.
      - Read from the environment variable E(LAMBDA_API_KEY) when not given. Keep it in an
        environment variable or Ansible Vault; it is never logged or returned.
      - The module fails before sending anything when no key is found.
    type: str
  api_url:
    description:
      - Root URL of the Lambda Cloud API (the host root; the module appends the API's own paths such as
        C(/api/v1/instances)).
      - Read from the environment variable E(LAMBDA_API_URL) when not given. Point it at a proxy or a
        local fake of the API for tests.
    type: str
    default: https://cloud.lambda.ai
requirements:
  - requests >= 2.28
notes:
  - >-
    The module talks to the Lambda Cloud API from the machine it runs on; use it with
    C(delegate_to: localhost) or in a play on C(localhost).
  - Requests that fail with HTTP 429, 502, 503 or 504 or a connection error are retried with
    capped, jittered exponential backoff, honouring C(Retry-After). A request that creates
    something is not repeated blindly; the module looks the resource up by name first.
"""

    # The same options for plugins (inventory), with their environment variables.
    PLUGINS = r"""
options:
  lambda_api_key:
    description:
      - Lambda Cloud API key. Required when C(lambda) is in O(providers).
    type: str
    env:
      - name: LAMBDA_API_KEY
  lambda_api_url:
    description:
      - Root URL of the Lambda Cloud API (host root).
    type: str
    default: https://cloud.lambda.ai
    env:
      - name: LAMBDA_API_URL
"""
