# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cross-check of a migration unit (source, destination, DTS task) before anything changes:
the engines and locations of both databases against the task's endpoints, and that source and
destination are two servers, or two databases of one server.

Each check is a dict ``{'name', 'status', 'detail'}``; status is ``ok``, ``mismatch`` or
``unchecked`` (DTS does not describe enough to check; the detail says why). A mismatch's detail
names both sides and the variable to fix. ``labels`` names the variables in messages:
``{'job_id': ..., 'source': ..., 'destination': ...}`` (the module's options, or the role's variables).
"""

from __future__ import annotations

import ipaddress
import socket

from ansible_collections.dtsops.switchover.plugins.module_utils.db import ENGINE_NAMES, engine_class
from ansible_collections.dtsops.switchover.plugins.module_utils.dts import DtsError

OK, MISMATCH, UNCHECKED = 'ok', 'mismatch', 'unchecked'
SIDES = (('source', 'SourceEndpoint'), ('destination', 'DestinationEndpoint'))

# DTS EngineName (compared in lower case) -> the engines of this collection that reach it. The
# names are those of CreateDtsInstance/ConfigureDtsJob (Source/DestinationEndpointEngineName):
# PolarDB is PolarDB for MySQL, DRDS is PolarDB-X (MySQL protocol), polardb_o is PolarDB for
# PostgreSQL (compatible with Oracle), reached with the PostgreSQL protocol. The docs name no
# engine for MariaDB (RDS for MariaDB is an RDS InstanceType): 'mariadb' is an assumption.
DTS_ENGINES = {
    'mysql': ('mysql',),
    'mariadb': ('mysql',),
    'polardb': ('mysql',),
    'drds': ('mysql',),
    'postgresql': ('postgresql',),
    'polardb_pg': ('postgresql',),
    'polardb_o': ('postgresql', 'oracle'),
    'oracle': ('oracle',),
    'mssql': ('sqlserver',),
    'redis': ('redis',),
    'mongodb': ('mongodb',),
}
# Engine names DTS documents that no engine of this collection serves.
FOREIGN_ENGINES = frozenset(['odps', 'tidb', 'ads', 'adb30', 'greenplum', 'kafka', 'datahub', 'clickhouse', 'db2', 'as400',
                             'tablestore'])
DEFAULT_LABELS = {'job_id': 'job_id', 'source': 'source', 'destination': 'destination'}


def check(name, status, detail):
    return {'name': name, 'status': status, 'detail': detail}


class UnitCheck(object):
    """The checks of one unit. ``job`` is the task (dts.Job); ``source``/``destination`` are the
    connection dicts (engine, login_host, login_port, instance_id...); ``default_ports`` maps an
    engine to its port; ``resolve(host)`` returns the set of addresses of a host name (None when
    it cannot be resolved)."""

    def __init__(self, job, region, source, destination, default_ports, labels=None, resolve=None):
        self.job = job
        self.region = region
        self.params = {'source': dict(source), 'destination': dict(destination)}
        self.default_ports = default_ports
        self.labels = dict(DEFAULT_LABELS, **dict((k, v) for k, v in (labels or {}).items() if v))
        self.resolve = resolve or resolve_host

    def endpoint(self, side):
        return self.job.source if side == 'source' else self.job.destination

    def _task(self, side, key, field):
        return "DTS task %s's %s (%s.%s)" % (self.job.job_id, side, key, field)

    def _or_job(self):
        return 'or check %s' % self.labels['job_id']

    # -- before connecting ----------------------------------------------------------------------
    def static_checks(self):
        """Engines and locations of both sides: what needs no connection."""
        checks = []
        for side, key in SIDES:
            checks.append(self.engine_check(side, key))
            checks.extend(self.location_checks(side, key))
        return checks

    def engine_check(self, side, key):
        name = '%s_engine' % side
        label = self.labels[side]
        engine = self.params[side].get('engine')
        dts_name = self.endpoint(side).engine_name
        if not dts_name:
            return check(name, UNCHECKED, '%s names no engine: %s.engine (%s) is not checked.'
                         % (self._task(side, key, 'EngineName'), label, engine))
        ours = DTS_ENGINES.get(dts_name.lower())
        if ours is None:
            if dts_name.lower() in FOREIGN_ENGINES:
                return check(name, MISMATCH, '%s is %s, which no engine of this collection serves: check %s.'
                             % (self._task(side, key, 'EngineName'), dts_name, self.labels['job_id']))
            return check(name, UNCHECKED, '%s is %s, an engine name this module does not know: %s.engine (%s) is not checked.'
                         % (self._task(side, key, 'EngineName'), dts_name, label, engine))
        if engine in ours:
            return check(name, OK, '%s.engine %s serves %s (%s.EngineName).' % (label, engine, dts_name, key))
        return check(name, MISMATCH, '%s.engine is %s, but %s is %s: set %s.engine to %s, %s.'
                     % (label, engine, self._task(side, key, 'EngineName'), dts_name, label, ' or '.join(ours), self._or_job()))

    def location_checks(self, side, key):
        """The instance id when the user gives one, the address where DTS gives one; unchecked
        when neither can be compared."""
        endpoint = self.endpoint(side)
        label = self.labels[side]
        instance_id = (self.params[side].get('instance_id') or '').strip()
        checks = []
        if instance_id:
            checks.append(self.instance_check(side, key, instance_id))
        if endpoint.ip:
            checks.append(self.address_check(side, key))
        if not checks:
            if endpoint.instance_id:
                reason = ('describes it by InstanceID %s (InstanceType %s) without Ip/Port: set %s.instance_id to check it'
                          % (endpoint.instance_id, endpoint.instance_type or 'unknown', label))
            else:
                reason = 'describes neither Ip/Port nor InstanceID'
            checks.append(check('%s_address' % side, UNCHECKED, "DTS task %s's %s %s; %s is not checked against it."
                                % (self.job.job_id, side, reason, label)))
        return checks

    def instance_check(self, side, key, instance_id):
        name = '%s_instance' % side
        label = self.labels[side]
        endpoint = self.endpoint(side)
        if not endpoint.instance_id:
            return check(name, UNCHECKED, '%s is empty (InstanceType %s): %s.instance_id %s is not checked.'
                         % (self._task(side, key, 'InstanceID'), endpoint.instance_type or 'unknown', label, instance_id))
        if endpoint.instance_id.lower() == instance_id.lower():
            return check(name, OK, '%s.instance_id %s is the one of %s.InstanceID.' % (label, instance_id, key))
        return check(name, MISMATCH, '%s.instance_id is %s, but %s is %s: point %s at that instance (instance_id and its connection), %s.'
                     % (label, instance_id, self._task(side, key, 'InstanceID'), endpoint.instance_id, label, self._or_job()))

    def address_check(self, side, key):
        name = '%s_address' % side
        label = self.labels[side]
        params = self.params[side]
        endpoint = self.endpoint(side)
        host = params.get('login_host') or 'localhost'
        port = str(params.get('login_port') or self.default_ports.get(params.get('engine')) or '')
        theirs = '%s:%s' % (endpoint.ip, endpoint.port) if endpoint.port else endpoint.ip
        ours = '%s:%s' % (host, port)
        mine, their_addresses = self.resolve(host), self.resolve(endpoint.ip)
        if mine is None or their_addresses is None:
            unresolved = host if mine is None else endpoint.ip
            return check(name, UNCHECKED, '%s (%s) and %s (%s.Ip/Port) cannot be compared: %s does not resolve.'
                         % (label, ours, theirs, key, unresolved))
        same_host = bool(mine & their_addresses) or (all_loopback(mine) and all_loopback(their_addresses))
        same_port = not endpoint.port or endpoint.port == port
        if same_host and same_port:
            detail = '%s %s is %s (%s.Ip/Port).' % (label, ours, theirs, key)
            if not endpoint.port:
                detail = detail[:-1] + '; DTS gives no Port, so only the host is checked.'
            return check(name, OK, detail)
        return check(name, MISMATCH, '%s points at %s, but %s is %s: set %s.login_host and %s.login_port to the task\'s %s, %s.'
                     % (label, ours, self._task(side, key, 'Ip/Port'), theirs, label, label, side, self._or_job()))

    # -- after connecting -----------------------------------------------------------------------
    def identity_check(self, source, destination):
        """Whether source and destination are two servers (or two databases of one server)."""
        labels = self.labels
        if source['server'] != destination['server']:
            return check('distinct_servers', OK, 'two servers: %s %s %s, %s %s %s.'
                         % (labels['source'], source['read_from'], source['server'], labels['destination'], destination['read_from'],
                            destination['server']))
        server = '%s %s %s' % (source['engine'], source['read_from'], source['server'])
        if source['database'] is not None and destination['database'] is not None and source['database'] != destination['database']:
            return check('distinct_servers', OK, 'one server (%s), two databases: %s %s, %s %s.'
                         % (server, labels['source'], source['database'], labels['destination'], destination['database']))
        database = ('the same database %s' % source['database'] if source['database'] is not None
                    else 'no database that tells them apart')
        return check('distinct_servers', MISMATCH, '%s (%s) and %s (%s) reach the same server (%s) and %s: point %s at the '
                     "task's destination (or %s at its source), %s."
                     % (labels['source'], source['address'], labels['destination'], destination['address'], server, database,
                        labels['destination'], labels['source'], self._or_job()))

    # -- outcome --------------------------------------------------------------------------------
    def failure(self, checks):
        """The message for the mismatches among ``checks``, or None."""
        mismatches = [item['detail'] for item in checks if item['status'] == MISMATCH]
        if not mismatches:
            return None
        return 'The unit does not match DTS task %s (region %s): %s' % (self.job.job_id, self.region, ' '.join(mismatches))


def summary(checks):
    """One line for the plan: what was checked, and every check that could not be, with why."""
    ok = [item['name'] for item in checks if item['status'] == OK]
    unchecked = ['%s (%s)' % (item['name'], item['detail'].rstrip('.')) for item in checks if item['status'] == UNCHECKED]
    line = 'unit matches the task: %s' % (', '.join(ok) or 'nothing checked')
    if unchecked:
        line += '; UNCHECKED: %s' % '; '.join(unchecked)
    return line


def resolve_host(host):
    """The addresses ``host`` resolves to, or None."""
    try:
        return set(info[4][0] for info in socket.getaddrinfo(host, None, 0, socket.SOCK_STREAM))
    except (socket.gaierror, UnicodeError, OSError):
        return None


def all_loopback(addresses):
    """A name for this machine, whichever loopback address it gives (localhost, 127.0.0.1, ::1)."""
    try:
        return bool(addresses) and all(ipaddress.ip_address(address.split('%')[0]).is_loopback for address in addresses)
    except ValueError:
        return False


# -- the module (switchover_unit_check; the window action runs it in-process) --------------------

UNIT_CHECK_SPEC = dict(
    job_id=dict(type='str', required=True),
    labels=dict(type='dict', default={}, options=dict(
        job_id=dict(type='str', default='job_id'),
        source=dict(type='str', default='source'),
        destination=dict(type='str', default='destination'),
    )),
)


def unit_check(module):
    params = module.params
    job_id = (params['job_id'] or '').strip()
    if not job_id:
        module.fail_json(msg='%s must not be empty.' % params['labels']['job_id'])
    result = dict(changed=False, checks=[], unchecked=[], summary='', statements=[], destination_statements=[], api_calls=[])

    client = module.client()
    try:
        job = client.describe_job(job_id)
    except DtsError as exc:
        module.fail_from(exc, client=client, **result)
    result.update(job=job.as_dict(), api_calls=list(client.api_calls))

    ports = dict((name, engine_class(name).default_port) for name in ENGINE_NAMES)
    unit = UnitCheck(job, client.region, params['source'], params['destination'], ports, labels=params['labels'])

    def finish(checks, **extra):
        result.update(extra, checks=checks, summary=summary(checks),
                      unchecked=[item['detail'] for item in checks if item['status'] == UNCHECKED])
        message = unit.failure(checks)
        if message:
            module.fail_json(msg=message, **result)
        return result

    checks = unit.static_checks()
    if unit.failure(checks):
        # A wrong engine or address: connecting would only add a less clear error.
        return finish(checks)

    labels = params['labels']
    names = dict((side, side if labels[side] == side else '%s (%s)' % (side, labels[side])) for side in ('source', 'destination'))
    source = module.connect_engine(params['source'], what=names['source'])
    destination = None
    engine = source
    try:
        destination = module.connect_engine(params['destination'], what=names['destination'])
        identities = {'source': source.server_identity()}
        engine = destination
        identities['destination'] = destination.server_identity()
    except Exception as exc:
        result.update(checks=checks, statements=list(source.statements),
                      destination_statements=list(destination.statements) if destination else [])
        module.fail_from(exc, engine=engine, doing='reading the identity of the server', **result)
    finally:
        source.close()
        if destination is not None:
            destination.close()
    checks.append(unit.identity_check(identities['source'], identities['destination']))
    return finish(checks, identities=identities, statements=list(source.statements), destination_statements=list(destination.statements))
