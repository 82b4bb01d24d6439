# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""MongoDB: the server's ``dbHash`` (an MD5 per collection) decides whether a collection differs;
the counts come from ``count``. A collection whose hashes differ is narrowed by reading it in
``_id`` order, one chunk of documents per ``find`` on each side, comparing a digest per document
(its canonical extended JSON, so key order and types count, as in BSON). ``dbHash`` does not run
on mongos: a sharded collection is walked in chunks directly."""

from __future__ import annotations

import hashlib
import time

from ansible_collections.dtsops.switchover.plugins.module_utils.compare import ObjectResult, split_name
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import EngineError
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.mongodb import to_json

COMMAND_NOT_FOUND = 59


class MongoServer(object):
    """One side: commands through the engine's client, each shape recorded once."""

    def __init__(self, engine):
        self.engine = engine

    def run(self, db, command, shown=None):
        self.engine.log(shown or self.engine.render(db, command))
        try:
            return self.engine.conn[db].command(command)
        except Exception as exc:  # the driver's error, with the command that failed
            error = EngineError(self.engine.scrub('%s failed on %s: %s' % (
                shown or self.engine.render(db, command), self.engine.address, ' '.join(str(exc).split()))))
            error.code = getattr(exc, 'code', None)
            raise error

    def exists(self, db, collection):
        reply = self.run(db, {'listCollections': 1, 'filter': {'name': collection}, 'nameOnly': True})
        return bool((reply.get('cursor') or {}).get('firstBatch'))

    def names(self, db):
        reply = self.run(db, {'listCollections': 1, 'filter': {'type': 'collection'}, 'nameOnly': True})
        return sorted(item['name'] for item in (reply.get('cursor') or {}).get('firstBatch') or ()
                      if not item['name'].startswith('system.'))

    def count(self, db, collection):
        return int(self.run(db, {'count': collection}).get('n', 0))

    def db_hash(self, db, collection):
        """The server's MD5 of the collection, or None where dbHash does not run (mongos)."""
        try:
            reply = self.run(db, {'dbHash': 1, 'collections': [collection]})
        except EngineError as exc:
            if getattr(exc, 'code', None) == COMMAND_NOT_FOUND:
                return None
            raise
        return (reply.get('collections') or {}).get(collection)

    def documents(self, db, collection, lower, upper, limit):
        """Documents with lower < _id <= upper in _id order (at most ``limit``), as {_id: digest}."""
        bounds = {}
        if lower is not None:
            bounds['$gt'] = lower
        if upper is not None:
            bounds['$lte'] = upper
        command = {'find': collection, 'filter': {'_id': bounds} if bounds else {}, 'sort': {'_id': 1}}
        if limit:
            command.update(limit=limit, batchSize=limit)
        shown = '%s.runCommand({"find": "%s", "filter": {"_id": {%s}}, "sort": {"_id": 1}%s})' % (
            db, collection, ', '.join('"%s": ?' % op for op in sorted(bounds)), ', "limit": %d' % limit if limit else '')
        reply = self.run(db, command, shown=shown)
        cursor = reply.get('cursor') or {}
        batch = list(cursor.get('firstBatch') or ())
        while cursor.get('id'):
            cursor = self.run(db, {'getMore': cursor['id'], 'collection': collection}, shown='%s.runCommand({"getMore": ?})' % db)
            cursor = cursor.get('cursor') or {}
            batch.extend(cursor.get('nextBatch') or ())
        return [(document['_id'], hashlib.md5(to_json(document).encode('utf-8')).hexdigest()) for document in batch]


class MongoCompare(object):

    def __init__(self, source, destination, method='checksum', chunk_size=10000, max_differences=10, budget=None, **dummy):
        self.source = MongoServer(source)
        self.destination = MongoServer(destination)
        self.method = method
        self.chunk_size = chunk_size
        self.max_differences = max_differences
        self.budget = budget

    def expand(self, pattern):
        db = split_name(pattern, (2,), 'MongoDB collection (database.collection)')[0]
        return ['%s.%s' % (db, name) for name in self.source.names(db)]

    @staticmethod
    def _split(name):
        db, dot, collection = name.partition('.')
        if not dot or not db or not collection:
            raise EngineError('MongoDB collection %r: name it as database.collection' % name)
        return db, collection

    def compare(self, name, destination_name):
        result = ObjectResult(name, destination_name, self.method, self.max_differences)
        started = time.monotonic()
        try:
            self._compare(result, self._split(name), self._split(destination_name))
        finally:
            result.seconds = time.monotonic() - started
        return result

    def _compare(self, result, source_name, destination_name):
        if not self.source.exists(*source_name):
            raise EngineError('collection %s does not exist on the source %s: check objects' % (result.name, self.source.engine.address))
        result.source_count = self.source.count(*source_name)
        if not self.destination.exists(*destination_name):
            result.object_kind = 'missing'
            result.note = 'collection %s does not exist on the destination' % result.destination_name
            return
        result.destination_count = self.destination.count(*destination_name)
        result.count_differs = result.source_count != result.destination_count
        self.budget.spend(0)
        if self.method == 'count':
            return
        source_hash = self.source.db_hash(*source_name)
        destination_hash = self.destination.db_hash(*destination_name)
        result.chunks = 1
        if source_hash is not None and source_hash == destination_hash and not result.count_differs:
            result.rows_read = result.source_count + result.destination_count
            self.budget.spend(result.rows_read)
            return
        self._walk(result, source_name, destination_name)

    def _walk(self, result, source_name, destination_name):
        result.chunks = 0
        lower = None
        while not result.full:
            source_docs = self.source.documents(source_name[0], source_name[1], lower, None, self.chunk_size)
            upper = source_docs[-1][0] if len(source_docs) == self.chunk_size else None
            destination_docs = self.destination.documents(destination_name[0], destination_name[1], lower, upper, 0)
            result.chunks += 1
            result.rows_read += len(source_docs) + len(destination_docs)
            self.budget.spend(len(source_docs) + len(destination_docs))
            source_map, destination_map = dict(source_docs), dict(destination_docs)
            differing = False
            for key, digest in source_docs:
                if key not in destination_map:
                    result.add('missing', (key,))
                elif destination_map[key] != digest:
                    result.add('changed', (key,))
                else:
                    continue
                differing = True
            for key, dummy in destination_docs:
                if key not in source_map:
                    result.add('extra', (key,))
                    differing = True
            result.differing_chunks += differing
            if upper is None:
                break
            lower = upper


def comparer(source, destination, **options):
    return MongoCompare(source, destination, **options)
