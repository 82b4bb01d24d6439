# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Database connection options (the ``dtsops.switchover.db`` doc fragment) and the engine
registry. Modules get a connected engine from :func:`connect_engine` and never import drivers."""

from __future__ import annotations

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import EngineError, MissingDriver
from ansible_collections.dtsops.switchover.plugins.module_utils.engines import (
    mongodb,
    mysql,
    oracle,
    postgresql,
    redis,
    sqlserver,
)

ENGINES = {
    'mysql': mysql.MySQLEngine,
    'postgresql': postgresql.PostgreSQLEngine,
    'sqlserver': sqlserver.SQLServerEngine,
    'oracle': oracle.OracleEngine,
    'redis': redis.RedisEngine,
    'mongodb': mongodb.MongoDBEngine,
}
ENGINE_NAMES = sorted(ENGINES)
SSL_MODES = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full']


def db_connection_spec():
    """The connection options, as used at top level and inside ``source``/``destination``."""
    return dict(
        engine=dict(type='str', required=True, choices=ENGINE_NAMES),
        login_host=dict(type='str', default='localhost'),
        login_port=dict(type='int'),
        login_user=dict(type='str'),
        login_password=dict(type='str', no_log=True),
        login_db=dict(type='str'),
        ssl_mode=dict(type='str', default='prefer', choices=SSL_MODES),
        ca_cert=dict(type='path'),
        client_cert=dict(type='path'),
        client_key=dict(type='path', no_log=False),
        connect_timeout=dict(type='int', default=10),
    )


def db_argument_spec():
    """Top-level connection options for modules that talk to one database."""
    return db_connection_spec()


def db_pair_argument_spec():
    """``source`` and ``destination`` for modules that talk to two databases."""
    return dict(
        source=dict(type='dict', required=True, options=db_connection_spec()),
        destination=dict(type='dict', required=True, options=db_connection_spec()),
    )


def connection_params(params):
    """The connection options out of a module's params (or a source/destination dict)."""
    return dict((key, params.get(key)) for key in db_connection_spec())


def connect_engine(module, params=None, check_mode=None, what='database'):
    """Build and connect the engine named by ``params['engine']``; fail the module cleanly on a
    missing driver or a connection problem. ``what`` names the server in messages."""
    params = connection_params(module.params if params is None else params)
    engine_class = ENGINES[params['engine']]
    engine = engine_class(params, check_mode=module.check_mode if check_mode is None else check_mode)
    try:
        engine.connect()
    except MissingDriver as exc:
        module.fail_json(msg=missing_required_lib(exc.package), exception=exc.reason)
    except EngineError as exc:
        module.fail_json(msg='Cannot connect to the %s %s at %s: %s' % (what, params['engine'], engine.address, exc))
    return engine
