# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redis: the keys of a pattern in SCAN batches; the server hashes each key's DUMP (a Lua script
returns one SHA1 per key, not the values); the destination's keys are scanned too, for extras.

A DUMP also encodes how the value is stored (listpack or hashtable) and the RDB version, so two
servers may dump the same content differently; a key whose digests differ is read on both sides
and compared by content before it is called changed. TTLs are not compared (they move)."""

from __future__ import annotations

import time

from ansible_collections.dtsops.switchover.plugins.module_utils.compare import ObjectResult
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import EngineError

DIGEST_SCRIPT = """local out = {}
for i, key in ipairs(KEYS) do
  local dump = redis.call('DUMP', key)
  if dump then out[i] = redis.sha1hex(dump) else out[i] = '' end
end
return out"""
EXISTS_SCRIPT = """local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('EXISTS', key) end
return out"""

# How each type's content is read for the content check, in an order that does not depend on
# the encoding.
CONTENT = {
    'string': (('GET',), False),
    'hash': (('HGETALL',), True),
    'set': (('SMEMBERS',), True),
    'zset': (('ZRANGE', '0', '-1', 'WITHSCORES'), False),
    'list': (('LRANGE', '0', '-1'), False),
    'stream': (('XRANGE', '-', '+'), False),
}


class RedisServer(object):
    """One side: runs commands through the engine's connection, each shape recorded once."""

    def __init__(self, engine):
        self.engine = engine

    def run(self, shown, *args):
        self.engine.log(shown)
        try:
            return self.engine.conn.execute_command(*args)
        except Exception as exc:  # the driver's error, with the command that failed
            raise EngineError(self.engine.scrub('%s failed on %s: %s (login_user needs +scan, +eval and +dump)'
                                                % (shown, self.engine.address, ' '.join(str(exc).split()))))

    def scan(self, pattern, count):
        """Every key matching ``pattern``, one SCAN batch at a time."""
        cursor = '0'
        while True:
            reply = self.run('SCAN ? MATCH %s COUNT %d' % (pattern, count), 'SCAN', cursor, 'MATCH', pattern, 'COUNT', count)
            cursor, keys = str(reply[0]), list(reply[1])
            yield keys
            if cursor == '0':
                return

    def digests(self, keys):
        """{key: SHA1 of its DUMP, '' when it does not exist}, computed by the server."""
        if not keys:
            return {}
        reply = self.run('EVAL <SHA1 of DUMP per key> %d <keys>' % len(keys), 'EVAL', DIGEST_SCRIPT, len(keys), *keys)
        return dict(zip(keys, reply))

    def exists(self, keys):
        """{key: whether it exists}."""
        if not keys:
            return {}
        reply = self.run('EVAL <EXISTS per key> %d <keys>' % len(keys), 'EVAL', EXISTS_SCRIPT, len(keys), *keys)
        return dict((key, bool(int(flag))) for key, flag in zip(keys, reply))

    def content(self, key):
        """(type, content) of one key, independent of its encoding."""
        kind = self.run('TYPE <key>', 'TYPE', key)
        kind = kind.decode() if isinstance(kind, bytes) else str(kind)
        if kind not in CONTENT:
            return kind, None
        command, unordered = CONTENT[kind]
        value = self.run('%s <key>%s' % (command[0], ''.join(' ' + a for a in command[1:])), command[0], key, *command[1:])
        if kind == 'hash':
            value = sorted(zip(value[0::2], value[1::2]))
        elif unordered:
            value = sorted(value)
        return kind, value


def _map(key, from_pattern, to_pattern):
    """The name of a key under ``to_pattern``, when the two patterns have other prefixes."""
    if from_pattern == to_pattern:
        return key
    return to_pattern.rstrip('*') + key[len(from_pattern.rstrip('*')):]


class RedisCompare(object):
    patterns_are_objects = True

    def __init__(self, source, destination, method='checksum', chunk_size=1000, max_differences=10, budget=None, **dummy):
        self.source = RedisServer(source)
        self.destination = RedisServer(destination)
        self.method = method
        self.chunk_size = max(1, min(chunk_size, 10000))
        self.max_differences = max_differences
        self.budget = budget

    def compare(self, pattern, destination_pattern):
        result = ObjectResult(pattern, destination_pattern, self.method, self.max_differences)
        started = time.monotonic()
        try:
            if self.method == 'count':
                result.source_count = self._count(self.source, pattern)
                result.destination_count = self._count(self.destination, destination_pattern)
                result.rows_read = result.source_count + result.destination_count
                result.count_differs = result.source_count != result.destination_count
            else:
                self._checksum(result, pattern, destination_pattern)
        finally:
            result.seconds = time.monotonic() - started
        return result

    def _count(self, server, pattern):
        seen = set()
        for keys in server.scan(pattern, self.chunk_size):
            seen.update(keys)
            self.budget.spend(len(keys))
        return len(seen)

    def _checksum(self, result, pattern, destination_pattern):
        seen = set()
        for keys in self.source.scan(pattern, self.chunk_size):
            keys = [key for key in keys if key not in seen]   # SCAN may return a key twice
            seen.update(keys)
            if not keys:
                continue
            mapped = [_map(key, pattern, destination_pattern) for key in keys]
            source_digests = self.source.digests(keys)
            destination_digests = self.destination.digests(mapped)
            result.chunks += 1
            self.budget.spend(2 * len(keys))
            result.rows_read += 2 * len(keys)
            differing = False
            for key, other in zip(keys, mapped):
                if not source_digests[key]:
                    seen.discard(key)          # deleted since the scan
                    continue
                if not destination_digests[other]:
                    differing = True
                    result.add('missing', (key,))
                elif source_digests[key] != destination_digests[other] and self.source.content(key) != self.destination.content(other):
                    differing = True
                    result.add('changed', (key,))
            result.differing_chunks += differing
        result.source_count = len(seen)
        self._extras(result, pattern, destination_pattern)

    def _extras(self, result, pattern, destination_pattern):
        seen = set()
        for keys in self.destination.scan(destination_pattern, self.chunk_size):
            keys = [key for key in keys if key not in seen]
            seen.update(keys)
            back = [_map(key, destination_pattern, pattern) for key in keys]
            present = self.source.exists(back)
            self.budget.spend(len(keys))
            result.rows_read += len(keys)
            for key, original in zip(keys, back):
                if not present.get(original):
                    result.add('extra', (key,))
        result.destination_count = len(seen)
        result.count_differs = result.source_count != result.destination_count


def comparer(source, destination, **options):
    return RedisCompare(source, destination, **options)
