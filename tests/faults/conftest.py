"""Fixtures of the fault matrix: rehearsals per engine (reused by the scenarios that leave the
rehearsal as they found it), and the table printed at the end of the run."""

import os
import shutil
import tempfile

import pytest

from faults.driver import FaultRehearsal
from faults.scenarios import render

# DTSOPS_FAULTS=full runs every scenario on every engine (make faults FAULTS=full); by default a
# subset keeps `make test` short (docs/faults.md says which).
FULL = os.environ.get('DTSOPS_FAULTS', '') == 'full'
ROWS = []


class Table(object):
    """Rows of the fault table. They travel with the test's report (user_properties), so that
    the table also comes together when pytest-xdist runs the tests in several workers."""

    def __init__(self, node):
        self.node = node

    def append(self, outcome):
        self.node.user_properties.append(('fault_row', list(outcome.row())))


def pytest_runtest_logreport(report):
    if report.when == 'call':
        for name, value in report.user_properties:
            if name == 'fault_row':
                ROWS.append(list(value) + ['%.0f s' % report.duration])


def pytest_terminal_summary(terminalreporter):
    if ROWS:
        terminalreporter.section('fault matrix (%s)' % ('full' if FULL else 'make test subset'))
        terminalreporter.write_line(render(sorted(ROWS)))


@pytest.fixture
def table(request):
    """Outcomes appended here are printed as the fault table at the end of the run."""
    return Table(request.node)


class Pool(object):
    """One rehearsal per engine for the scenarios that abort: an abort puts the rehearsal back as
    it was (the application on the source, the forward task running), so the next scenario runs
    on it after the journal is moved aside. A scenario that leaves it otherwise drops it."""

    def __init__(self):
        self.rehearsals = {}
        self.directories = []

    def get(self, engine):
        rehearsal = self.rehearsals.get(engine)
        if rehearsal is None:
            directory = tempfile.mkdtemp(prefix='dtsops-faults-%s-' % engine)
            self.directories.append(directory)
            rehearsal = self.rehearsals[engine] = FaultRehearsal(engine, directory).up()
        return rehearsal

    def give_back(self, engine, name, reusable):
        rehearsal = self.rehearsals.get(engine)
        if rehearsal is None:
            return
        if reusable and rehearsal.outcome() == 'aborted':
            rehearsal.archive_journal(name)
        else:
            self.drop(engine)

    def drop(self, engine):
        rehearsal = self.rehearsals.pop(engine, None)
        if rehearsal is not None:
            rehearsal.down()

    def close(self):
        for engine in list(self.rehearsals):
            self.drop(engine)
        for directory in self.directories:
            shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope='session')
def pool():
    shared = Pool()
    try:
        yield shared
    finally:
        shared.close()


@pytest.fixture
def fresh(tmp_path):
    """A new rehearsal of an engine, for scenarios that complete the switchover."""
    made = []

    def make(engine, **options):
        rehearsal = FaultRehearsal(engine, str(tmp_path), **options).up()
        made.append(rehearsal)
        return rehearsal
    try:
        yield make
    finally:
        for rehearsal in made:
            rehearsal.down()
