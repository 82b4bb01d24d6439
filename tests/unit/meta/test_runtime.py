"""meta/runtime.yml's action groups agree with what the modules document: group/dtsops.switchover.db
and group/dtsops.switchover.dts in module_defaults reach exactly the modules that say so."""

import importlib
import os

import yaml

ROOT = os.path.join(os.path.dirname(__file__), '..', '..', '..')
MODULES = sorted(name[:-3] for name in os.listdir(os.path.join(ROOT, 'plugins', 'modules')) if name.endswith('.py') and name != '__init__.py')


def documented_groups():
    """Group -> modules whose documentation extends attributes.action_group_<group>."""
    groups = {}
    for name in MODULES:
        module = importlib.import_module('ansible_collections.dtsops.switchover.plugins.modules.%s' % name)
        fragments = yaml.safe_load(module.DOCUMENTATION).get('extends_documentation_fragment') or []
        for fragment in fragments:
            prefix = 'dtsops.switchover.attributes.action_group_'
            if fragment.startswith(prefix):
                groups.setdefault(fragment[len(prefix):], []).append(name)
    return groups


def test_action_groups_are_the_documented_ones():
    with open(os.path.join(ROOT, 'meta', 'runtime.yml')) as handle:
        runtime = yaml.safe_load(handle)
    assert dict((group, sorted(members)) for group, members in runtime['action_groups'].items()) == documented_groups()


def test_db_group_modules_take_the_connection_options():
    """module_defaults of the db group set the connection options: each member must accept them
    (db_caught_up, which takes source and destination, is left out of the group for that)."""
    from ansible_collections.dtsops.switchover.plugins.doc_fragments.db import ModuleDocFragment
    connection = set(yaml.safe_load(ModuleDocFragment.DOCUMENTATION)['options'])
    for name in documented_groups()['db']:
        module = importlib.import_module('ansible_collections.dtsops.switchover.plugins.modules.%s' % name)
        options = set(yaml.safe_load(module.DOCUMENTATION).get('options') or {})
        fragments = yaml.safe_load(module.DOCUMENTATION).get('extends_documentation_fragment') or []
        assert 'dtsops.switchover.db' in fragments, name
        assert not connection & options, '%s redefines connection options: %s' % (name, sorted(connection & options))
    assert 'db_caught_up' not in documented_groups()['db']
