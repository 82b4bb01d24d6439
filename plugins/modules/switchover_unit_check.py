#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: switchover_unit_check
short_description: Check that a source and a destination are the endpoints of their DTS task
version_added: 1.1.0
description:
  - Before a switchover changes anything, checks the migration unit against its DTS task
    (DescribeDtsJobDetail), so that a wrong variable cannot fence, prove or switch the wrong database.
  - The engines of O(source) and O(destination) against the task's C(SourceEndpoint) and
    C(DestinationEndpoint) C(EngineName) (DTS's names, without regard to case).
  - Where the endpoint has C(Ip)/C(Port) (self-managed databases), the host (both names resolved to
    addresses; any loopback address matches any other) and the port. Where the connection has
    O(source.instance_id), that against the endpoint's C(InstanceID) (RDS, PolarDB, ApsaraDB).
  - That O(source) and O(destination) are two servers, from each server's own identity (MySQL
    C(@@server_uuid), MariaDB C(@@hostname:@@port:@@datadir), PostgreSQL C(system_identifier) and port,
    Redis C(run_id), SQL Server C(@@SERVERNAME), Oracle DBID, MongoDB replica set id). Two databases
    of one server are allowed (reported as such); the same server and the same database fail.
  - A mismatch fails, naming both sides and the option to fix. What DTS does not describe (an
    endpoint without address nor instance ID given) is returned as V(unchecked) with the reason.
  - The engines and addresses are checked before connecting; only when they match does the module
    connect to both databases.
options:
  job_id:
    description:
      - The forward DTS task (C(DtsJobId)).
    type: str
    required: true
  labels:
    description:
      - How messages name the options, for a caller that passes them from variables (the
        C(dtsops.switchover.switchover) role names C(switchover_job_id), C(switchover_source) and
        C(switchover_destination)).
    type: dict
    default: {}
    suboptions:
      job_id:
        description: The name of O(job_id).
        type: str
        default: job_id
      source:
        description: The name of O(source).
        type: str
        default: source
      destination:
        description: The name of O(destination).
        type: str
        default: destination
extends_documentation_fragment:
  - dtsops.switchover.dts
  - dtsops.switchover.db.pair
  - dtsops.switchover.attributes
  - dtsops.switchover.attributes.action_group_dts
  - dtsops.switchover.attributes.info_module
notes:
  - "RAM permission: C(dts:DescribeDtsJobDetail)."
  - "Privileges on each database, to read its identity: none on MySQL, MariaDB, SQL Server and Redis
    (C(INFO)); on PostgreSQL, C(EXECUTE) on C(pg_control_system()) (any role by default); on Oracle,
    C(SELECT) on C(v$database) (for example C(SELECT_CATALOG_ROLE)); on MongoDB, the
    C(clusterMonitor) role (C(replSetGetConfig), or C(serverStatus) on a standalone server)."
  - The DTS engine names mapped are C(MySQL), C(MariaDB), C(PolarDB) and C(DRDS) (engine V(mysql));
    C(PostgreSQL), C(polardb_pg) and C(polardb_o) (V(postgresql), and V(oracle) for C(polardb_o));
    C(oracle); C(MSSQL) (V(sqlserver)); C(Redis); C(mongodb). C(MariaDB) is an assumption (the DTS
    documentation lists no engine name for RDS for MariaDB).
  - A database reached through a tunnel or a proxy has another address than the one DTS uses; give
    O(source.instance_id) where DTS knows one, or expect an address mismatch.
seealso:
  - module: dtsops.switchover.dts_task_info
  - module: dtsops.switchover.db_caught_up
author:
  - dtsops.switchover maintainers (@dtsops)
'''

EXAMPLES = r'''
- name: Check the unit before the switchover
  dtsops.switchover.switchover_unit_check:
    job_id: "{{ dts_job_id }}"
    source:
      engine: mysql
      login_host: 10.0.0.5
      login_user: admin
      login_password: "{{ source_password }}"
      login_db: shop
    destination:
      engine: mysql
      login_host: rm-bp1imrtn6fq7h.mysql.rds.aliyuncs.com
      login_user: admin
      login_password: "{{ destination_password }}"
      login_db: shop
      instance_id: rm-bp1imrtn6fq7h
  register: unit

- name: Show what could not be checked
  ansible.builtin.debug:
    msg: "{{ unit.checks | selectattr('status', 'eq', 'unchecked') | map(attribute='detail') | list }}"
'''

RETURN = r'''
checks:
  description: Each check, in order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description:
        - V(source_engine), V(destination_engine), V(source_address), V(destination_address),
          V(source_instance), V(destination_instance) or V(distinct_servers).
      type: str
    status:
      description: V(ok), V(mismatch) or V(unchecked).
      type: str
    detail:
      description: What was compared, or why it could not be.
      type: str
  sample:
    - {name: source_engine, status: ok, detail: source.engine mysql serves MySQL (SourceEndpoint.EngineName).}
    - {name: destination_address, status: unchecked, detail: "DTS task l3m1213ye7l's destination describes it by InstanceID ..."}
unchecked:
  description: The details of the checks that could not be made.
  returned: always
  type: list
  elements: str
summary:
  description: One line for a plan, naming every unchecked endpoint.
  returned: always
  type: str
job:
  description: The task, as M(dtsops.switchover.dts_task_info) returns each of its RV(dtsops.switchover.dts_task_info#module:jobs).
  returned: when the task exists
  type: dict
identities:
  description: The identity of each server (C(engine), C(flavour), C(server), C(read_from), C(database), C(address)).
  returned: when the module connected to both databases
  type: dict
  contains:
    source:
      description: The identity of the source server.
      type: dict
    destination:
      description: The identity of the destination server.
      type: dict
statements:
  description: The statements run on the source.
  returned: always
  type: list
  elements: str
destination_statements:
  description: The statements run on the destination.
  returned: always
  type: list
  elements: str
api_calls:
  description: The DTS API actions called.
  returned: always
  type: list
  elements: str
'''

from ansible_collections.dtsops.switchover.plugins.module_utils.module_base import DbDtsModule
from ansible_collections.dtsops.switchover.plugins.module_utils.unit_check import UNIT_CHECK_SPEC, unit_check


def main():
    DbDtsModule(argument_spec=UNIT_CHECK_SPEC).run(unit_check)


if __name__ == '__main__':
    main()
