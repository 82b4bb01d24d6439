"""An engine that keeps documents in memory, for the journal's store option (the engines' own
document methods are tested against real servers and the driver fakes)."""

import json

from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import Engine, EngineError


class MemoryEngine(Engine):
    """A document store in memory behind the Engine interface, with the failures a real one has."""

    name = 'mysql'
    documents = {}       # (object, key) -> JSON text, shared by the engines of a test
    objects = set()
    fail = {}            # method name -> exception to raise

    @classmethod
    def reset(cls, objects=()):
        """A new, empty server with ``objects`` (table names) in it."""
        cls.documents, cls.objects, cls.fail = {}, set(objects), {}

    def connect(self):
        if 'connect' in self.fail:
            raise self.fail['connect']
        self.conn = object()

    def close(self):
        self.conn = None

    def _maybe_fail(self, what):
        if what in self.fail:
            raise self.fail[what]

    def ensure_document_object(self, name, create=False):
        self._maybe_fail('ensure')
        if name in self.objects:
            return False
        if not create:
            raise EngineError('document table %s does not exist on %s: create it (create: true)' % (name, self.address))
        self.record('CREATE TABLE %s' % name)
        if not self.check_mode:
            self.objects.add(name)
        return True

    def save_document(self, name, key, document):
        self._maybe_fail('save')
        self.record('UPSERT %s %s' % (name, key))
        if not self.check_mode:
            self.documents[(name, key)] = json.dumps(document)

    def load_document(self, name, key):
        self._maybe_fail('load')
        self.record('SELECT %s %s' % (name, key))
        text = self.documents.get((name, key))
        return None if text is None else json.loads(text)

    def delete_document(self, name, key):
        self.record('DELETE %s %s' % (name, key))
        if not self.check_mode:
            self.documents.pop((name, key), None)

    def server_info(self):
        return {'engine': 'mysql', 'flavour': 'mariadb', 'version': '10.11.6'}

    def _unused(self, *args, **kwargs):
        raise AssertionError('the journal store uses only the document methods')

    sessions = end_sessions = fence = unfence = fence_state = ensure_token_object = write_token = read_token = _unused
