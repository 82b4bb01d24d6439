# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):

    # Credentials and endpoint of the DTS API (modules in the dts action group).
    DOCUMENTATION = r'''
options:
  access_key_id:
    description:
      - AccessKey ID of the Alibaba Cloud account or RAM user that manages the DTS tasks.
      - If not set, the environment variable E(ALIBABA_CLOUD_ACCESS_KEY_ID) is used, then
        E(ALICLOUD_ACCESS_KEY) and E(ALICLOUD_ACCESS_KEY_ID) (the names alibaba.alicloud uses).
      - Error messages name the source that was used and show the ID masked.
    type: str
  access_key_secret:
    description:
      - AccessKey secret of O(access_key_id).
      - If not set, the environment variable E(ALIBABA_CLOUD_ACCESS_KEY_SECRET) is used, then
        E(ALICLOUD_SECRET_KEY) and E(ALICLOUD_SECRET_ACCESS_KEY).
    type: str
  security_token:
    description:
      - STS security token, when O(access_key_id) and O(access_key_secret) are a temporary key pair.
      - If not set, the environment variable E(ALIBABA_CLOUD_SECURITY_TOKEN) is used, then
        E(ALICLOUD_SECURITY_TOKEN).
    type: str
  region:
    description:
      - Region of the DTS tasks, for example V(cn-hangzhou).
      - If not set, the environment variable E(ALIBABA_CLOUD_REGION_ID) is used, then
        E(ALICLOUD_REGION) and E(ALICLOUD_REGION_ID).
    type: str
  endpoint:
    description:
      - Host name and optional port of the DTS API, for example V(dts-vpc.cn-hangzhou.aliyuncs.com).
      - By default the SDK picks the endpoint of O(region).
      - A V(http://) or V(https://) prefix sets O(protocol).
    type: str
  protocol:
    description:
      - Protocol of the DTS API.
      - Defaults to V(https), or to the scheme given in O(endpoint).
    type: str
    choices: [http, https]
  api_timeout:
    description:
      - Seconds to wait for the answer to one API request.
    type: int
    default: 10
  api_retry_timeout:
    description:
      - How long, in seconds, one API call keeps retrying when DTS throttles it, answers with a
        server error, or cannot be reached. Retries back off exponentially with jitter and honour
        the wait DTS asks for.
      - V(0) disables retries. Waiting modules also stop retrying at the end of their C(timeout).
      - Other errors are never retried, and a call that changes something is not repeated after
        a failure that leaves its effect unknown (a timeout, a dropped connection, a server error);
        the module looks at the task first.
    type: int
    default: 60
notes:
  - The keys are passed to the SDK explicitly; the SDK's own credential chain (profiles, ECS RAM
    role) is not used.
  - Every module returns C(api_calls), the DTS actions it called, so a RAM policy can grant
    exactly those (C(dts:<action>)).
requirements:
  - alibabacloud-dts20200101 (the Alibaba Cloud DTS SDK for Python) on the host that runs the module.
'''
