# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Database connection options (the ``dtsops.switchover.db`` doc fragment) and the engine
registry. Modules get a connected engine from :func:`connect_engine` and never import drivers."""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import EngineError, MissingDriver


# Engines are imported only when a module asks for one, so a task pays for one driver import, not
# six. The imports are written out (not computed) because AnsiballZ packs a module's module_utils
# by reading its import statements.
def _mysql():
    from ansible_collections.dtsops.switchover.plugins.module_utils.engines.mysql import MySQLEngine
    return MySQLEngine


def _postgresql():
    from ansible_collections.dtsops.switchover.plugins.module_utils.engines.postgresql import PostgreSQLEngine
    return PostgreSQLEngine


def _sqlserver():
    from ansible_collections.dtsops.switchover.plugins.module_utils.engines.sqlserver import SQLServerEngine
    return SQLServerEngine


def _oracle():
    from ansible_collections.dtsops.switchover.plugins.module_utils.engines.oracle import OracleEngine
    return OracleEngine


def _redis():
    from ansible_collections.dtsops.switchover.plugins.module_utils.engines.redis import RedisEngine
    return RedisEngine


def _mongodb():
    from ansible_collections.dtsops.switchover.plugins.module_utils.engines.mongodb import MongoDBEngine
    return MongoDBEngine


# engine option value -> loader returning the Engine class (tests may map a name to a class).
ENGINES = {
    'mysql': _mysql,
    'postgresql': _postgresql,
    'sqlserver': _sqlserver,
    'oracle': _oracle,
    'redis': _redis,
    'mongodb': _mongodb,
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
        # Read only by switchover_unit_check; accepted everywhere so one connection dict serves all.
        instance_id=dict(type='str'),
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


def engine_class(name):
    """The Engine class registered for ``name``."""
    entry = ENGINES[name]
    return entry if isinstance(entry, type) else entry()


def connect_engine(module, params=None, check_mode=None, what='database'):
    """Build and connect the engine named by ``params['engine']``; fail the module cleanly on a
    missing driver or a connection problem. ``what`` names the server in messages."""
    params = connection_params(module.params if params is None else params)
    engine = engine_class(params['engine'])(params, check_mode=module.check_mode if check_mode is None else check_mode)
    try:
        engine.connect()
    except MissingDriver as exc:
        module.fail_json(msg=missing_required_lib(exc.package), exception=exc.reason)
    except EngineError as exc:
        module.fail_json(msg='Cannot connect to the %s %s at %s: %s' % (what, params['engine'], engine.address, exc))
    except Exception as exc:  # a driver error the engine did not map: still one message, no traceback on screen
        engine.close()
        module.fail_json(msg='Cannot connect to the %s %s at %s: %s' % (what, params['engine'], engine.address, describe_exception(exc)),
                         exception=traceback.format_exc())
    return engine


def describe_exception(exc):
    """'message' for our own errors, 'Type: message' for anything else."""
    if isinstance(exc, EngineError):
        return str(exc)
    text = str(exc).strip()
    return '%s: %s' % (type(exc).__name__, text) if text else type(exc).__name__


def fail_engine(module, exc, doing, engine=None, hint=None, **result):
    """Fail the module for an error raised while ``doing`` something (e.g. 'listing sessions').

    EngineError messages are made for users and shown as they are; anything else is a driver
    error the engine did not map, shown with its type and with the traceback kept for -vvv.
    ``hint`` (a sentence) follows the message. The statements the engine ran so far are always
    returned, so the user sees what happened."""
    if engine is not None:
        result.setdefault('statements', list(engine.statements))
    if not isinstance(exc, EngineError):
        result['exception'] = traceback.format_exc()
    where = ' on the %s server at %s' % (engine.name or 'database', engine.address) if engine is not None else ''
    message = 'Error while %s%s: %s' % (doing, where, describe_exception(exc))
    if hint:
        message = '%s. %s' % (message.rstrip('.'), hint)
    module.fail_json(msg=message, **result)
