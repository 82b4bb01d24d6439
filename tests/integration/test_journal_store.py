"""switchover_journal with store, through ansible-playbook (its action plugin, in-process engines)
against real MariaDB, PostgreSQL and Redis servers: a controller that lost its disk resumes the
run from the database. Every test reads the server itself, not only what the task reports."""

import json
import os
import secrets

import pytest

import harness

KINDS = ('mariadb', 'postgresql', 'redis')


def play(tasks, **kwargs):
    return harness.run_playbook([{'name': 'journal', 'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}], **kwargs)


def journal_task(name, path, operation, store, **args):
    return {'name': name, 'dtsops.switchover.switchover_journal': dict(path=path, operation=operation, store=store, **args),
            'register': name.replace(' ', '_')}


class Store(object):
    """A journal object on one real server: its store option, and what the server holds."""

    def __init__(self, kind, server):
        self.kind = kind
        self.server = server
        self.name = 'journal_%s' % secrets.token_hex(4)
        self.object = {'mariadb': '%s.journal', 'postgresql': 'public.%s', 'redis': '%s'}[kind] % self.name
        if kind == 'mariadb':
            server.create_database(self.name)

    @property
    def option(self):
        return dict(self.server.params, object=self.object, create=True)

    def stored(self, key):
        """The journal the server holds under ``key``, read with the server's own client."""
        if self.kind == 'redis':
            text = self.server.command('GET', '%s:%s' % (self.object, key))
        else:
            rows = self.server.execute('SELECT document FROM %s WHERE doc_key = %%s' % self.object, (key,))
            text = rows[0][0] if rows else None
        return None if text is None else json.loads(text)

    def drop(self):
        if self.kind == 'mariadb':
            self.server.drop_database(self.name)
        elif self.kind == 'postgresql':
            self.server.execute('DROP TABLE IF EXISTS %s' % self.object)
        else:
            keys = self.server.command('KEYS', '%s:*' % self.object)
            if keys:
                self.server.command('DEL', *keys)


@pytest.fixture(params=KINDS)
def store(request):
    server = request.getfixturevalue({'mariadb': 'mariadb', 'postgresql': 'postgresql', 'redis': 'redis_server'}[request.param])
    store = Store(request.param, server)
    yield store
    store.drop()


def test_a_controller_that_lost_its_disk_resumes_the_run_from_the_database(store, tmp_path):
    path = str(tmp_path / 'orders.json')
    first = play([
        journal_task('begin', path, 'begin', store.option, unit='orders'),
        journal_task('fence done', path, 'phase', store.option, phase='fence', status='done',
                     data={'fence': {'engine': 'mysql', 'scope': 'instance', 'changes': []}, 'reverse_job_id': 'r-1'}),
    ])
    assert first.rc == 0, first
    assert first.task('begin')['how'] == 'new' and first.task('begin')['loaded_from'] is None
    assert store.stored('orders/orders.json') == json.load(open(path))
    assert any('<document: ' in statement for statement in first.task('fence done')['statements'])

    os.unlink(path)  # a new AWX job: the controller's disk is gone, the database is not
    second = play([
        journal_task('begin', path, 'begin', store.option, unit='orders'),
        journal_task('read', path, 'read', store.option),
    ])
    assert second.rc == 0, second
    begun = second.task('begin')
    assert begun['how'] == 'resumed' and begun['loaded_from'] == 'store' and begun['changed'] is True
    journal = begun['journal']
    assert journal['attempt'] == 2 and journal['phases']['fence']['status'] == 'done'
    assert journal['data']['reverse_job_id'] == 'r-1' and journal['run_id'] == first.task('fence done')['journal']['run_id']
    # The file is back and the store holds the same resumed journal.
    assert json.load(open(path)) == journal == store.stored('orders/orders.json')
    assert second.task('read')['loaded_from'] == 'file'


def test_archive_moves_the_stored_journal_so_the_next_run_starts_afresh(store, tmp_path):
    path = str(tmp_path / 'orders.json')
    run = play([
        journal_task('begin', path, 'begin', store.option, unit='orders'),
        journal_task('finish', path, 'finish', store.option, outcome='completed'),
        journal_task('archive', path, 'archive', store.option),
    ])
    assert run.rc == 0, run
    run_id = run.task('finish')['journal']['run_id']
    assert store.stored('orders/orders.json') is None
    assert store.stored('orders/orders.json.%s' % run_id)['outcome'] == 'completed'
    again = play([journal_task('begin', path, 'begin', store.option, unit='orders')])
    assert again.task('begin')['how'] == 'new' and again.task('begin')['journal']['run_id'] != run_id


@pytest.mark.parametrize('kind', ['mariadb', 'postgresql'])
def test_a_store_that_refuses_fails_the_task_clearly_without_the_password(request, kind, tmp_path):
    server = request.getfixturevalue(kind)
    path = str(tmp_path / 'orders.json')
    wrong = dict(server.params, login_password=server.password + '-wrong', object='public.journal', create=True)
    run = play([journal_task('begin', path, 'begin', wrong, unit='orders')], verbosity=3)
    assert run.rc != 0
    message = run.task('begin')['msg']
    engine = server.params['engine']
    assert message.startswith('Cannot connect to the journal store (%s at 127.0.0.1:%s, public.journal): access denied: '
                              'check login_user and login_password' % (engine, server.port)), message
    assert server.password not in run.stdout + run.stderr
    assert not os.path.exists(path)
